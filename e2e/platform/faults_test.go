package platform

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func heartbeat(cluster string) map[string]any { return map[string]any{"cluster_uid": cluster} }

func TestStatusFaultFailsTheNextRequests(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_f1")
	_, err := sim.Faults().Inject(Fault{Mode: FaultStatus, Status: 502, Count: 2})
	g.Expect(err).NotTo(HaveOccurred())

	var statuses []int
	for range 3 {
		status, body, err := a.postValue(PathHeartbeat, heartbeat("c1"))
		g.Expect(err).NotTo(HaveOccurred())
		statuses = append(statuses, status)
		if status != http.StatusOK {
			g.Expect(decodeError(t, body).Error).To(Equal("injected_fault"))
		}
	}
	g.Expect(statuses).To(Equal([]int{502, 502, 200}))
	g.Expect(sim.Cluster("c1").Heartbeats).To(Equal(1), "a failed request is not processed")
	g.Expect(sim.Faults().Active()).To(BeEmpty(), "a used-up fault is removed")
	st := sim.Stats()
	g.Expect(st.FaultHits).To(HaveKeyWithValue(FaultStatus, 2))
	g.Expect(st.Total(EndpointHeartbeat, 502)).To(Equal(2))
}

func TestProbabilityFaultFailsAFraction(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{FaultSeed: 42})
	a := newTestAgent(t, sim, "cl_f2")
	_, err := sim.Faults().Inject(Fault{Mode: FaultStatus, Status: 500, Probability: 0.5})
	g.Expect(err).NotTo(HaveOccurred())
	failed := 0
	for range 60 {
		status, _, err := a.postValue(PathHeartbeat, heartbeat("c1"))
		g.Expect(err).NotTo(HaveOccurred())
		if status == 500 {
			failed++
		} else {
			g.Expect(status).To(Equal(200))
		}
	}
	g.Expect(failed).To(BeNumerically(">", 10))
	g.Expect(failed).To(BeNumerically("<", 50))
	g.Expect(sim.Cluster("c1").Heartbeats).To(Equal(60 - failed))
	g.Expect(sim.Stats().FaultHits[FaultStatus]).To(Equal(failed))
	g.Expect(sim.Faults().Active()).To(HaveLen(1), "a fault without Count stays")
}

func TestRateLimitedFaultSendsRetryAfter(t *testing.T) {
	clock := newFakeClock()
	sim := StartForTest(t, Options{Now: clock.Now})
	a := newTestAgent(t, sim, "cl_f3")
	cases := []struct {
		name  string
		fault Fault
		want  string
	}{
		{"delta-seconds are rounded up", Fault{Mode: FaultRateLimited, RetryAfter: 1500 * time.Millisecond, Count: 1}, "2"},
		{"an HTTP-date is now plus the delay", Fault{Mode: FaultRateLimited, RetryAfter: 30 * time.Second, RetryAfterHTTPDate: true, Count: 1},
			clock.Now().Add(30 * time.Second).Format(http.TimeFormat)},
		{"no delay leaves the header out", Fault{Mode: FaultRateLimited, Count: 1}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := sim.Faults().Inject(tc.fault)
			g.Expect(err).NotTo(HaveOccurred())
			req, err := http.NewRequest(http.MethodPost, sim.URL()+PathHeartbeat, nil)
			g.Expect(err).NotTo(HaveOccurred())
			resp, err := a.client.Do(req)
			g.Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
			g.Expect(resp.Header.Get("Retry-After")).To(Equal(tc.want))
		})
	}
	g := NewWithT(t)
	g.Expect(sim.Clusters()).To(BeEmpty())
}

func TestLatencyFaultDelaysThenProcesses(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_f4")
	_, err := sim.Faults().Inject(Fault{Mode: FaultLatency, Latency: 300 * time.Millisecond, Count: 1})
	g.Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	status, _, err := a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(time.Since(start)).To(BeNumerically(">=", 300*time.Millisecond))
	g.Expect(status).To(Equal(http.StatusOK))
	g.Expect(sim.Cluster("c1").Heartbeats).To(Equal(1))
	reqs := sim.Requests()
	last := reqs[len(reqs)-1]
	g.Expect(last.Latency).To(Equal(300 * time.Millisecond))
	g.Expect(last.BodyRead).To(BeNumerically(">=", 300*time.Millisecond), "the body is read after the injected latency")
	g.Expect(last.BodyRead).To(BeNumerically("<=", last.Duration))
}

func TestLatencyAddsUpAndTheFirstOtherFaultDecides(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_f5")
	fs := sim.Faults()
	for _, f := range []Fault{
		{Mode: FaultLatency, Latency: 50 * time.Millisecond, Count: 1},
		{Mode: FaultStatus, Status: 503, Count: 1},
		{Mode: FaultLatency, Latency: 70 * time.Millisecond, Count: 1},
		{Mode: FaultStatus, Status: 500, Count: 1},
	} {
		_, err := fs.Inject(f)
		g.Expect(err).NotTo(HaveOccurred())
	}
	status, _, err := a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(503))
	reqs := sim.Requests()
	g.Expect(reqs[len(reqs)-1].Latency).To(Equal(120 * time.Millisecond))
	g.Expect(reqs[len(reqs)-1].BodyRead).To(BeZero(), "a faulted request's body is drained, not read for processing")
	active := fs.Active()
	g.Expect(active).To(HaveLen(1), "the later status fault was not consulted")
	g.Expect(active[0].Status).To(Equal(500))
	g.Expect(active[0].Remaining).To(Equal(1))

	status, _, err = a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(500))
}

func TestExpireTokensFault(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_f6")
	status, _, err := a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK))

	sim.Faults().ExpireTokens()
	status, body, err := a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusUnauthorized))
	g.Expect(decodeError(t, body).Description).To(ContainSubstring("expired"))

	a.refresh()
	status, _, err = a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK), "a token issued after the expiry works")
	g.Expect(sim.Stats().TokenExpiries).To(Equal(1))
}

// protocols are the two ways a connection can be cut.
var protocols = []struct {
	name  string
	http2 bool
}{{"over HTTP/1.1", false}, {"over HTTP/2", true}}

func clientFor(sim *Server, http2 bool) *http.Client {
	c := sim.HTTPClient()
	c.Transport.(*http.Transport).ForceAttemptHTTP2 = http2
	return c
}

func TestCloseConnectionFault(t *testing.T) {
	for _, p := range protocols {
		t.Run("a closed connection gives the client an error and changes nothing "+p.name, func(t *testing.T) {
			g := NewWithT(t)
			sim := StartForTest(t, Options{})
			a := newTestAgent(t, sim, "cl_f7")
			a.client = clientFor(sim, p.http2)
			_, err := sim.Faults().Inject(Fault{Mode: FaultCloseConnection, Count: 1})
			g.Expect(err).NotTo(HaveOccurred())

			_, _, err = a.postValue(PathEvents, upsertEvent("c1", EventAdded, "Pod", minimalPod("p1", "web")))
			g.Expect(err).To(HaveOccurred())
			g.Expect(sim.Cluster("c1").Count("Pod")).To(Equal(0))
			reqs := sim.Requests()
			last := reqs[len(reqs)-1]
			g.Expect(last.Status).To(Equal(0))
			g.Expect(last.Fault).To(Equal(FaultCloseConnection))

			status, body, err := a.postValue(PathEvents, upsertEvent("c1", EventAdded, "Pod", minimalPod("p1", "web")))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusOK), "body %s", body)
			g.Expect(sim.Cluster("c1").Count("Pod")).To(Equal(1))
		})
	}
}

func TestDropResponseFault(t *testing.T) {
	for _, p := range protocols {
		t.Run("a dropped response has applied the event and the retry is tolerated "+p.name, func(t *testing.T) {
			g := NewWithT(t)
			sim := StartForTest(t, Options{})
			a := newTestAgent(t, sim, "cl_f8")
			a.client = clientFor(sim, p.http2)
			_, err := sim.Faults().Inject(Fault{Mode: FaultDropResponse, Count: 1, Endpoints: []Endpoint{EndpointEvents}})
			g.Expect(err).NotTo(HaveOccurred())
			ev := upsertEvent("c1", EventAdded, "Pod", minimalPod("p1", "web"))

			_, _, err = a.postValue(PathEvents, ev)
			g.Expect(err).To(HaveOccurred(), "the client sees a connection error")
			st := sim.Cluster("c1")
			g.Expect(st.Count("Pod")).To(Equal(1), "the state was applied before the response was dropped")
			reqs := sim.Requests()
			last := reqs[len(reqs)-1]
			g.Expect(last.ResponseDropped).To(BeTrue())
			g.Expect(last.Status).To(Equal(http.StatusOK))
			g.Expect(last.Accepted).To(BeTrue())

			// The client retries the same event.
			status, body, err := a.postValue(PathEvents, ev)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusOK), "body %s", body)
			st = sim.Cluster("c1")
			g.Expect(st.Count("Pod")).To(Equal(1))
			g.Expect(st.Events).To(Equal(2))

			// The same holds for a delete that is retried.
			_, err = sim.Faults().Inject(Fault{Mode: FaultDropResponse, Count: 1, Endpoints: []Endpoint{EndpointEvents}})
			g.Expect(err).NotTo(HaveOccurred())
			del := deleteEvent("c1", "Pod", "p1", "web", "shop")
			_, _, err = a.postValue(PathEvents, del)
			g.Expect(err).To(HaveOccurred())
			status, _, err = a.postValue(PathEvents, del)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusOK))
			st = sim.Cluster("c1")
			g.Expect(st.Count("Pod")).To(Equal(0))
			g.Expect(st.UnknownDeletes).To(Equal(1))
		})
	}
}

func TestDropResponseOnTheTokenEndpoint(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_f9")
	_, err := sim.Faults().Inject(Fault{Mode: FaultDropResponse, Count: 1, Endpoints: []Endpoint{EndpointToken}})
	g.Expect(err).NotTo(HaveOccurred())
	assertion := a.assertion()
	_, _, err = a.postToken(assertion)
	g.Expect(err).To(HaveOccurred())
	status, _, err := a.postToken(assertion)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusBadRequest), "the jti was consumed by the dropped request")
	status, _, err = a.postToken(a.assertion())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK))
}

func TestOutageWindow(t *testing.T) {
	g := NewWithT(t)
	clock := newFakeClock()
	sim := StartForTest(t, Options{Now: clock.Now})
	a := newTestAgent(t, sim, "cl_f10")
	_, err := sim.Faults().Inject(Fault{Mode: FaultStatus, Status: 503, Until: clock.Now().Add(time.Minute)})
	g.Expect(err).NotTo(HaveOccurred())

	for _, path := range []string{PathHeartbeat, PathSnapshot, PathEvents} {
		status, _, err := a.postValue(path, heartbeat("c1"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(status).To(Equal(503), path)
	}
	a.refresh() // the token endpoint is not part of the outage unless listed

	clock.Advance(59 * time.Second)
	status, _, err := a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(503))

	clock.Advance(time.Second)
	status, _, err = a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(200))
	g.Expect(sim.Faults().Active()).To(BeEmpty())
}

func TestTokenEndpointFaultsOnlyWhenListed(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_f11")
	_, err := sim.Faults().Inject(Fault{Mode: FaultStatus, Status: 500})
	g.Expect(err).NotTo(HaveOccurred())
	status, _, err := a.postToken(a.assertion())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(200))

	sim.Faults().Clear()
	id, err := sim.Faults().Inject(Fault{Mode: FaultStatus, Status: 503, Endpoints: []Endpoint{EndpointToken}})
	g.Expect(err).NotTo(HaveOccurred())
	status, _, err = a.postToken(a.assertion())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(503))
	status, _, err = a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(200), "API endpoints are not hit by a token-only fault")

	g.Expect(sim.Faults().Remove(id)).To(BeTrue())
	g.Expect(sim.Faults().Remove(id)).To(BeFalse())
	status, _, err = a.postToken(a.assertion())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(200))
}

func TestInvalidFaultsAreRefused(t *testing.T) {
	sim := StartForTest(t, Options{})
	cases := []struct {
		name  string
		fault Fault
	}{
		{"an unknown mode is refused", Fault{Mode: "explode"}},
		{"a 2xx status is refused", Fault{Mode: FaultStatus, Status: 204}},
		{"a latency fault without latency is refused", Fault{Mode: FaultLatency}},
		{"a probability above one is refused", Fault{Mode: FaultStatus, Probability: 1.5}},
		{"a negative count is refused", Fault{Mode: FaultStatus, Count: -1}},
		{"an unknown endpoint is refused", Fault{Mode: FaultStatus, Endpoints: []Endpoint{"admin"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := sim.Faults().Inject(tc.fault)
			g.Expect(err).To(HaveOccurred())
		})
	}
	g := NewWithT(t)
	id, err := sim.Faults().Inject(Fault{Mode: FaultStatus})
	g.Expect(err).NotTo(HaveOccurred())
	active := sim.Faults().Active()
	g.Expect(active).To(HaveLen(1))
	g.Expect(active[0].ID).To(Equal(id))
	g.Expect(active[0].Status).To(Equal(503), "the default status")
	g.Expect(active[0].Endpoints).To(Equal(APIEndpoints), "the default endpoints")
	g.Expect(active[0].Remaining).To(Equal(-1))
}
