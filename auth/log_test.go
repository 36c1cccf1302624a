package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/auth"
)

// logCapture collects every line a funcr logger writes, at every verbosity.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (c *logCapture) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.lines = append(c.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
}

func (c *logCapture) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func TestNoSecretIsLoggedOrReturned(t *testing.T) {
	g := NewWithT(t)
	capture := &logCapture{}
	e := newEnv(t, func(o *auth.Options) {
		o.Logger = capture.logger()
		o.MaxAttempts = 3
	})
	var errs []error
	ctx := context.Background()

	// Scenario 1: a 503, a 429 and a token without expires_in.
	e.srv.set(func(s *tokenServer) {
		s.respond = func(n int, req tokenRequest, token string) reply {
			switch n {
			case 1:
				return reply{status: 503, body: oauthError("unavailable", "try later")}
			case 2:
				return reply{status: 429, header: map[string]string{"Retry-After": "0"}}
			case 3, 5:
				return reply{status: 200, body: `{"access_token":"` + token + `"}`}
			case 4, 6, 7, 8:
				return reply{status: 500, body: oauthError("server_error", req.assertion)}
			default:
				// An endpoint that echoes the assertion in its error.
				return reply{status: 401, body: oauthError("invalid_client", "bad assertion "+req.assertion)}
			}
		}
	})
	t0 := e.clock.Now()
	tok, err := e.mgr.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())

	// Scenario 2: a 401 from the API; the refetch fails once with an echoing 500, then works.
	e.mgr.Invalidate(tok)
	_, err = e.mgr.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())

	// Scenario 3: a background renewal that fails with echoing 500s (the cached token is kept).
	e.clock.Set(t0.Add(50 * time.Second))
	_, err = e.mgr.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(e.refreshes).WithTimeout(5 * time.Second).Should(HaveLen(3))
	errs = append(errs, e.refreshes()[2])

	// Scenario 4: the token expires; the endpoint rejects the credentials, echoing secrets.
	e.clock.Set(t0.Add(2 * time.Minute))
	_, err = e.mgr.Token(ctx)
	g.Expect(auth.IsCredentialError(err)).To(BeTrue())
	errs = append(errs, err)
	var ce *auth.CredentialError
	g.Expect(errors.As(err, &ce)).To(BeTrue())
	g.Expect(ce.OAuthErrorDescription).To(ContainSubstring("[redacted]"))

	// Scenario 5: a bad key update and a good one.
	other := newP256(t)
	errs = append(errs, e.mgr.UpdateCredentials(testClientID, []byte("-----BEGIN EC PRIVATE KEY-----\n"+randomHex(40)+"\n-----END EC PRIVATE KEY-----\n")))
	errs = append(errs, e.mgr.UpdateCredentials(testClientID, pkcs8PEM(t, other)))

	g.Expect(e.srv.problems()).To(BeEmpty())
	reqs, issued := e.srv.snapshot()
	g.Expect(reqs).To(HaveLen(9))
	g.Expect(issued).To(HaveLen(2))

	var secrets []string
	secrets = append(secrets, pemBodyLines(e.keyPEM)...)
	secrets = append(secrets, pemBodyLines(pkcs8PEM(t, other))...)
	secrets = append(secrets, issued...)
	for _, r := range reqs {
		parts := strings.Split(r.assertion, ".")
		secrets = append(secrets, r.assertion, parts[2]) // the whole assertion and its signature
	}
	lines := capture.all()
	g.Expect(len(lines)).To(BeNumerically(">=", 8), "the scenarios did log")
	g.Expect(strings.Join(lines, "\n")).To(ContainSubstring("Token request failed, retrying"))
	for _, s := range secrets {
		for _, l := range lines {
			g.Expect(l).NotTo(ContainSubstring(s))
		}
		for _, err := range errs {
			if err != nil {
				g.Expect(err.Error()).NotTo(ContainSubstring(s))
			}
		}
	}
}
