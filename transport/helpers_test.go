package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newKey returns a fresh P-256 key and its SEC1 PEM.
func newKey(t testing.TB) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// seen is one API request as the fake platform received it.
type seen struct {
	Path          string
	Authorization string
	ContentType   string
	UserAgent     string
	ContentLength int64 // -1 when the header was absent
	Body          []byte
	At            time.Time
}

// fakePlatform is an httptest server with a token endpoint that issues "tok-<n>" for any
// assertion, and API paths answered by a programmable handler. It does not validate bodies;
// the e2e simulator does.
type fakePlatform struct {
	srv *httptest.Server

	tokenRequests atomic.Int32
	tokenStatus   atomic.Int32 // non-zero: the token endpoint answers this status

	mu       sync.Mutex
	requests []seen
	issuers  []string // iss claim of each token request
	// api answers the n-th (from 1) API request. nil: 200.
	api func(w http.ResponseWriter, r *http.Request, n int)
}

func newFakePlatform(t testing.TB, api func(w http.ResponseWriter, r *http.Request, n int)) *fakePlatform {
	t.Helper()
	p := &fakePlatform{api: api}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakePlatform) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/oauth/token") {
		n := p.tokenRequests.Add(1)
		_ = r.ParseForm()
		p.mu.Lock()
		p.issuers = append(p.issuers, issuerOf(r.PostForm.Get("assertion")))
		p.mu.Unlock()
		if s := p.tokenStatus.Load(); s != 0 {
			w.WriteHeader(int(s))
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"unknown client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, n)
		return
	}
	body, _ := io.ReadAll(r.Body)
	cl := r.ContentLength
	if r.Header.Get("Content-Length") == "" && len(r.TransferEncoding) > 0 {
		cl = -1
	}
	p.mu.Lock()
	p.requests = append(p.requests, seen{Path: r.URL.Path, Authorization: r.Header.Get("Authorization"),
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
		ContentLength: cl, Body: body, At: time.Now()})
	n := len(p.requests)
	api := p.api
	p.mu.Unlock()
	if api == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	api(w, r, n)
}

func (p *fakePlatform) seen() []seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]seen(nil), p.requests...)
}

func (p *fakePlatform) tokenIssuers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issuers...)
}

// options returns client Options for this platform with fast retries.
func (p *fakePlatform) options(t testing.TB) Options {
	_, keyPEM := newKey(t)
	return Options{
		PlatformURL:       p.srv.URL,
		ClientID:          "client-a",
		PrivateKeyPEM:     keyPEM,
		AllowInsecureHTTP: true,
		BackoffBase:       10 * time.Millisecond,
		BackoffMax:        50 * time.Millisecond,
	}
}

// issuerOf returns the unverified iss claim of a JWT.
func issuerOf(assertion string) string {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	_ = json.Unmarshal(raw, &claims)
	return claims.Iss
}

// hijackAndClose drops the connection without any response.
func hijackAndClose(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.Close()
}
