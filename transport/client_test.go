package transport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/obsyk/obsyk-hub/auth"
)

func heartbeat() *HeartbeatPayload { return &HeartbeatPayload{ClusterUID: "cluster-1"} }

func TestErrorPolicy(t *testing.T) {
	type check func(g *WithT, err error, reqs []seen, p *fakePlatform, elapsed time.Duration)
	cases := []struct {
		name    string
		api     func(w http.ResponseWriter, r *http.Request, n int)
		timeout time.Duration // of the caller's context; default 10s
		tune    func(o *Options)
		check   check
	}{
		{
			name: "a 2xx answer is success after one request, its body ignored",
			api: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusAccepted)
				_, _ = w.Write([]byte(strings.Repeat("x", 200<<10)))
			},
			check: func(g *WithT, err error, reqs []seen, p *fakePlatform, _ time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(1))
				g.Expect(p.tokenRequests.Load()).To(BeEquivalentTo(1))
			},
		},
		{
			name: "a 401 drops the token, fetches a new one and retries once",
			api: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.WriteHeader(http.StatusOK)
			},
			check: func(g *WithT, err error, reqs []seen, p *fakePlatform, _ time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(2))
				g.Expect(p.tokenRequests.Load()).To(BeEquivalentTo(2))
				g.Expect(reqs[0].Authorization).To(Equal("Bearer tok-1"))
				g.Expect(reqs[1].Authorization).To(Equal("Bearer tok-2"))
			},
		},
		{
			name: "a second 401 is a permanent authorization error",
			api: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusUnauthorized)
			},
			check: func(g *WithT, err error, reqs []seen, p *fakePlatform, _ time.Duration) {
				g.Expect(IsPermanent(err)).To(BeTrue(), "%v", err)
				g.Expect(errors.Is(err, ErrUnauthorized)).To(BeTrue())
				var pe *PermanentError
				g.Expect(errors.As(err, &pe)).To(BeTrue())
				g.Expect(pe.StatusCode).To(Equal(401))
				g.Expect(reqs).To(HaveLen(2))
				g.Expect(p.tokenRequests.Load()).To(BeEquivalentTo(2))
			},
		},
		{
			name: "a 429 waits for its Retry-After seconds and then succeeds",
			api: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusOK)
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(2))
				g.Expect(reqs[1].At.Sub(reqs[0].At)).To(BeNumerically(">=", 950*time.Millisecond))
			},
		},
		{
			name: "a 429 with an HTTP-date waits until that date",
			api: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusOK)
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(2))
				// The date has whole seconds, so the wait is between 1 and 2 s.
				g.Expect(reqs[1].At.Sub(reqs[0].At)).To(BeNumerically(">=", 900*time.Millisecond))
			},
		},
		{
			name: "a Retry-After longer than RetryAfterCap is capped",
			api: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "3600")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusOK)
			},
			tune: func(o *Options) { o.RetryAfterCap = 100 * time.Millisecond },
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, elapsed time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(2))
				g.Expect(elapsed).To(BeNumerically("<", 5*time.Second))
			},
		},
		{
			name: "429s without Retry-After back off and do not use up the five attempts",
			api: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n <= 8 {
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusOK)
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(9))
			},
		},
		{
			name: "a 429 asking to wait past the context deadline fails temporarily at once",
			api: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			timeout: 2 * time.Second,
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, elapsed time.Duration) {
				g.Expect(IsTemporary(err)).To(BeTrue(), "%v", err)
				var te *TemporaryError
				g.Expect(errors.As(err, &te)).To(BeTrue())
				g.Expect(te.StatusCode).To(Equal(429))
				g.Expect(te.RetryAfter).To(Equal(30 * time.Second))
				g.Expect(reqs).To(HaveLen(1))
				g.Expect(elapsed).To(BeNumerically("<", time.Second))
			},
		},
		{
			name: "a 400 is permanent, not retried, and its body is bounded",
			api: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte("bad " + strings.Repeat("y", 5000)))
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				var pe *PermanentError
				g.Expect(errors.As(err, &pe)).To(BeTrue(), "%v", err)
				g.Expect(pe.StatusCode).To(Equal(400))
				g.Expect(pe.Body).To(HavePrefix("bad "))
				g.Expect(len(pe.Body)).To(BeNumerically("<=", 1024))
				g.Expect(IsTemporary(err)).To(BeFalse())
				g.Expect(reqs).To(HaveLen(1))
			},
		},
		{
			name: "a redirect is not followed and counts as a permanent refusal",
			api: func(w http.ResponseWriter, r *http.Request, _ int) {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				var pe *PermanentError
				g.Expect(errors.As(err, &pe)).To(BeTrue(), "%v", err)
				g.Expect(pe.StatusCode).To(Equal(302))
				g.Expect(reqs).To(HaveLen(1))
			},
		},
		{
			name: "an always-503 server sees exactly five requests, then the error is temporary",
			api: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusServiceUnavailable)
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				var te *TemporaryError
				g.Expect(errors.As(err, &te)).To(BeTrue(), "%v", err)
				g.Expect(te.Attempts).To(Equal(5))
				g.Expect(te.StatusCode).To(Equal(503))
				g.Expect(IsPermanent(err)).To(BeFalse())
				g.Expect(reqs).To(HaveLen(5))
			},
		},
		{
			name: "5xx retries back off exponentially",
			api: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusInternalServerError)
			},
			tune: func(o *Options) { o.BackoffBase, o.BackoffMax = 40*time.Millisecond, time.Second },
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				g.Expect(IsTemporary(err)).To(BeTrue())
				g.Expect(reqs).To(HaveLen(5))
				// 40, 80, 160, 320 ms, each ±20 %.
				for i, want := range []time.Duration{40, 80, 160, 320} {
					gap := reqs[i+1].At.Sub(reqs[i].At)
					g.Expect(gap).To(BeNumerically(">=", want*time.Millisecond*8/10), "gap %d", i)
				}
			},
		},
		{
			name: "a connection dropped before any response is retried",
			api: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					hijackAndClose(w)
					return
				}
				w.WriteHeader(http.StatusOK)
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(2))
				g.Expect(reqs[1].Body).To(Equal(reqs[0].Body))
			},
		},
		{
			name: "a response dropped after the request was processed is retried",
			api: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n <= 2 {
					// The body was read in full (the request is processed); the answer is lost.
					hijackAndClose(w)
					return
				}
				w.WriteHeader(http.StatusOK)
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(3))
				g.Expect(reqs[0].Body).NotTo(BeEmpty())
			},
		},
		{
			name: "an attempt slower than RequestTimeout is abandoned and retried",
			api: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					<-r.Context().Done()
					return
				}
				w.WriteHeader(http.StatusOK)
			},
			tune: func(o *Options) { o.RequestTimeout = 200 * time.Millisecond },
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, _ time.Duration) {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(reqs).To(HaveLen(2))
			},
		},
		{
			name: "the caller's deadline ends the retries with a temporary error wrapping it",
			api: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusBadGateway)
			},
			timeout: 300 * time.Millisecond,
			tune: func(o *Options) {
				o.BackoffBase, o.BackoffMax, o.MaxAttempts = 100*time.Millisecond, 100*time.Millisecond, 100
			},
			check: func(g *WithT, err error, reqs []seen, _ *fakePlatform, elapsed time.Duration) {
				g.Expect(IsTemporary(err)).To(BeTrue(), "%v", err)
				g.Expect(len(reqs)).To(BeNumerically(">=", 2))
				g.Expect(elapsed).To(BeNumerically("<", 2*time.Second))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			p := newFakePlatform(t, tc.api)
			opts := p.options(t)
			if tc.tune != nil {
				tc.tune(&opts)
			}
			c, err := NewClient(opts)
			g.Expect(err).NotTo(HaveOccurred())
			t.Cleanup(c.Close)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			err = c.SendHeartbeat(ctx, heartbeat())
			tc.check(g, err, p.seen(), p, time.Since(start))
		})
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	t.Run("credentials rejected by the token endpoint are a permanent error and nothing is sent", func(t *testing.T) {
		g := NewWithT(t)
		p := newFakePlatform(t, nil)
		p.tokenStatus.Store(http.StatusBadRequest)
		c, err := NewClient(p.options(t))
		g.Expect(err).NotTo(HaveOccurred())
		err = c.SendHeartbeat(context.Background(), heartbeat())
		g.Expect(IsPermanent(err)).To(BeTrue(), "%v", err)
		g.Expect(auth.IsCredentialError(err)).To(BeTrue())
		g.Expect(p.seen()).To(BeEmpty())
	})
	t.Run("an unreachable token endpoint is a temporary error bounded by the caller's context", func(t *testing.T) {
		g := NewWithT(t)
		p := newFakePlatform(t, nil)
		p.tokenStatus.Store(http.StatusServiceUnavailable)
		c, err := NewClient(p.options(t))
		g.Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		err = c.SendHeartbeat(ctx, heartbeat())
		g.Expect(IsTemporary(err)).To(BeTrue(), "%v", err)
		g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())
		g.Expect(p.seen()).To(BeEmpty())
	})
}

func TestRequestsCarryTheContractHeaders(t *testing.T) {
	g := NewWithT(t)
	p := newFakePlatform(t, nil)
	opts := p.options(t)
	opts.PlatformURL += "/" // verbatim: a trailing slash gives a double slash
	opts.AgentVersion = "v1.2.3"
	c, err := NewClient(opts)
	g.Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	ctx := context.Background()

	g.Expect(c.SendHeartbeat(ctx, heartbeat())).To(Succeed())
	g.Expect(c.SendEvent(ctx, &EventPayload{ClusterUID: "cluster-1", Type: EventDeleted, Kind: KindNode,
		UID: "u", Name: "n", Object: (*NodeInfo)(nil)})).To(Succeed())
	g.Expect(c.SendSnapshot(ctx, &SnapshotPayload{ClusterUID: "cluster-1", ClusterName: "c"})).To(Succeed())

	reqs := p.seen()
	g.Expect(reqs).To(HaveLen(3))
	g.Expect(reqs[0].Path).To(Equal("//api/v1/agent/heartbeat"))
	g.Expect(reqs[1].Path).To(Equal("//api/v1/agent/events"))
	g.Expect(reqs[2].Path).To(Equal("//api/v1/agent/snapshot"))
	for _, r := range reqs {
		g.Expect(r.Authorization).To(Equal("Bearer tok-1"))
		g.Expect(r.ContentType).To(Equal("application/json"))
		g.Expect(r.UserAgent).To(Equal("obsyk-hub/v1.2.3"))
		g.Expect(r.ContentLength).To(BeEquivalentTo(len(r.Body)))
	}
	g.Expect(string(reqs[0].Body)).To(Equal(`{"cluster_uid":"cluster-1","agent_version":"v1.2.3"}`))
	g.Expect(string(reqs[1].Body)).To(Equal(`{"cluster_uid":"cluster-1","type":"deleted","kind":"Node","uid":"u","name":"n"}`))
	g.Expect(string(reqs[2].Body)).To(HavePrefix(`{"cluster_uid":"cluster-1","cluster_name":"c","agent_version":"v1.2.3","namespaces":[]`))
	g.Expect(p.tokenIssuers()).To(Equal([]string{"client-a"}))
}

func TestAStreamedSnapshotIsResentIdenticallyOnRetry(t *testing.T) {
	g := NewWithT(t)
	p := newFakePlatform(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c, err := NewClient(p.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	snap := bigSnapshot(2000)
	g.Expect(c.SendSnapshot(context.Background(), snap)).To(Succeed())

	withVersion := *snap
	withVersion.AgentVersion = "dev" // the client's default fills the empty agent_version
	want, err := json.Marshal(&withVersion)
	g.Expect(err).NotTo(HaveOccurred())
	reqs := p.seen()
	g.Expect(reqs).To(HaveLen(2))
	for _, r := range reqs {
		g.Expect(r.ContentLength).To(BeEquivalentTo(len(want)))
		g.Expect(r.Body).To(Equal(want))
	}
}

func TestInvalidEventsAreRefusedWithoutARequest(t *testing.T) {
	g := NewWithT(t)
	p := newFakePlatform(t, nil)
	c, err := NewClient(p.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	err = c.SendEvent(context.Background(), &EventPayload{ClusterUID: "c", Type: EventModified, Kind: KindPod, UID: "u", Name: "n"})
	g.Expect(IsPermanent(err)).To(BeTrue())
	g.Expect(errors.Is(err, ErrInvalidPayload)).To(BeTrue())
	g.Expect(p.seen()).To(BeEmpty())
	g.Expect(p.tokenRequests.Load()).To(BeZero())
}

func TestNewClientValidatesOptions(t *testing.T) {
	_, keyPEM := newKey(t)
	cases := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"an https platform with credentials is accepted",
			Options{PlatformURL: "https://api.obsyk.example", ClientID: "c", PrivateKeyPEM: keyPEM}, ""},
		{"an http platform is rejected by default",
			Options{PlatformURL: "http://api.obsyk.example", ClientID: "c", PrivateKeyPEM: keyPEM}, "https"},
		{"an http platform is accepted when insecure HTTP is allowed",
			Options{PlatformURL: "http://api.obsyk.example", ClientID: "c", PrivateKeyPEM: keyPEM, AllowInsecureHTTP: true}, ""},
		{"a missing platform URL is rejected",
			Options{ClientID: "c", PrivateKeyPEM: keyPEM}, "platform URL is required"},
		{"another scheme is rejected",
			Options{PlatformURL: "ftp://x", ClientID: "c", PrivateKeyPEM: keyPEM}, "https"},
		{"a missing client ID is rejected",
			Options{PlatformURL: "https://x", PrivateKeyPEM: keyPEM}, "client ID"},
		{"a missing key is rejected",
			Options{PlatformURL: "https://x", ClientID: "c"}, "private key"},
		{"a key that is not PEM is rejected without echoing it",
			Options{PlatformURL: "https://x", ClientID: "c", PrivateKeyPEM: []byte("SECRETKEYMATERIAL")}, "credentials"},
		{"a CA bundle without certificates is rejected",
			Options{PlatformURL: "https://x", ClientID: "c", PrivateKeyPEM: keyPEM, CABundle: []byte("nope")}, "CA bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			c, err := NewClient(tc.opts)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				c.Close()
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
			g.Expect(err.Error()).NotTo(ContainSubstring("SECRETKEYMATERIAL"))
			g.Expect(err.Error()).NotTo(ContainSubstring(string(keyPEM[40:80])))
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 11, 20, 14, 3, 11, 0, time.UTC)
	cases := []struct {
		name  string
		value string
		want  time.Duration
		ok    bool
	}{
		{"delta seconds are read as seconds", "7", 7 * time.Second, true},
		{"an HTTP-date is read as the time until it", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"an HTTP-date in the past means no wait", now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"a missing header is no value", "", 0, false},
		{"a negative number is no value", "-3", 0, false},
		{"garbage is no value", "soon", 0, false},
		{"a huge number is bounded", strconv.Itoa(1 << 40), 24 * time.Hour, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			d, ok := parseRetryAfter(tc.value, now)
			g.Expect(ok).To(Equal(tc.ok))
			g.Expect(d).To(Equal(tc.want))
		})
	}
}

func TestMetricsCountRequestsRetriesBytesAndRefreshes(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	g.Expect(NewMetrics(reg)).NotTo(BeNil(), "registering twice reuses the collectors")
	p := newFakePlatform(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusUnauthorized)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	opts := p.options(t)
	opts.Metrics = m
	c, err := NewClient(opts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.SendHeartbeat(context.Background(), heartbeat())).To(Succeed())

	hb := len(p.seen()[0].Body)
	g.Expect(testutil.ToFloat64(m.requests.WithLabelValues("heartbeat", "unauthorized"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.requests.WithLabelValues("heartbeat", "server_error"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.requests.WithLabelValues("heartbeat", "success"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.retries.WithLabelValues("heartbeat", "unauthorized"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.retries.WithLabelValues("heartbeat", "server_error"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.sentBytes.WithLabelValues("heartbeat"))).To(Equal(float64(3 * hb)))
	g.Expect(testutil.ToFloat64(m.tokenRefreshes.WithLabelValues("success"))).To(Equal(2.0))
	g.Expect(testutil.CollectAndCount(m.duration)).To(Equal(1))
	_, err = reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
}

func TestASnapshotThatChangesBetweenThePassesFailsPermanently(t *testing.T) {
	for _, delta := range []int64{-5, 5} {
		t.Run("a body "+strconv.FormatInt(-delta, 10)+" bytes off the counted length is not retried", func(t *testing.T) {
			g := NewWithT(t)
			p := newFakePlatform(t, nil)
			c, err := NewClient(p.options(t))
			g.Expect(err).NotTo(HaveOccurred())
			s := bigSnapshot(200)
			counted := snapshotLength(s, "dev") + delta
			err = c.send(context.Background(), request{endpoint: endpointSnapshot, path: pathSnapshot, length: counted,
				open: func() io.ReadCloser { return newSnapshotReader(s, "dev", counted) }})
			g.Expect(IsPermanent(err)).To(BeTrue(), "%v", err)
			g.Expect(errors.Is(err, ErrInvalidPayload)).To(BeTrue())
			g.Expect(len(p.seen())).To(BeNumerically("<=", 1))
		})
	}
}

func TestAnEchoOfTheTokenInARefusalIsRedacted(t *testing.T) {
	g := NewWithT(t)
	p := newFakePlatform(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("forbidden for " + r.Header.Get("Authorization")))
	})
	c, err := NewClient(p.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	err = c.SendHeartbeat(context.Background(), heartbeat())
	g.Expect(IsPermanent(err)).To(BeTrue())
	g.Expect(err.Error()).To(ContainSubstring("forbidden for Bearer [redacted]"))
	g.Expect(err.Error()).NotTo(ContainSubstring("tok-1"))
}
