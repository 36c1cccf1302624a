package platform

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 11, 20, 14, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

// testAgent talks to a simulator the way an agent does.
type testAgent struct {
	t      testing.TB
	sim    *Server
	client *http.Client
	id     string
	key    *ecdsa.PrivateKey
	now    func() time.Time
	token  string
}

// newTestAgent registers a fresh key as clientID and fetches a token through the real grant.
func newTestAgent(t testing.TB, sim *Server, clientID string) *testAgent {
	t.Helper()
	a := &testAgent{t: t, sim: sim, client: sim.HTTPClient(), id: clientID, key: newKey(t), now: sim.opts.Now}
	sim.RegisterClient(clientID, &a.key.PublicKey)
	a.refresh()
	return a
}

func (a *testAgent) refresh() {
	a.t.Helper()
	status, body, err := a.postToken(a.assertion())
	if err != nil || status != http.StatusOK {
		a.t.Fatalf("get token: status %d, body %s, err %v", status, body, err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		a.t.Fatalf("decode token response: %v", err)
	}
	a.token = tr.AccessToken
}

func (a *testAgent) assertion() string {
	a.t.Helper()
	s, err := SignAssertion(a.key, a.id, a.sim.URL(), a.now())
	if err != nil {
		a.t.Fatalf("sign: %v", err)
	}
	return s
}

// postToken sends a token request with the given assertion.
func (a *testAgent) postToken(assertion string) (int, []byte, error) {
	form := url.Values{"assertion": {assertion}, "grant_type": {jwtBearerGrant}}
	return a.postForm(form.Encode())
}

func (a *testAgent) postForm(encoded string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, a.sim.URL()+PathToken, strings.NewReader(encoded))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(a.client, req)
}

// post sends a JSON body to an API path with the agent's token.
func (a *testAgent) post(path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, a.sim.URL()+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token)
	return do(a.client, req)
}

// postValue marshals v and posts it.
func (a *testAgent) postValue(path string, v any) (int, []byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		a.t.Fatalf("marshal: %v", err)
	}
	return a.post(path, b)
}

func do(c *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// errorBody is the simulator's JSON error answer.
type errorBody struct {
	Error       string   `json:"error"`
	Description string   `json:"error_description"`
	Problems    []string `json:"problems"`
}

func decodeError(t testing.TB, b []byte) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("decode error body %q: %v", b, err)
	}
	return e
}

// deleteEvent is a valid deleted event.
func deleteEvent(clusterUID, kind, uid, name, namespace string) map[string]any {
	m := map[string]any{"cluster_uid": clusterUID, "type": EventDeleted, "kind": kind, "uid": uid, "name": name}
	if namespace != "" {
		m["namespace"] = namespace
	}
	return m
}

// upsertEvent wraps a record in an added/modified event, copying its identity.
func upsertEvent(clusterUID, typ, kind string, rec map[string]any) map[string]any {
	m := map[string]any{"cluster_uid": clusterUID, "type": typ, "kind": kind, "uid": rec["uid"], "name": rec["name"], "object": rec}
	if ns, ok := rec["namespace"]; ok {
		m["namespace"] = ns
	}
	return m
}

// emptySnapshot is a valid snapshot with every array empty.
func emptySnapshot(clusterUID string) map[string]any {
	m := map[string]any{"cluster_uid": clusterUID, "cluster_name": "test"}
	for _, k := range kindTable {
		m[k.snapshotKey] = []any{}
	}
	return m
}

// minimalPod is a small valid PodInfo.
func minimalPod(uid, name string) map[string]any {
	return map[string]any{"uid": uid, "name": name, "namespace": "shop", "k8s_created_at": "2025-11-20T14:03:11Z"}
}

// minimalNode is a small valid NodeInfo.
func minimalNode(uid, name string) map[string]any {
	return map[string]any{"uid": uid, "name": name, "status": "Ready", "cpu_capacity": "4",
		"memory_capacity": "16318876Ki", "pod_capacity": "110", "k8s_created_at": "2025-11-20T14:03:11Z"}
}

func sha256Sum(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func publicPEM(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
