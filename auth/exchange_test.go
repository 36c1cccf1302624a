package auth_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/auth"
)

// statusSequence answers with the given statuses in turn and a token after them.
func statusSequence(statuses ...int) func(int, tokenRequest, string) reply {
	return func(n int, _ tokenRequest, token string) reply {
		if n <= len(statuses) {
			st := statuses[n-1]
			return reply{status: st, body: oauthError("temporarily_unavailable", http.StatusText(st))}
		}
		return okReply(token, "3600")
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	cases := []struct {
		name         string
		respond      func(int, tokenRequest, string) reply
		maxAttempts  int
		wantRequests int
		wantToken    bool
		wantCredErr  bool
		wantInError  string
	}{
		{
			name:         "two 503s then a 200 succeed on the third request",
			respond:      statusSequence(503, 503),
			wantRequests: 3,
			wantToken:    true,
		},
		{
			name:         "a 500 on every attempt fails after MaxAttempts requests with a non-credential error",
			respond:      func(int, tokenRequest, string) reply { return reply{status: 500, body: "oops"} },
			maxAttempts:  4,
			wantRequests: 4,
			wantInError:  "failed after 4 attempts: token endpoint returned HTTP 500",
		},
		{
			name:         "the default MaxAttempts is five",
			respond:      func(int, tokenRequest, string) reply { return reply{status: 502} },
			wantRequests: 5,
			wantInError:  "HTTP 502",
		},
		{
			name:         "a 408 is retried",
			respond:      statusSequence(408),
			wantRequests: 2,
			wantToken:    true,
		},
		{
			name: "a 400 is a credential error after exactly one request",
			respond: func(int, tokenRequest, string) reply {
				return reply{status: 400, body: oauthError("invalid_grant", "assertion expired")}
			},
			wantRequests: 1,
			wantCredErr:  true,
			wantInError:  "HTTP 400 invalid_grant: assertion expired",
		},
		{
			name: "a 401 is a credential error after exactly one request",
			respond: func(int, tokenRequest, string) reply {
				return reply{status: 401, body: oauthError("invalid_client", "unknown key")}
			},
			wantRequests: 1,
			wantCredErr:  true,
			wantInError:  "HTTP 401 invalid_client: unknown key",
		},
		{
			name:         "a 403 is neither retried nor a credential error",
			respond:      func(int, tokenRequest, string) reply { return reply{status: 403} },
			wantRequests: 1,
			wantInError:  "HTTP 403",
		},
		{
			name: "a 201 is not success",
			respond: func(_ int, _ tokenRequest, token string) reply {
				r := okReply(token, "3600")
				r.status = 201
				return r
			},
			wantRequests: 1,
			wantInError:  "HTTP 201",
		},
		{
			name:         "a 200 without access_token fails without a retry",
			respond:      func(int, tokenRequest, string) reply { return reply{status: 200, body: `{"expires_in":3600}`} },
			wantRequests: 1,
			wantInError:  "no access_token",
		},
		{
			name:         "a 200 with an empty access_token fails",
			respond:      func(int, tokenRequest, string) reply { return reply{status: 200, body: `{"access_token":""}`} },
			wantRequests: 1,
			wantInError:  "no access_token",
		},
		{
			name: "a 200 with an access_token that cannot be a header value fails",
			respond: func(int, tokenRequest, string) reply {
				return reply{status: 200, body: `{"access_token":"a b\r\nX-Evil: 1"}`}
			},
			wantRequests: 1,
			wantInError:  "cannot be sent in a header",
		},
		{
			name:         "a 200 that is not JSON fails",
			respond:      func(int, tokenRequest, string) reply { return reply{status: 200, body: "<html>hello</html>"} },
			wantRequests: 1,
			wantInError:  "not a JSON object",
		},
		{
			name: "a 200 larger than the read limit fails",
			respond: func(_ int, _ tokenRequest, token string) reply {
				return reply{status: 200, body: `{"access_token":"` + token + `","pad":"` + strings.Repeat("x", 20<<10) + `"}`}
			},
			wantRequests: 1,
			wantInError:  "larger than",
		},
		{
			name: "expires_in as a numeric string is accepted",
			respond: func(_ int, _ tokenRequest, token string) reply {
				return reply{status: 200, body: `{"access_token":"` + token + `","expires_in":"3600"}`}
			},
			wantRequests: 1,
			wantToken:    true,
		},
		{
			name: "a dropped connection is retried",
			respond: func(n int, _ tokenRequest, token string) reply {
				if n == 1 {
					return reply{hijack: true}
				}
				return okReply(token, "3600")
			},
			wantRequests: 2,
			wantToken:    true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, func(o *auth.Options) { o.MaxAttempts = tc.maxAttempts })
			e.srv.set(func(s *tokenServer) { s.respond = tc.respond })

			tok, err := e.mgr.Token(context.Background())
			g.Expect(e.srv.problems()).To(BeEmpty())
			g.Expect(e.srv.count()).To(Equal(tc.wantRequests))
			g.Expect(e.refreshes()).To(HaveLen(1), "one exchange, one OnRefresh")
			if tc.wantToken {
				g.Expect(err).NotTo(HaveOccurred())
				_, issued := e.srv.snapshot()
				g.Expect(tok).To(Equal(issued[len(issued)-1]))
				g.Expect(e.refreshes()[0]).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(HaveOccurred())
			g.Expect(tok).To(BeEmpty())
			g.Expect(e.refreshes()[0]).To(MatchError(err))
			g.Expect(auth.IsCredentialError(err)).To(Equal(tc.wantCredErr))
			g.Expect(err.Error()).To(ContainSubstring(tc.wantInError))
		})
	}
}

func TestACredentialErrorCarriesTheOAuthError(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	long := strings.Repeat("é", 400) + "\x00\n"
	e.srv.set(func(s *tokenServer) {
		s.respond = func(int, tokenRequest, string) reply {
			return reply{status: 401, body: oauthError("invalid_client", long)}
		}
	})
	_, err := e.mgr.Token(context.Background())
	var ce *auth.CredentialError
	g.Expect(errors.As(err, &ce)).To(BeTrue())
	g.Expect(ce.Reason).To(Equal(auth.ReasonCredentialsRejected))
	g.Expect(ce.StatusCode).To(Equal(401))
	g.Expect(ce.OAuthError).To(Equal("invalid_client"))
	g.Expect(len(ce.OAuthErrorDescription)).To(BeNumerically("<=", 256+len("…")))
	g.Expect(ce.OAuthErrorDescription).To(HavePrefix("éé"))
	g.Expect(ce.OAuthErrorDescription).NotTo(ContainSubstring("\x00"))
}

func TestRetriesBackOffExponentially(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	auth.SetBackoffForTest(e.mgr, 200*time.Millisecond, 5*time.Second) // the real defaults
	e.srv.set(func(s *tokenServer) { s.respond = statusSequence(503, 503) })

	_, err := e.mgr.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	reqs, _ := e.srv.snapshot()
	g.Expect(reqs).To(HaveLen(3))
	// 200 ms then 400 ms, each ±25 %.
	g.Expect(reqs[1].at.Sub(reqs[0].at)).To(BeNumerically(">=", 150*time.Millisecond))
	g.Expect(reqs[2].at.Sub(reqs[1].at)).To(BeNumerically(">=", 300*time.Millisecond))
}

func TestA429WaitsForRetryAfter(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.srv.set(func(s *tokenServer) {
		s.respond = func(n int, _ tokenRequest, token string) reply {
			if n == 1 {
				return reply{status: 429, header: map[string]string{"Retry-After": "1"}}
			}
			return okReply(token, "3600")
		}
	})
	_, err := e.mgr.Token(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	reqs, _ := e.srv.snapshot()
	g.Expect(reqs).To(HaveLen(2))
	// The backoff is 5 ms in these tests; only Retry-After explains a full second.
	g.Expect(reqs[1].at.Sub(reqs[0].at)).To(BeNumerically(">=", time.Second))
}

func TestParseRetryAfter(t *testing.T) {
	const limit = 30 * time.Second
	cases := []struct {
		name  string
		value string
		want  time.Duration
		delta time.Duration
	}{
		{name: "delta seconds are honoured", value: "3", want: 3 * time.Second},
		{name: "delta seconds above the cap are capped", value: "3600", want: limit},
		{name: "a huge delta is capped without overflow", value: "99999999999999999", want: limit},
		{name: "an HTTP date in the future is honoured", value: time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat), want: 10 * time.Second, delta: 2 * time.Second},
		{name: "an HTTP date in the past means no wait", value: "Mon, 02 Jan 2006 15:04:05 GMT", want: 0},
		{name: "a missing value means no wait", value: "", want: 0},
		{name: "a negative value means no wait", value: "-5", want: 0},
		{name: "garbage means no wait", value: "soon", want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(auth.ParseRetryAfter(tc.value, limit)).To(BeNumerically("~", tc.want, tc.delta))
		})
	}
}

// countingTransport counts attempts and records whether each had a deadline.
type countingTransport struct {
	attempts     atomic.Int32
	noDeadline   atomic.Int32
	roundTripper http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.attempts.Add(1)
	if _, ok := r.Context().Deadline(); !ok {
		c.noDeadline.Add(1)
	}
	return c.roundTripper.RoundTrip(r)
}

func TestAnUnreachableEndpointIsRetriedThenFails(t *testing.T) {
	g := NewWithT(t)
	// A port that was just listening and is now closed: connections are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())

	ct := &countingTransport{roundTripper: http.DefaultTransport}
	m, err := auth.New(auth.Options{
		PlatformURL:   "http://" + addr,
		ClientID:      testClientID,
		PrivateKeyPEM: sec1PEM(t, newP256(t)),
		HTTPClient:    &http.Client{Transport: ct}, // no Timeout of its own
		MaxAttempts:   3,
	})
	g.Expect(err).NotTo(HaveOccurred())
	auth.SetBackoffForTest(m, 5*time.Millisecond, 20*time.Millisecond)

	_, err = m.Token(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("failed after 3 attempts")))
	g.Expect(auth.IsCredentialError(err)).To(BeFalse())
	g.Expect(ct.attempts.Load()).To(BeEquivalentTo(3))
	g.Expect(ct.noDeadline.Load()).To(BeEquivalentTo(0), "every attempt has a deadline")
}
