package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/e2e/platform"
)

func TestCommandLine(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command is a usage error", nil, exitUsage, "kindcheck run"},
		{"an unknown command is a usage error", []string{"bogus"}, exitUsage, `unknown command "bogus"`},
		{"help lists the commands", []string{"help"}, exitOK, "register-client"},
		{"a command's --help lists its flags", []string{"run", "--help"}, exitOK, "--converge-timeout"},
		{"a required flag is checked", []string{"run", "--admin-url", "http://127.0.0.1:1"}, exitUsage, "--hub-kubeconfig is required"},
		{"a member needs NAME=KUBECONFIG", []string{"seed", "--member", "member-1"}, exitUsage, "want NAME=KUBECONFIG"},
		{"seed needs a member", []string{"seed"}, exitUsage, "at least one --member"},
		{"stray arguments are refused", []string{"ca", "--admin-url", "x", "--out", "y", "extra"}, exitUsage, "unexpected arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var stdout, stderr bytes.Buffer
			g.Expect(run(context.Background(), tc.args, &stdout, &stderr)).To(Equal(tc.code), stderr.String())
			g.Expect(stdout.String() + stderr.String()).To(ContainSubstring(tc.want))
		})
	}
}

// TestSimulatorCommands fetches the CA and registers a client through a simulator's admin
// API, as run.sh does with the simulator in the hub kind cluster.
func TestSimulatorCommands(t *testing.T) {
	g := NewWithT(t)
	sim := platform.StartForTest(t, platform.Options{})
	admin := httptest.NewServer(sim.AdminHandler())
	t.Cleanup(admin.Close)
	dir := t.TempDir()
	ctx := context.Background()

	var stdout, stderr bytes.Buffer
	caFile := filepath.Join(dir, "ca.crt")
	g.Expect(run(ctx, []string{"ca", "--admin-url", admin.URL, "--out", caFile}, &stdout, &stderr)).To(Equal(exitOK), stderr.String())
	ca, err := os.ReadFile(caFile)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ca).To(Equal(sim.CACertPEM()))

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	g.Expect(err).NotTo(HaveOccurred())
	keyFile := filepath.Join(dir, "public-key.pem")
	g.Expect(os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)).To(Succeed())
	g.Expect(run(ctx, []string{"register-client", "--admin-url", admin.URL, "--client-id", "kind-e2e-member-1", "--public-key", keyFile},
		&stdout, &stderr)).To(Equal(exitOK), stderr.String())
	g.Expect(stdout.String()).To(ContainSubstring("registered platform client kind-e2e-member-1"))

	g.Expect(os.WriteFile(keyFile, []byte("not a key"), 0o600)).To(Succeed())
	stderr.Reset()
	g.Expect(run(ctx, []string{"register-client", "--admin-url", admin.URL, "--client-id", "x", "--public-key", keyFile},
		&stdout, &stderr)).To(Equal(exitFail))
	g.Expect(stderr.String()).To(ContainSubstring("400"), "the simulator's refusal is reported")
}
