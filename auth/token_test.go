package auth_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/auth"
)

func TestRefreshRule(t *testing.T) {
	cases := []struct {
		name      string
		expiresIn string // raw JSON; "" leaves the key out
		refreshAt time.Duration
	}{
		{name: "a one-hour token is renewed five minutes before it expires", expiresIn: "3600", refreshAt: 55 * time.Minute},
		{name: "a four-minute token is renewed at 80 % of its life, not on every call", expiresIn: "240", refreshAt: 3*time.Minute + 12*time.Second},
		{name: "a one-minute token is renewed at 48 seconds", expiresIn: "60", refreshAt: 48 * time.Second},
		{name: "a token without expires_in is treated as a one-minute token", expiresIn: "", refreshAt: 48 * time.Second},
		{name: "a token with expires_in zero is treated as a one-minute token", expiresIn: "0", refreshAt: 48 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			e.srv.set(func(s *tokenServer) { s.expiresIn = tc.expiresIn })
			ctx := context.Background()
			t0 := e.clock.Now()

			first, err := e.mgr.Token(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.srv.count()).To(Equal(1))

			for _, at := range []time.Duration{0, time.Second, tc.refreshAt / 2, tc.refreshAt - time.Second} {
				e.clock.Set(t0.Add(at))
				for range 5 {
					g.Expect(e.mgr.Token(ctx)).To(Equal(first), "at %s", at)
				}
				// No exchange running and none ran: nothing was started before the refresh time.
				g.Expect(e.mgr.RefreshInFlight()).To(BeFalse(), "at %s", at)
				g.Expect(e.srv.count()).To(Equal(1), "at %s", at)
			}

			// At the refresh time the still-valid token is served while one exchange renews it.
			e.clock.Set(t0.Add(tc.refreshAt))
			g.Expect(e.mgr.Token(ctx)).To(Equal(first))
			g.Eventually(e.srv.count).WithTimeout(5 * time.Second).Should(Equal(2))
			_, issued := e.srv.snapshot()
			g.Eventually(func() (string, error) { return e.mgr.Token(ctx) }).WithTimeout(5 * time.Second).Should(Equal(issued[1]))
			g.Expect(e.mgr.Token(ctx)).To(Equal(issued[1]))
			g.Expect(e.srv.count()).To(Equal(2))
			g.Expect(e.srv.problems()).To(BeEmpty())
		})
	}
}

func TestAnExpiringTokenIsNeverReturnedWhenRenewalFails(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *auth.Options) { o.MaxAttempts = 1 })
	e.srv.set(func(s *tokenServer) {
		s.expiresIn = "60"
		s.respond = func(n int, _ tokenRequest, token string) reply {
			if n == 1 {
				return okReply(token, "60")
			}
			return reply{status: http.StatusServiceUnavailable, body: `{"error":"unavailable"}`}
		}
	})
	ctx := context.Background()
	t0 := e.clock.Now()
	first, err := e.mgr.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())

	// In the refresh window the renewal fails, but the token is still good: keep serving it.
	e.clock.Set(t0.Add(50 * time.Second))
	g.Expect(e.mgr.Token(ctx)).To(Equal(first))
	g.Eventually(e.refreshes).WithTimeout(5 * time.Second).Should(HaveLen(2))
	g.Expect(e.refreshes()[1]).To(HaveOccurred())
	g.Expect(e.mgr.Token(ctx)).To(Equal(first))
	g.Expect(e.srv.count()).To(Equal(2), "a failed background renewal is not retried at once")

	// Within the expiry margin (6 s for a 60 s token) and past the expiry: never the old token.
	for _, at := range []time.Duration{54 * time.Second, 60 * time.Second, 10 * time.Minute} {
		e.clock.Set(t0.Add(at))
		tok, err := e.mgr.Token(ctx)
		g.Expect(err).To(HaveOccurred(), "at %s", at)
		g.Expect(auth.IsCredentialError(err)).To(BeFalse())
		g.Expect(err.Error()).To(ContainSubstring("HTTP 503"))
		g.Expect(tok).To(BeEmpty())
	}
}

func TestConcurrentCallersShareOneExchange(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	release := e.srv.hold()

	// The first caller starts the exchange, then gives up: the others must still get a token.
	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, err := e.mgr.Token(firstCtx)
		firstDone <- err
	}()
	g.Eventually(e.srv.count).WithTimeout(5 * time.Second).Should(Equal(1))

	const callers = 100
	type result struct {
		tok string
		err error
	}
	results := make(chan result, callers)
	var started sync.WaitGroup
	started.Add(callers)
	for range callers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			started.Done()
			tok, err := e.mgr.Token(ctx)
			results <- result{tok, err}
		}()
	}
	started.Wait()

	cancelFirst()
	g.Eventually(firstDone).WithTimeout(2 * time.Second).Should(Receive(MatchError(context.Canceled)))
	g.Expect(results).NotTo(Receive(), "nobody else returned before the endpoint answered")

	release()
	var got []string
	for range callers {
		var r result
		g.Eventually(results).WithTimeout(10 * time.Second).Should(Receive(&r))
		g.Expect(r.err).NotTo(HaveOccurred())
		got = append(got, r.tok)
	}
	_, issued := e.srv.snapshot()
	g.Expect(issued).To(HaveLen(1))
	g.Expect(got).To(HaveEach(issued[0]))
	g.Expect(e.srv.count()).To(Equal(1))
	g.Expect(e.refreshes()).To(HaveLen(1))
}

func TestAWaiterWithAnEndedContextReturnsAtOnce(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.srv.hold()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.mgr.Token(ctx)
		done <- err
	}()
	g.Eventually(done).WithTimeout(2 * time.Second).Should(Receive(MatchError(context.DeadlineExceeded)))

	// An already-ended context starts nothing new, and the held exchange is still shared.
	_, err := e.mgr.Token(ctx)
	g.Expect(err).To(MatchError(context.DeadlineExceeded))
	g.Expect(e.srv.count()).To(Equal(1))
}

func TestInvalidateDropsOnlyTheTokenItIsGiven(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	ctx := context.Background()

	old, err := e.mgr.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())

	// Invalidating the current token forces exactly one new exchange.
	e.mgr.Invalidate(old)
	current, err := e.mgr.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(current).NotTo(Equal(old))
	g.Expect(e.srv.count()).To(Equal(2))
	g.Expect(e.mgr.Token(ctx)).To(Equal(current))
	g.Expect(e.srv.count()).To(Equal(2))

	// A late 401 for the old token must not discard the newer one; nor must junk.
	e.mgr.Invalidate(old)
	e.mgr.Invalidate("")
	e.mgr.Invalidate("some-other-token")
	g.Expect(e.mgr.Token(ctx)).To(Equal(current))
	g.Expect(e.srv.count()).To(Equal(2))
}

func TestUpdateCredentials(t *testing.T) {
	cases := []struct {
		name string
		// update returns the new client_id and key PEM, registering them with the server.
		update       func(t *testing.T, e *testEnv) (string, []byte)
		wantErr      bool
		wantNewToken bool
		wantIssuer   string
	}{
		{
			name:   "the same client_id and key keep the cached token",
			update: func(t *testing.T, e *testEnv) (string, []byte) { return testClientID, e.keyPEM },
		},
		{
			name: "the same key re-encoded as PKCS#8 and a padded client_id keep the cached token",
			update: func(t *testing.T, e *testEnv) (string, []byte) {
				return "  " + testClientID + "\n", pkcs8PEM(t, e.key)
			},
		},
		{
			name: "a new key drops the cached token and signs the next assertion",
			update: func(t *testing.T, e *testEnv) (string, []byte) {
				k := newP256(t)
				e.srv.register(testClientID, &k.PublicKey) // the old key no longer verifies
				return testClientID, sec1PEM(t, k)
			},
			wantNewToken: true,
			wantIssuer:   testClientID,
		},
		{
			name: "a new client_id drops the cached token",
			update: func(t *testing.T, e *testEnv) (string, []byte) {
				e.srv.register("cl_other", &e.key.PublicKey)
				return "cl_other", e.keyPEM
			},
			wantNewToken: true,
			wantIssuer:   "cl_other",
		},
		{
			name: "invalid credentials are refused and the current ones stay in use",
			update: func(t *testing.T, e *testEnv) (string, []byte) {
				return testClientID, []byte("not a key")
			},
			wantErr: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			ctx := context.Background()
			first, err := e.mgr.Token(ctx)
			g.Expect(err).NotTo(HaveOccurred())

			id, keyPEM := tc.update(t, e)
			err = e.mgr.UpdateCredentials(id, keyPEM)
			if tc.wantErr {
				g.Expect(auth.IsCredentialError(err)).To(BeTrue())
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}

			tok, err := e.mgr.Token(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.srv.problems()).To(BeEmpty())
			reqs, issued := e.srv.snapshot()
			if !tc.wantNewToken {
				g.Expect(tok).To(Equal(first))
				g.Expect(reqs).To(HaveLen(1))
				return
			}
			g.Expect(reqs).To(HaveLen(2))
			g.Expect(tok).To(Equal(issued[1]))
			g.Expect(reqs[1].claims).To(HaveKeyWithValue("iss", tc.wantIssuer))
		})
	}
}

func TestCredentialsChangedDuringAnExchangeAreUsedForTheWaitersToken(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	release := e.srv.hold()
	e.srv.register("cl_rotated", &e.key.PublicKey)

	done := make(chan string, 1)
	go func() {
		tok, err := e.mgr.Token(context.Background())
		if err != nil {
			tok = "error: " + err.Error()
		}
		done <- tok
	}()
	g.Eventually(e.srv.count).WithTimeout(5 * time.Second).Should(Equal(1))
	g.Expect(e.mgr.UpdateCredentials("cl_rotated", e.keyPEM)).To(Succeed())
	release()

	var tok string
	g.Eventually(done).WithTimeout(5 * time.Second).Should(Receive(&tok))
	reqs, issued := e.srv.snapshot()
	g.Expect(reqs).To(HaveLen(2))
	g.Expect(reqs[1].claims).To(HaveKeyWithValue("iss", "cl_rotated"))
	g.Expect(tok).To(Equal(issued[1]), "the token from the old credentials is discarded")
	g.Expect(e.mgr.Token(context.Background())).To(Equal(issued[1]))
}

func TestARejectionIsRememberedUntilTheCredentialsChangeOrItTimesOut(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.srv.set(func(s *tokenServer) {
		s.respond = func(n int, _ tokenRequest, token string) reply {
			if n <= 2 {
				return reply{status: http.StatusUnauthorized, body: oauthError("invalid_client", "client disabled")}
			}
			return okReply(token, "3600")
		}
	})
	ctx := context.Background()
	_, err := e.mgr.Token(ctx)
	var ce *auth.CredentialError
	g.Expect(errors.As(err, &ce)).To(BeTrue())

	// Hot loops of callers do not hammer the endpoint with a rejected key.
	for range 5 {
		_, again := e.mgr.Token(ctx)
		g.Expect(again).To(BeIdenticalTo(err))
	}
	g.Expect(e.srv.count()).To(Equal(1))

	e.clock.Set(e.clock.Now().Add(30 * time.Second))
	_, err = e.mgr.Token(ctx)
	g.Expect(auth.IsCredentialError(err)).To(BeTrue())
	g.Expect(e.srv.count()).To(Equal(2))

	// New credentials are tried at once.
	e.srv.register("cl_new", &e.key.PublicKey)
	g.Expect(e.mgr.UpdateCredentials("cl_new", e.keyPEM)).To(Succeed())
	_, err = e.mgr.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.srv.count()).To(Equal(3))
}
