package platform

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"
)

// claimsFor returns the standard claim set, for tests to tamper with.
func claimsFor(clientID, aud string, now time.Time) map[string]any {
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": []any{aud},
		"iat": now.Unix(), "exp": now.Unix() + 300, "jti": uuid.NewString(),
	}
}

func TestTokenEndpointRejectsBadAssertions(t *testing.T) {
	clock := newFakeClock()
	sim := StartForTest(t, Options{Now: clock.Now})
	a := newTestAgent(t, sim, "cl_auth")
	other := newKey(t)
	now := clock.Now()

	sign := func(key *ecdsa.PrivateKey, header string, claims map[string]any) string {
		s, err := SignJWT(key, []byte(header), mustJSON(t, claims))
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return s
	}
	with := func(mod func(c map[string]any)) map[string]any {
		c := claimsFor("cl_auth", sim.URL(), now)
		mod(c)
		return c
	}
	cases := []struct {
		name       string
		assertion  string
		wantStatus int
		wantError  string
		wantText   string
	}{
		{"a signature by another key is rejected", sign(other, assertionHeader, with(func(map[string]any) {})),
			400, "invalid_grant", "signature"},
		{"a wrong aud is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["aud"] = []any{"https://api.obsyk.example"} })),
			400, "invalid_grant", "aud"},
		{"an aud with a trailing slash the client was not configured with is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["aud"] = []any{sim.URL() + "/"} })),
			400, "invalid_grant", "aud"},
		{"an aud that is a bare string is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["aud"] = sim.URL() })),
			400, "invalid_grant", "aud"},
		{"an aud with two elements is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["aud"] = []any{sim.URL(), sim.URL()} })),
			400, "invalid_grant", "aud"},
		{"an expired assertion is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) {
			c["iat"], c["exp"] = now.Unix()-400, now.Unix()-100
		})), 400, "invalid_grant", "expired"},
		{"an assertion living longer than 300 s is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["exp"] = now.Unix() + 3600 })),
			400, "invalid_grant", "lifetime"},
		{"an iat in the future is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) {
			c["iat"], c["exp"] = now.Unix()+120, now.Unix()+420
		})), 400, "invalid_grant", "future"},
		{"a sub different from iss is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["sub"] = "someone-else" })),
			400, "invalid_grant", "sub"},
		{"an extra nbf claim is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["nbf"] = now.Unix() })),
			400, "invalid_grant", "nbf"},
		{"a missing jti is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { delete(c, "jti") })),
			400, "invalid_grant", "jti"},
		{"a jti that is not a UUID v4 is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["jti"] = "abc" })),
			400, "invalid_grant", "jti"},
		{"a fractional exp is rejected", sign(a.key, assertionHeader, with(func(c map[string]any) { c["exp"] = float64(now.Unix()) + 299.5 })),
			400, "invalid_grant", "exp"},
		{"a header with a kid is rejected", sign(a.key, `{"alg":"ES256","kid":"k1","typ":"JWT"}`, with(func(map[string]any) {})),
			400, "invalid_grant", "header"},
		{"a header with another algorithm is rejected", sign(a.key, `{"alg":"ES384","typ":"JWT"}`, with(func(map[string]any) {})),
			400, "invalid_grant", "header"},
		{"an unregistered client is rejected", sign(a.key, assertionHeader, claimsFor("cl_nobody", sim.URL(), now)),
			401, "invalid_client", "not registered"},
		{"a padded base64 segment is rejected", a.assertion() + "=",
			400, "invalid_grant", "base64"},
		{"an assertion with two segments is rejected", "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.e30",
			400, "invalid_grant", "segments"},
		{"a signature in DER form is rejected", derSigned(t, a.key, "cl_auth", sim.URL(), now),
			400, "invalid_grant", "64 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			status, body, err := a.postToken(tc.assertion)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(tc.wantStatus), "body %s", body)
			e := decodeError(t, body)
			g.Expect(e.Error).To(Equal(tc.wantError))
			g.Expect(e.Description).To(ContainSubstring(tc.wantText))
		})
	}
}

// derSigned builds an otherwise valid assertion whose signature is ASN.1 DER, as a naive
// ecdsa.SignASN1 user would produce.
func derSigned(t *testing.T, key *ecdsa.PrivateKey, clientID, aud string, now time.Time) string {
	t.Helper()
	valid, err := SignAssertion(key, clientID, aud, now)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	input := valid[:strings.LastIndex(valid, ".")]
	digest := sha256Sum(input)
	der, err := ecdsa.SignASN1(rand.Reader, key, digest)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(der)
}

func TestTokenEndpointRejectsBadForms(t *testing.T) {
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_form")
	cases := []struct {
		name        string
		contentType string
		body        string
		header      map[string]string
		wantStatus  int
		wantError   string
	}{
		{"another grant_type is rejected", "application/x-www-form-urlencoded",
			url.Values{"assertion": {a.assertion()}, "grant_type": {"client_credentials"}}.Encode(), nil, 400, "unsupported_grant_type"},
		{"a missing grant_type is rejected", "application/x-www-form-urlencoded",
			url.Values{"assertion": {a.assertion()}}.Encode(), nil, 400, "invalid_request"},
		{"a client_id field is rejected", "application/x-www-form-urlencoded",
			url.Values{"assertion": {a.assertion()}, "grant_type": {jwtBearerGrant}, "client_id": {"cl_form"}}.Encode(), nil, 400, "invalid_request"},
		{"a JSON body is rejected", "application/json",
			`{"assertion":"x","grant_type":"` + jwtBearerGrant + `"}`, nil, 400, "invalid_request"},
		{"an Authorization header is rejected", "application/x-www-form-urlencoded",
			url.Values{"assertion": {a.assertion()}, "grant_type": {jwtBearerGrant}}.Encode(),
			map[string]string{"Authorization": "Basic Y2w6c2VjcmV0"}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			req, err := http.NewRequest(http.MethodPost, sim.URL()+PathToken, strings.NewReader(tc.body))
			g.Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Content-Type", tc.contentType)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			status, body, err := do(a.client, req)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(tc.wantStatus), "body %s", body)
			g.Expect(decodeError(t, body).Error).To(Equal(tc.wantError))
		})
	}
}

func TestReplayedJTIIsRejected(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_replay")
	assertion := a.assertion()
	status, _, err := a.postToken(assertion)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK))
	status, body, err := a.postToken(assertion)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusBadRequest))
	g.Expect(decodeError(t, body).Description).To(ContainSubstring("replay"))
	g.Expect(sim.Stats().Clients["cl_replay"]).To(And(
		HaveField("TokenRequests", 3), // newTestAgent's own, then these two
		HaveField("TokensIssued", 2),
	))
}

func TestAudienceOverride(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{Audience: "https://api.obsyk.example/"})
	key := newKey(t)
	sim.RegisterClient("cl_aud", &key.PublicKey)
	a := &testAgent{t: t, sim: sim, client: sim.HTTPClient(), id: "cl_aud", key: key, now: time.Now}
	good, err := SignAssertion(key, "cl_aud", "https://api.obsyk.example/", time.Now())
	g.Expect(err).NotTo(HaveOccurred())
	status, body, err := a.postToken(good)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK), "body %s", body)
	status, _, err = a.postToken(a.assertion()) // aud = URL()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusBadRequest))
}

func TestRegisterClientPEM(t *testing.T) {
	key := newKey(t)
	pkix, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		pem     []byte
		wantErr bool
	}{
		{"a PKIX public key registers", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}), false},
		{"a SEC1 private key registers its public half", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), false},
		{"a PKCS#8 private key registers its public half", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), false},
		{"a P-384 key is refused", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p384DER}), true},
		{"garbage is refused", []byte("not pem"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sim := StartForTest(t, Options{})
			err := sim.RegisterClientPEM("cl_pem", tc.pem)
			if tc.wantErr {
				g.Expect(err).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			a := &testAgent{t: t, sim: sim, client: sim.HTTPClient(), id: "cl_pem", key: key, now: time.Now}
			status, body, err := a.postToken(a.assertion())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusOK), "body %s", body)
		})
	}
}

func TestAPIRequiresAValidBearerToken(t *testing.T) {
	clock := newFakeClock()
	sim := StartForTest(t, Options{Now: clock.Now, TokenLifetime: time.Hour})
	a := newTestAgent(t, sim, "cl_bearer")
	body := mustJSON(t, map[string]any{"cluster_uid": "c1"})
	send := func(authz string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, sim.URL()+PathHeartbeat, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		status, resp, err := do(a.client, req)
		if err != nil {
			t.Fatal(err)
		}
		return status, resp
	}
	cases := []struct {
		name     string
		authz    string
		before   func()
		wantText string
	}{
		{"a request without a bearer token is rejected", "", nil, "missing"},
		{"a lower-case bearer scheme is rejected", "bearer " + a.token, nil, "Bearer"},
		{"an unknown token is rejected", "Bearer at_unknown", nil, "unknown"},
		{"an expired token is rejected", "Bearer " + a.token, func() { clock.Advance(time.Hour) }, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			if tc.before != nil {
				tc.before()
			}
			status, resp := send(tc.authz)
			g.Expect(status).To(Equal(http.StatusUnauthorized))
			e := decodeError(t, resp)
			g.Expect(e.Error).To(Equal("invalid_token"))
			g.Expect(e.Description).To(ContainSubstring(tc.wantText))
		})
	}
	g := NewWithT(t)
	g.Expect(sim.Clusters()).To(BeEmpty())
	a.refresh()
	status, resp := send("Bearer " + a.token)
	g.Expect(status).To(Equal(http.StatusOK), "a fresh token works: %s", resp)
}

func TestOnlyTheContractPathsAndMethodExist(t *testing.T) {
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_paths")
	cases := []struct {
		name       string
		method     string
		path       string
		wantStatus int
	}{
		{"a double slash from a platformURL with a trailing slash is not found", http.MethodPost, "//oauth/token", 404},
		{"an unknown path is not found", http.MethodPost, "/api/v1/agent/batch", 404},
		{"a GET of an API endpoint is not allowed", http.MethodGet, PathHeartbeat, 405},
		{"a PUT of the token endpoint is not allowed", http.MethodPut, PathToken, 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			req, err := http.NewRequest(tc.method, sim.URL()+tc.path, strings.NewReader("{}"))
			g.Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Authorization", "Bearer "+a.token)
			req.Header.Set("Content-Type", "application/json")
			status, body, err := do(a.client, req)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(tc.wantStatus))
			g.Expect(json.Valid(body)).To(BeTrue())
		})
	}
}

func TestTLSIsVerifiedForReal(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	g.Expect(sim.URL()).To(HavePrefix("https://127.0.0.1:"))
	g.Expect(string(sim.CACertPEM())).To(HavePrefix("-----BEGIN CERTIFICATE-----"))

	// A client with the system roots does not trust the simulator.
	_, err := http.Post(sim.URL()+PathToken, "application/x-www-form-urlencoded", strings.NewReader(""))
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("certificate"))

	// The simulator's own client does, over HTTP/2.
	resp, err := sim.HTTPClient().Post(sim.URL()+PathToken, "application/x-www-form-urlencoded", strings.NewReader(""))
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.ProtoMajor).To(Equal(2))
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))

	// The same works through "localhost" (a DNS SAN).
	loc := strings.Replace(sim.URL(), "127.0.0.1", "localhost", 1)
	resp2, err := sim.HTTPClient().Post(loc+PathToken, "application/x-www-form-urlencoded", strings.NewReader(""))
	g.Expect(err).NotTo(HaveOccurred())
	resp2.Body.Close()
}

func TestPlainHTTP(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{PlainHTTP: true})
	g.Expect(sim.URL()).To(HavePrefix("http://127.0.0.1:"))
	g.Expect(sim.CACertPEM()).To(BeNil())
	a := newTestAgent(t, sim, "cl_plain")
	status, body, err := a.postValue(PathHeartbeat, map[string]any{"cluster_uid": "c1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK), "body %s", body)
}
