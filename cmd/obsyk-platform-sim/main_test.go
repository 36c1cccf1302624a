package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/e2e/platform"
)

// syncBuffer is a bytes.Buffer safe for the command's writer and the test's reader.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeKey(t *testing.T, dir, name string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return key, path
}

func TestRunServesThePlatformAndTheAdminAPI(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	key, pubPath := writeKey(t, dir, "cl_bin.pub.pem")
	caPath := filepath.Join(dir, "ca.pem")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--client", "cl_bin=" + pubPath, "--ca-out", caPath, "--log-level", "debug", "--token-lifetime", "10m"}, &stdout, &stderr)
	}()

	lineRe := regexp.MustCompile(`(?m)^platform-url=(\S+)\nadmin-url=(\S+)$`)
	g.Eventually(stdout.String).WithTimeout(10 * time.Second).Should(MatchRegexp(lineRe.String()))
	m := lineRe.FindStringSubmatch(stdout.String())
	platformURL, adminURL := m[1], m[2]
	g.Expect(platformURL).To(HavePrefix("https://127.0.0.1:"))

	caPEM, err := os.ReadFile(caPath)
	g.Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(caPEM)).To(BeTrue())
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)

	// The JWT-bearer grant with the key registered by --client.
	assertion, err := platform.SignAssertion(key, "cl_bin", platformURL, time.Now())
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := client.PostForm(platformURL+platform.PathToken, url.Values{"assertion": {assertion}, "grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}})
	g.Expect(err).NotTo(HaveOccurred())
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(json.NewDecoder(resp.Body).Decode(&tok)).To(Succeed())
	resp.Body.Close()
	g.Expect(tok.ExpiresIn).To(Equal(600))

	post := func(path, body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, platformURL+path, strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := client.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	admin := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, adminURL+path, strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		g.Expect(err).NotTo(HaveOccurred())
		return resp.StatusCode, string(b)
	}

	snapshot := `{"cluster_uid":"c-bin","cluster_name":"bin","namespaces":[{"uid":"ns1","name":"shop","k8s_created_at":"2025-11-20T14:03:11Z"}],` +
		`"pods":[],"services":[],"nodes":[],"deployments":[],"statefulsets":[],"daemonsets":[],"jobs":[],"cronjobs":[],` +
		`"ingresses":[],"network_policies":[],"configmaps":[],"secrets":[],"pvcs":[],"service_accounts":[],"roles":[],` +
		`"cluster_roles":[],"role_bindings":[],"cluster_role_bindings":[],"events":[]}`
	g.Expect(post(platform.PathSnapshot, snapshot)).To(Equal(http.StatusOK))
	g.Expect(post(platform.PathHeartbeat, `{"cluster_uid":"c-bin","agent_version":"v1"}`)).To(Equal(http.StatusOK))

	code, body := admin("GET", "/clusters", "")
	g.Expect(code).To(Equal(200))
	g.Expect(body).To(MatchJSON(`["c-bin"]`))

	code, body = admin("GET", "/clusters/c-bin", "")
	g.Expect(code).To(Equal(200))
	var cs platform.ClusterState
	g.Expect(json.Unmarshal([]byte(body), &cs)).To(Succeed())
	g.Expect(cs.ClusterName).To(Equal("bin"))
	g.Expect(cs.AgentVersion).To(Equal("v1"))
	g.Expect(cs.Objects["Namespace"]).To(HaveKey("ns1"))

	code, body = admin("GET", "/stats", "")
	g.Expect(code).To(Equal(200))
	var st platform.Stats
	g.Expect(json.Unmarshal([]byte(body), &st)).To(Succeed())
	g.Expect(st.Total(platform.EndpointHeartbeat, 200)).To(Equal(1))
	g.Expect(st.Clients["cl_bin"].TokensIssued).To(Equal(1))

	code, body = admin("GET", "/requests", "")
	g.Expect(code).To(Equal(200))
	var reqs []platform.RequestRecord
	g.Expect(json.Unmarshal([]byte(body), &reqs)).To(Succeed())
	g.Expect(reqs).To(HaveLen(3))

	// Faults through the admin API.
	code, body = admin("POST", "/faults", `{"mode":"status","status":503,"count":1}`)
	g.Expect(code).To(Equal(200), body)
	g.Expect(post(platform.PathHeartbeat, `{"cluster_uid":"c-bin"}`)).To(Equal(http.StatusServiceUnavailable))
	g.Expect(post(platform.PathHeartbeat, `{"cluster_uid":"c-bin"}`)).To(Equal(http.StatusOK))
	code, _ = admin("POST", "/faults", `{"mode":"rate-limited","retry_after":"3s"}`)
	g.Expect(code).To(Equal(200))
	g.Expect(post(platform.PathHeartbeat, `{"cluster_uid":"c-bin"}`)).To(Equal(http.StatusTooManyRequests))
	code, _ = admin("POST", "/faults/clear", "")
	g.Expect(code).To(Equal(200))
	g.Expect(post(platform.PathHeartbeat, `{"cluster_uid":"c-bin"}`)).To(Equal(http.StatusOK))

	// A client registered through the admin API can get a token.
	key2, pub2 := writeKey(t, dir, "cl_two.pub.pem")
	pub2PEM, err := os.ReadFile(pub2)
	g.Expect(err).NotTo(HaveOccurred())
	reg, err := json.Marshal(map[string]string{"client_id": "cl_two", "public_key_pem": string(pub2PEM)})
	g.Expect(err).NotTo(HaveOccurred())
	code, body = admin("POST", "/clients", string(reg))
	g.Expect(code).To(Equal(200), body)
	assertion2, err := platform.SignAssertion(key2, "cl_two", platformURL, time.Now())
	g.Expect(err).NotTo(HaveOccurred())
	resp, err = client.PostForm(platformURL+platform.PathToken, url.Values{"assertion": {assertion2}, "grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}})
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	g.Expect(stderr.String()).To(ContainSubstring(`"endpoint"="heartbeat"`), "debug logs every request")
	g.Expect(stderr.String()).NotTo(ContainSubstring(tok.AccessToken), "tokens are never logged")

	cancel()
	g.Eventually(done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
}

func TestRunRejectsBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown flag is an error", []string{"--nope"}, "unknown flag"},
		{"a client without a path is an error", []string{"--client", "cl_1"}, "want ID=PATH"},
		{"a client whose key file is missing is an error", []string{"--client", "cl_1=" + filepath.Join(dir, "missing.pem")}, "no such file"},
		{"an unknown log level is an error", []string{"--log-level", "loud"}, "--log-level"},
		{"a CA file with plain HTTP is an error", []string{"--plain-http", "--ca-out", filepath.Join(dir, "ca.pem")}, "--ca-out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var out, errOut syncBuffer
			err := run(context.Background(), tc.args, &out, &errOut)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}
