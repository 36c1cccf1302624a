package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/obsyk/obsyk-hub/auth"
)

func TestKeygen(t *testing.T) {
	cases := []struct {
		name          string
		args          []string
		wantClientID  string
		wantName      string
		wantNamespace string
	}{
		{name: "without a client id the manifest holds a placeholder", wantClientID: clientIDPlaceholder,
			wantName: "obsyk-credentials", wantNamespace: "obsyk-system"},
		{name: "a given client id, name and namespace go into the manifest",
			args:         []string{"--client-id", "client-123", "--secret-name", "platform-a", "--namespace", "team-a"},
			wantClientID: "client-123", wantName: "platform-a", wantNamespace: "team-a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dir := filepath.Join(t.TempDir(), "out") // created by keygen
			var out, errOut bytes.Buffer
			code := run(append([]string{"keygen", "--out-dir", dir}, tc.args...), &out, &errOut)
			g.Expect(code).To(Equal(0), errOut.String())
			g.Expect(errOut.String()).To(BeEmpty())

			keyPath := filepath.Join(dir, privateKeyFile)
			secretPath := filepath.Join(dir, credentialsSecretFile)
			for _, p := range []string{keyPath, secretPath} {
				info, err := os.Stat(p)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)), p)
			}

			keyPEM, err := os.ReadFile(keyPath)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = auth.New(auth.Options{PlatformURL: "https://x", ClientID: "id", PrivateKeyPEM: keyPEM})
			g.Expect(err).NotTo(HaveOccurred(), "auth accepts the generated key")

			manifest, err := os.ReadFile(secretPath)
			g.Expect(err).NotTo(HaveOccurred())
			var secret corev1.Secret
			g.Expect(yaml.UnmarshalStrict(manifest, &secret)).To(Succeed())
			g.Expect(secret.APIVersion).To(Equal("v1"))
			g.Expect(secret.Kind).To(Equal("Secret"))
			g.Expect(secret.Name).To(Equal(tc.wantName))
			g.Expect(secret.Namespace).To(Equal(tc.wantNamespace))
			g.Expect(secret.StringData).To(HaveLen(2))
			g.Expect(secret.StringData).To(HaveKeyWithValue("client_id", tc.wantClientID))
			g.Expect(secret.StringData).To(HaveKeyWithValue("private_key", string(keyPEM)))
			_, err = auth.New(auth.Options{PlatformURL: "https://x", ClientID: secret.StringData["client_id"], PrivateKeyPEM: []byte(secret.StringData["private_key"])})
			g.Expect(err).NotTo(HaveOccurred(), "auth accepts the manifest's credentials")
			if tc.wantClientID == clientIDPlaceholder {
				g.Expect(string(manifest)).To(ContainSubstring("# Replace " + clientIDPlaceholder))
				g.Expect(out.String()).To(ContainSubstring("replace " + clientIDPlaceholder))
			}

			// stdout: the matching public key, and nothing of the private key.
			stdout := out.String()
			g.Expect(stdout).NotTo(ContainSubstring("PRIVATE KEY"))
			privBlock, _ := pem.Decode(keyPEM)
			g.Expect(privBlock).NotTo(BeNil())
			g.Expect(stdout).NotTo(ContainSubstring(strings.Split(string(keyPEM), "\n")[1]))
			start := strings.Index(stdout, "-----BEGIN PUBLIC KEY-----")
			g.Expect(start).To(BeNumerically(">=", 0), stdout)
			pubBlock, _ := pem.Decode([]byte(stdout[start:]))
			g.Expect(pubBlock).NotTo(BeNil())
			pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
			g.Expect(err).NotTo(HaveOccurred())
			priv, err := x509.ParsePKCS8PrivateKey(privBlock.Bytes)
			g.Expect(err).NotTo(HaveOccurred())
			ecPub, ok := pub.(*ecdsa.PublicKey)
			g.Expect(ok).To(BeTrue())
			g.Expect(ecPub.Curve).To(Equal(elliptic.P256()))
			g.Expect(priv.(*ecdsa.PrivateKey).PublicKey.Equal(ecPub)).To(BeTrue(), "the printed public key matches the private key")
		})
	}
}

func TestKeygenRefusesToOverwrite(t *testing.T) {
	cases := []struct {
		name     string
		existing string
	}{
		{name: "an existing private key is not overwritten", existing: privateKeyFile},
		{name: "an existing manifest is not overwritten", existing: credentialsSecretFile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dir := t.TempDir()
			existing := filepath.Join(dir, tc.existing)
			g.Expect(os.WriteFile(existing, []byte("keep me"), 0o600)).To(Succeed())

			var out, errOut bytes.Buffer
			g.Expect(run([]string{"keygen", "--out-dir", dir}, &out, &errOut)).To(Equal(1))
			g.Expect(errOut.String()).To(ContainSubstring(existing + " already exists; refusing to overwrite it"))
			g.Expect(out.String()).To(BeEmpty())

			kept, err := os.ReadFile(existing)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(kept)).To(Equal("keep me"))
			entries, err := os.ReadDir(dir)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(entries).To(HaveLen(1), "nothing else was written")
		})
	}
}
