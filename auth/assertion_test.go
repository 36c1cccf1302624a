package auth_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/auth"
)

func TestAssertionFollowsTheContract(t *testing.T) {
	cases := []struct {
		name     string
		suffix   string // appended to the server's URL to form the platform URL
		clientID string // as configured; the claims must carry testClientID
	}{
		{name: "a platform URL without a trailing slash is the aud and prefixes /oauth/token"},
		{name: "a platform URL with a trailing slash keeps it in aud and yields //oauth/token", suffix: "/"},
		{name: "a platform URL with a path keeps the path in aud and in the token URL", suffix: "/tenant/a"},
		{name: "a client_id with surrounding whitespace is trimmed in iss and sub", clientID: " \t" + testClientID + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := newTokenServer(t, tc.suffix)
			key := newP256(t)
			srv.register(testClientID, &key.PublicKey)
			clock := newFakeClock()
			srv.set(func(s *tokenServer) { s.now = clock.Now; s.userAgent = "obsyk-hub/dev" })
			clientID := tc.clientID
			if clientID == "" {
				clientID = testClientID
			}
			m, err := auth.New(auth.Options{PlatformURL: srv.audience, ClientID: clientID, PrivateKeyPEM: sec1PEM(t, key), Now: clock.Now})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(m.PlatformURL()).To(Equal(srv.audience))

			tok, err := m.Token(context.Background())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(srv.problems()).To(BeEmpty())
			reqs, issued := srv.snapshot()
			g.Expect(reqs).To(HaveLen(1))
			g.Expect(tok).To(Equal(issued[0]))

			// The server already checked everything strictly; spell out the essentials here too.
			r := reqs[0]
			g.Expect(r.body).To(HavePrefix("assertion=" + headerSegment + "."))
			g.Expect(r.body).To(HaveSuffix("&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"))
			g.Expect(r.claims).To(HaveKeyWithValue("iss", testClientID))
			g.Expect(r.claims).To(HaveKeyWithValue("sub", testClientID))
			g.Expect(r.claims).To(HaveKeyWithValue("aud", []any{srv.audience}))
			g.Expect(r.claims).To(HaveKeyWithValue("iat", json.Number("1764326400")))
			g.Expect(r.claims).To(HaveKeyWithValue("exp", json.Number("1764326700")))
			g.Expect(r.claims).To(HaveKey("jti"))
			g.Expect(r.claims).To(HaveLen(6))
		})
	}
}

func TestEveryAssertionHasANewJTI(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	var tokens []string
	for range 4 {
		tok, err := e.mgr.Token(context.Background())
		g.Expect(err).NotTo(HaveOccurred())
		tokens = append(tokens, tok)
		e.mgr.Invalidate(tok)
	}
	g.Expect(e.srv.problems()).To(BeEmpty()) // the server rejects a reused jti
	reqs, _ := e.srv.snapshot()
	g.Expect(reqs).To(HaveLen(4))
	seen := map[any]bool{}
	for _, r := range reqs {
		g.Expect(seen).NotTo(HaveKey(r.claims["jti"]))
		seen[r.claims["jti"]] = true
	}
}

func TestStrictEndpointRejectsAnAssertionSignedWithAnotherKey(t *testing.T) {
	// Proves the test endpoint's own signature check can fail, so the tests above can too.
	g := NewWithT(t)
	e := newEnv(t)
	other := newP256(t)
	e.srv.register(testClientID, &other.PublicKey)

	_, err := e.mgr.Token(context.Background())
	g.Expect(auth.IsCredentialError(err)).To(BeTrue())
	g.Expect(e.srv.problems()).To(ConsistOf(ContainSubstring("signature does not verify")))
	g.Expect(strings.Count(err.Error(), "signature does not verify")).To(Equal(1))
}
