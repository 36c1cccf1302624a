package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsyk/obsyk-hub/auth"
)

// This file holds a strict token endpoint and small helpers shared by the tests.

const (
	// headerSegment is base64url({"alg":"ES256","typ":"JWT"}), contract §8.1.
	headerSegment = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"
	grantSuffix   = "&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
	testClientID  = "cl_4f8a2b9c71"
)

var (
	jtiPattern  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	bodyPattern = regexp.MustCompile(`^assertion=([A-Za-z0-9_.-]+)` + regexp.QuoteMeta(grantSuffix) + `$`)
)

// reply is what the endpoint answers to one request.
type reply struct {
	status int
	body   string
	header map[string]string
	hijack bool // close the connection without answering
}

// tokenRequest is one request as the endpoint saw it.
type tokenRequest struct {
	at        time.Time
	body      string
	assertion string
	claims    map[string]any
	problem   string // empty when the request met the contract
}

// tokenServer is a token endpoint that checks every request against contract §2 on its own,
// with crypto/ecdsa rather than jwt/v5, and answers with fresh tokens unless told otherwise.
type tokenServer struct {
	t   testing.TB
	srv *httptest.Server
	// audience is the platform URL the manager is configured with; path is the request path
	// that plain concatenation must produce from it.
	audience string
	path     string

	mu        sync.Mutex
	clients   map[string]*ecdsa.PublicKey // guarded by mu
	now       func() time.Time            // if set, iat must equal now().Unix()
	userAgent string                      // if set, the User-Agent must equal it
	expiresIn string                      // raw JSON value of expires_in; "" leaves it out
	respond   func(n int, req tokenRequest, token string) reply
	gate      chan struct{} // if set, every answer waits for it to be closed
	requests  []tokenRequest
	issued    []string
	jtis      map[string]bool
}

// newTokenServer starts an endpoint for platform URL srv.URL+suffix.
func newTokenServer(t testing.TB, suffix string) *tokenServer {
	s := &tokenServer{
		t:         t,
		clients:   map[string]*ecdsa.PublicKey{},
		jtis:      map[string]bool{},
		expiresIn: "3600",
	}
	// A bare handler, not a ServeMux: a mux would redirect "//oauth/token".
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	s.audience = s.srv.URL + suffix
	s.path = suffix + "/oauth/token"
	return s
}

func (s *tokenServer) register(clientID string, pub *ecdsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = pub
}

func (s *tokenServer) set(f func(s *tokenServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// hold makes every answer wait until the returned release function is called.
func (s *tokenServer) hold() (release func()) {
	gate := make(chan struct{})
	s.set(func(s *tokenServer) { s.gate = gate })
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	s.t.Cleanup(release) // runs before the server's Close
	return release
}

func (s *tokenServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *tokenServer) snapshot() (reqs []tokenRequest, issued []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tokenRequest(nil), s.requests...), append([]string(nil), s.issued...)
}

// problems lists every contract violation seen so far.
func (s *tokenServer) problems() []string {
	reqs, _ := s.snapshot()
	var out []string
	for _, r := range reqs {
		if r.problem != "" {
			out = append(out, r.problem)
		}
	}
	return out
}

func (s *tokenServer) handle(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	req := tokenRequest{at: time.Now(), body: string(raw)}

	s.mu.Lock()
	unknownClient := false
	req.problem, unknownClient = s.check(r, &req)
	s.requests = append(s.requests, req)
	n := len(s.requests)
	token := fmt.Sprintf("at_%d_%s", n, randomHex(12))
	respond, gate, expiresIn := s.respond, s.gate, s.expiresIn
	s.mu.Unlock()

	var rep reply
	switch {
	case req.problem != "":
		rep = reply{status: http.StatusBadRequest, body: oauthError("invalid_request", req.problem)}
	case unknownClient:
		rep = reply{status: http.StatusUnauthorized, body: oauthError("invalid_client", "unknown client")}
	case respond != nil:
		rep = respond(n, req, token)
	default:
		rep = okReply(token, expiresIn)
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if rep.hijack {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	if rep.status == http.StatusOK && strings.Contains(rep.body, token) {
		s.mu.Lock()
		s.issued = append(s.issued, token)
		s.mu.Unlock()
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// check verifies one request; s.mu is held. It returns a description of the first violation
// (never quoting the assertion) and whether the client is unknown.
func (s *tokenServer) check(r *http.Request, req *tokenRequest) (problem string, unknownClient bool) {
	switch {
	case r.Method != http.MethodPost:
		return "method " + r.Method, false
	case r.URL.Path != s.path || r.URL.RawQuery != "":
		return fmt.Sprintf("path %q, want %q", r.URL.Path, s.path), false
	case r.Header.Get("Content-Type") != "application/x-www-form-urlencoded":
		return "content type " + r.Header.Get("Content-Type"), false
	case r.Header.Get("Authorization") != "":
		return "an Authorization header was sent", false
	case s.userAgent != "" && r.Header.Get("User-Agent") != s.userAgent:
		return "user agent " + r.Header.Get("User-Agent"), false
	}
	m := bodyPattern.FindStringSubmatch(req.body)
	if m == nil {
		return "the body is not exactly assertion=<jws>&grant_type=<jwt-bearer>", false
	}
	req.assertion = m[1]
	parts := strings.Split(req.assertion, ".")
	if len(parts) != 3 {
		return "the assertion does not have three segments", false
	}
	if parts[0] != headerSegment {
		return "the header segment differs from {\"alg\":\"ES256\",\"typ\":\"JWT\"}", false
	}
	claimsJSON, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "the claims segment is not unpadded base64url", false
	}
	dec := json.NewDecoder(bytes.NewReader(claimsJSON))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return "the claims are not a JSON object", false
	}
	req.claims = claims
	if len(claims) != 6 {
		return fmt.Sprintf("%d claims, want exactly iss, sub, aud, exp, iat, jti", len(claims)), false
	}
	iss, ok1 := claims["iss"].(string)
	sub, ok2 := claims["sub"].(string)
	aud, ok3 := claims["aud"].([]any)
	jti, ok4 := claims["jti"].(string)
	expN, ok5 := claims["exp"].(json.Number)
	iatN, ok6 := claims["iat"].(json.Number)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return "a claim is missing or has the wrong JSON type", false
	}
	exp, err1 := expN.Int64()
	iat, err2 := iatN.Int64()
	if err1 != nil || err2 != nil {
		return "exp or iat is not an integer", false
	}
	if len(aud) != 1 || aud[0] != s.audience {
		return fmt.Sprintf("aud %v, want [%q]", aud, s.audience), false
	}
	if iss == "" || sub != iss {
		return "iss and sub differ or are empty", false
	}
	if exp-iat != 300 {
		return fmt.Sprintf("exp-iat = %d, want 300", exp-iat), false
	}
	if s.now != nil && iat != s.now().Unix() {
		return fmt.Sprintf("iat %d, want %d", iat, s.now().Unix()), false
	}
	if !jtiPattern.MatchString(jti) {
		return "jti is not a lower-case UUID v4", false
	}
	if s.jtis[jti] {
		return "jti was used before", false
	}
	s.jtis[jti] = true
	// The claims bytes must be exactly what Go writes for the contract's claim order.
	want := fmt.Sprintf(`{"iss":%s,"sub":%s,"aud":[%s],"exp":%d,"iat":%d,"jti":%s}`,
		mustJSON(iss), mustJSON(sub), mustJSON(s.audience), exp, iat, mustJSON(jti))
	if string(claimsJSON) != want {
		return "the claims are not written in the contract's order and form", false
	}
	pub := s.clients[iss]
	if pub == nil {
		return "", true
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return "the signature is not 64 bytes of unpadded base64url", false
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], rr, ss) {
		return "the ES256 signature does not verify against the registered key", false
	}
	return "", false
}

func okReply(token, expiresIn string) reply {
	body := `{"access_token":"` + token + `","token_type":"Bearer"`
	if expiresIn != "" {
		body += `,"expires_in":` + expiresIn
	}
	return reply{status: http.StatusOK, body: body + `,"scope":"agent"}`}
}

func oauthError(code, description string) string {
	return fmt.Sprintf(`{"error":%s,"error_description":%s}`, mustJSON(code), mustJSON(description))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1764326400, 0)} }

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

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sec1PEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func pkcs8PEM(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// pemBodyLines returns the base64 lines of a PEM text: the parts that must never be echoed.
func pemBodyLines(p []byte) []string {
	var out []string
	for _, l := range strings.Split(string(p), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "-----") && !strings.Contains(l, ":") {
			out = append(out, l)
		}
	}
	return out
}

// testEnv is a token server with one registered client and a manager pointed at it.
type testEnv struct {
	srv    *tokenServer
	key    *ecdsa.PrivateKey
	keyPEM []byte
	clock  *fakeClock
	mgr    *auth.TokenManager

	mu       sync.Mutex
	refreshs []error
}

// newEnv starts a server and a manager with an injected clock and a short backoff; opts may
// adjust the manager's options.
func newEnv(t testing.TB, opts ...func(*auth.Options)) *testEnv {
	t.Helper()
	e := &testEnv{srv: newTokenServer(t, ""), key: newP256(t), clock: newFakeClock()}
	e.keyPEM = sec1PEM(t, e.key)
	e.srv.register(testClientID, &e.key.PublicKey)
	e.srv.set(func(s *tokenServer) { s.now = e.clock.Now })
	o := auth.Options{
		PlatformURL:   e.srv.audience,
		ClientID:      testClientID,
		PrivateKeyPEM: e.keyPEM,
		Now:           e.clock.Now,
		OnRefresh: func(err error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.refreshs = append(e.refreshs, err)
		},
	}
	for _, f := range opts {
		f(&o)
	}
	m, err := auth.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	auth.SetBackoffForTest(m, 5*time.Millisecond, 20*time.Millisecond)
	e.mgr = m
	return e
}

func (e *testEnv) refreshes() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.refreshs...)
}
