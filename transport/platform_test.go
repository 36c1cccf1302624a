package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/e2e/platform"
)

// simOptions registers a fresh key for clientID with the simulator and returns Options that
// reach it over real HTTPS, trusting only its CA through CABundle.
func simOptions(t testing.TB, sim *platform.Server, clientID string) Options {
	t.Helper()
	key, keyPEM := newKey(t)
	sim.RegisterClient(clientID, &key.PublicKey)
	return Options{
		PlatformURL:   sim.URL(),
		ClientID:      clientID,
		PrivateKeyPEM: keyPEM,
		CABundle:      sim.CACertPEM(),
		AgentVersion:  "v0.0.0-test",
		BackoffBase:   20 * time.Millisecond,
		BackoffMax:    200 * time.Millisecond,
	}
}

// canonicalJSON re-encodes v through generic values, so two encodings compare equal when
// they hold the same data.
func canonicalJSON(g *WithT, v any) string {
	b, err := json.Marshal(v)
	g.Expect(err).NotTo(HaveOccurred())
	var generic any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	g.Expect(d.Decode(&generic)).To(Succeed())
	out, err := json.Marshal(generic)
	g.Expect(err).NotTo(HaveOccurred())
	return string(out)
}

// expectState checks that the simulator holds exactly recs for the cluster, field by field.
func expectState(g *WithT, sim *platform.Server, clusterUID string, recs []Record) {
	state := sim.Cluster(clusterUID)
	total := 0
	for _, byUID := range state.Objects {
		total += len(byUID)
	}
	g.Expect(total).To(Equal(len(recs)))
	for _, r := range recs {
		uid, name, ns := identity(r)
		obj, ok := state.Get(string(r.Kind()), uid)
		g.Expect(ok).To(BeTrue(), "%s %s missing", r.Kind(), uid)
		g.Expect(obj.Name).To(Equal(name))
		g.Expect(obj.Namespace).To(Equal(ns))
		g.Expect(canonicalJSON(g, obj.Record)).To(Equal(canonicalJSON(g, r)), "%s %s", r.Kind(), uid)
	}
}

func TestTheSimulatorAcceptsEveryBodyOverHTTPS(t *testing.T) {
	g := NewWithT(t)
	sim := platform.StartForTest(t, platform.Options{})
	c, err := NewClient(simOptions(t, sim, "client-all"))
	g.Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const cluster = "cluster-all"

	// A snapshot with every record type and every field set.
	first := fullRecords("a")
	g.Expect(c.SendSnapshot(ctx, snapshotOf(cluster, first))).To(Succeed())
	expectState(g, sim, cluster, first)
	g.Expect(sim.Cluster(cluster).ClusterName).To(Equal("name-" + cluster))
	g.Expect(sim.Cluster(cluster).AgentVersion).To(Equal("v0.0.0-test"))

	// An added, a modified and a deleted event of every kind.
	second := fullRecords("b")
	for _, r := range second {
		g.Expect(c.SendEvent(ctx, eventFor(cluster, EventAdded, r))).To(Succeed(), "added %s", r.Kind())
	}
	expectState(g, sim, cluster, append(append([]Record(nil), first...), second...))
	modified := fullRecords("a")
	for _, r := range modified {
		if p, ok := r.(*PodInfo); ok {
			p.Phase, p.Containers[0].RestartCount = "Failed", 9
		}
		g.Expect(c.SendEvent(ctx, eventFor(cluster, EventModified, r))).To(Succeed(), "modified %s", r.Kind())
	}
	for _, r := range second {
		g.Expect(c.SendEvent(ctx, eventFor(cluster, EventDeleted, r))).To(Succeed(), "deleted %s", r.Kind())
	}
	expectState(g, sim, cluster, modified)
	g.Expect(sim.Cluster(cluster).Events).To(Equal(3 * len(Kinds)))
	g.Expect(sim.Cluster(cluster).UnknownDeletes).To(BeZero())

	g.Expect(c.SendHeartbeat(ctx, &HeartbeatPayload{ClusterUID: cluster, AgentVersion: "v9"})).To(Succeed())
	g.Expect(sim.Cluster(cluster).Heartbeats).To(Equal(1))
	g.Expect(sim.Cluster(cluster).AgentVersion).To(Equal("v9"))

	// An empty snapshot replaces everything.
	g.Expect(c.SendSnapshot(ctx, &SnapshotPayload{ClusterUID: cluster, ClusterName: "n"})).To(Succeed())
	expectState(g, sim, cluster, nil)

	stats := sim.Stats()
	g.Expect(stats.MissingContentLength).To(BeZero())
	reqs := sim.Requests()
	g.Expect(reqs).To(HaveLen(1 + 2 + 3*len(Kinds) + 1)) // a token, 2 snapshots, the events, a heartbeat
	for _, r := range reqs {
		g.Expect(r.ContentLengthPresent).To(BeTrue(), "%s %s", r.Endpoint, r.Path)
		g.Expect(r.Status).To(Equal(http.StatusOK), "%s: %s", r.Endpoint, r.Error)
	}
}

func TestSimulatorFaultsAreRetriedUntilDelivered(t *testing.T) {
	cases := []struct {
		name  string
		fault platform.Fault
		// requests is how many event requests the simulator sees; accepted how many it applied.
		requests, accepted int
	}{
		{"two 503s are retried", platform.Fault{Mode: platform.FaultStatus, Status: 503, Count: 2}, 3, 1},
		{"a 429 with Retry-After is waited out",
			platform.Fault{Mode: platform.FaultRateLimited, RetryAfter: time.Second, Count: 1}, 2, 1},
		{"a 429 with an HTTP-date is waited out",
			platform.Fault{Mode: platform.FaultRateLimited, RetryAfter: time.Second, RetryAfterHTTPDate: true, Count: 1}, 2, 1},
		{"a closed connection is retried", platform.Fault{Mode: platform.FaultCloseConnection, Count: 1}, 2, 1},
		{"a response dropped after processing is retried, so the platform applies the change twice",
			platform.Fault{Mode: platform.FaultDropResponse, Count: 1}, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sim := platform.StartForTest(t, platform.Options{})
			c, err := NewClient(simOptions(t, sim, "client-f"))
			g.Expect(err).NotTo(HaveOccurred())
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			g.Expect(c.SendSnapshot(ctx, snapshotOf("cl", nil))).To(Succeed())

			f := tc.fault
			f.Endpoints = []platform.Endpoint{platform.EndpointEvents}
			_, err = sim.Faults().Inject(f)
			g.Expect(err).NotTo(HaveOccurred())
			rec := fullRecords("x")[1]
			g.Expect(c.SendEvent(ctx, eventFor("cl", EventAdded, rec))).To(Succeed())

			expectState(g, sim, "cl", []Record{rec})
			eventRequests := 0
			for _, n := range sim.Stats().Requests[platform.EndpointEvents] {
				eventRequests += n
			}
			g.Expect(eventRequests).To(Equal(tc.requests))
			g.Expect(sim.Cluster("cl").Events).To(Equal(tc.accepted))
		})
	}
}

func TestExpiredTokensAreReplacedTransparently(t *testing.T) {
	g := NewWithT(t)
	sim := platform.StartForTest(t, platform.Options{})
	c, err := NewClient(simOptions(t, sim, "client-exp"))
	g.Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	ctx := context.Background()
	g.Expect(c.SendHeartbeat(ctx, &HeartbeatPayload{ClusterUID: "cl"})).To(Succeed())
	sim.Faults().ExpireTokens()
	g.Expect(c.SendHeartbeat(ctx, &HeartbeatPayload{ClusterUID: "cl"})).To(Succeed())
	g.Expect(sim.Cluster("cl").Heartbeats).To(Equal(2))
	g.Expect(sim.Stats().Requests[platform.EndpointHeartbeat][http.StatusUnauthorized]).To(Equal(1))
	g.Expect(sim.Stats().Clients["client-exp"].TokenRequests).To(Equal(2))
}

func TestConcurrentSendsThroughAPoolWithShortLivedTokens(t *testing.T) {
	g := NewWithT(t)
	const (
		lifetime   = time.Second
		clients    = 20
		goroutines = 200
		rounds     = 5
		// Each goroutine sends once per period, the goroutines spread evenly over it. The pace keeps request latency well under the token lifetime even under
		// the race detector on two cores; saturating the CPU instead would make tokens
		// expire in flight, which is the test bed's limit, not the client's.
		period = time.Second
	)
	sim := platform.StartForTest(t, platform.Options{TokenLifetime: lifetime, RequestLogSize: -1})
	pool := NewPool(PoolOptions{Metrics: NewMetrics(nil)})
	defer pool.Close()
	opts := make([]Options, clients)
	for i := range opts {
		opts[i] = simOptions(t, sim, fmt.Sprintf("client-%02d", i))
	}
	ctx := context.Background()
	for i := range clients {
		c, err := pool.Get(fmt.Sprintf("ns/agent-%02d", i), opts[i])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(c.SendSnapshot(ctx, snapshotOf(fmt.Sprintf("cluster-%02d", i), nil))).To(Succeed())
	}

	var (
		sent, failed, maxLatency atomic.Int64
		firstErr                 atomic.Value
		perCluster               [clients]atomic.Int64
		wg                       sync.WaitGroup
	)
	start := time.Now()
	for w := range goroutines {
		wg.Go(func() {
			i := w % clients
			<-time.After(period * time.Duration(w) / goroutines) // spread the goroutines over the period
			tick := time.NewTicker(period)
			defer tick.Stop()
			for n := range rounds {
				c, err := pool.Get(fmt.Sprintf("ns/agent-%02d", i), opts[i])
				if err == nil {
					name := fmt.Sprintf("ns-%d-%d", w, n)
					sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
					t0 := time.Now()
					err = c.SendEvent(sendCtx, eventFor(fmt.Sprintf("cluster-%02d", i), EventAdded,
						&NamespaceInfo{UID: name, Name: name, CreatedAt: Unix(1)}))
					if d := int64(time.Since(t0)); d > maxLatency.Load() {
						maxLatency.Store(d) // racy maximum, good enough for a log line
					}
					cancel()
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					sent.Add(1)
					perCluster[i].Add(1)
				}
				<-tick.C
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	g.Expect(failed.Load()).To(BeZero(), "first error: %v", firstErr.Load())
	g.Expect(sent.Load()).To(BeEquivalentTo(goroutines * rounds))
	stats := sim.Stats()
	g.Expect(stats.MissingContentLength).To(BeZero())
	for i := range clients {
		g.Expect(sim.Cluster(fmt.Sprintf("cluster-%02d", i)).Count("Namespace")).To(BeEquivalentTo(perCluster[i].Load()))
	}
	// A token lives 1 s and is renewed at 80 % of its life: about one request per client per
	// lifetime, plus the first and some slack for renewals that straddle the end.
	maxPerClient := int(elapsed/(lifetime*8/10)) + 3
	for i := range clients {
		cs := stats.Clients[fmt.Sprintf("client-%02d", i)]
		g.Expect(cs.TokenRequests).To(BeNumerically(">=", rounds-1), "client %d", i)
		g.Expect(cs.TokenRequests).To(BeNumerically("<=", maxPerClient), "client %d", i)
	}
	t.Logf("%d events in %s by %d goroutines over %d clients; %d token requests; %d 401s; slowest send %s",
		sent.Load(), elapsed.Round(time.Millisecond), goroutines, clients,
		stats.Requests[platform.EndpointToken][http.StatusOK], stats.Requests[platform.EndpointEvents][http.StatusUnauthorized],
		time.Duration(maxLatency.Load()).Round(time.Millisecond))
}

// secretsRecorder wraps a transport and remembers every assertion and access token that
// crosses it, so a test can look for them elsewhere.
type secretsRecorder struct {
	base http.RoundTripper

	mu      sync.Mutex
	secrets map[string]bool
}

func (s *secretsRecorder) add(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	s.secrets[v] = true
	s.mu.Unlock()
}

func (s *secretsRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/oauth/token") && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		if form, err := url.ParseQuery(string(body)); err == nil {
			s.add(form.Get("assertion"))
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.add(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
	resp, err := s.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/oauth/token") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tok)
	s.add(tok.AccessToken)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (s *secretsRecorder) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.secrets))
	for v := range s.secrets {
		out = append(out, v)
	}
	return out
}

func TestNoSecretReachesTheLogsAtTheHighestVerbosity(t *testing.T) {
	g := NewWithT(t)
	var (
		logMu sync.Mutex
		logs  strings.Builder
	)
	logger := funcr.New(func(prefix, args string) {
		logMu.Lock()
		defer logMu.Unlock()
		logs.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})

	sim := platform.StartForTest(t, platform.Options{TokenLifetime: 2 * time.Second})
	rec := &secretsRecorder{base: sim.HTTPClient().Transport, secrets: map[string]bool{}}
	hc := &http.Client{Transport: rec}
	pool := NewPool(PoolOptions{Logger: logger, HTTPClient: hc})
	defer pool.Close()

	opts := simOptions(t, sim, "client-logs")
	keyPEM := opts.PrivateKeyPEM
	c, err := pool.Get("ns/agent", opts)
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Every scenario of this file, faults included, so every log line is produced.
	g.Expect(c.SendSnapshot(ctx, snapshotOf("cl", fullRecords("a")))).To(Succeed())
	for _, f := range []platform.Fault{
		{Mode: platform.FaultStatus, Status: 503, Count: 2},
		{Mode: platform.FaultRateLimited, RetryAfter: time.Second, Count: 1},
		{Mode: platform.FaultCloseConnection, Count: 1},
		{Mode: platform.FaultDropResponse, Count: 1},
		{Mode: platform.FaultStatus, Status: 503, Count: 1, Endpoints: []platform.Endpoint{platform.EndpointToken}},
	} {
		_, err := sim.Faults().Inject(f)
		g.Expect(err).NotTo(HaveOccurred())
		for _, r := range fullRecords("b")[:3] {
			g.Expect(c.SendEvent(ctx, eventFor("cl", EventAdded, r))).To(Succeed())
		}
		sim.Faults().ExpireTokens()
	}
	// Tokens run out and are renewed in the background while heartbeats go on.
	before := sim.Stats().Clients["client-logs"].TokenRequests
	g.Eventually(func() int {
		_ = c.SendHeartbeat(ctx, &HeartbeatPayload{ClusterUID: "cl"})
		return sim.Stats().Clients["client-logs"].TokenRequests
	}).WithTimeout(15 * time.Second).WithPolling(200 * time.Millisecond).Should(BeNumerically(">=", before+2))
	// Permanent failures: a body the platform rejects, then credentials it rejects.
	bad := fullRecords("c")[1].(*PodInfo)
	bad.Annotations = map[string]string{"kubernetes.io/psp": "x"}
	g.Expect(IsPermanent(c.SendEvent(ctx, eventFor("cl", EventAdded, bad)))).To(BeTrue())
	_, otherKey := newKey(t)
	opts.PrivateKeyPEM = otherKey
	_, err = pool.Get("ns/agent", opts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(IsPermanent(c.SendHeartbeat(ctx, &HeartbeatPayload{ClusterUID: "cl"}))).To(BeTrue())

	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	g.Expect(out).To(ContainSubstring("retrying request"), "the test must see the retry logs")
	g.Expect(out).To(ContainSubstring(`"agent"="ns/agent"`))
	secrets := rec.all()
	g.Expect(len(secrets)).To(BeNumerically(">=", 8))
	for _, s := range secrets {
		g.Expect(out).NotTo(ContainSubstring(s))
	}
	g.Expect(out).NotTo(ContainSubstring("eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"), "no assertion")
	g.Expect(out).NotTo(ContainSubstring("PRIVATE KEY"))
	for _, pemKey := range [][]byte{keyPEM, otherKey} {
		for _, line := range strings.Split(string(pemKey), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				g.Expect(out).NotTo(ContainSubstring(line))
			}
		}
	}
}
