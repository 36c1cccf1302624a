package platform

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestRateWindowFindsTheBusiestSecond(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, base.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	paced := func(n int, every time.Duration) []time.Time {
		var out []time.Time
		for i := range n {
			out = append(out, base.Add(time.Duration(i)*every))
		}
		return out
	}
	cases := []struct {
		name  string
		times []time.Time
		want  int
	}{
		{"a single event is a window of one", at(0), 1},
		{"events exactly one second apart never share a window", at(0, 1000, 2000), 1},
		{"events just under one second apart share a window", at(0, 999), 2},
		{"a sender paced at 10/s has at most 10 in any second", paced(50, 100*time.Millisecond), 10},
		{"a sender paced at 20/s has at most 20 in any second", paced(100, 50*time.Millisecond), 20},
		{"a burst at one instant counts whole", at(0, 0, 0, 0, 0), 5},
		{"a burst after a paced run is the maximum", append(paced(5, 100*time.Millisecond), at(5000, 5000, 5001, 5002, 5500, 5999, 6000, 6001)...), 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var w rateWindow
			for _, ts := range tc.times {
				w.add(ts)
			}
			g.Expect(w.max).To(Equal(tc.want))

			// Arrival order does not matter.
			shuffled := append([]time.Time(nil), tc.times...)
			r := rand.New(rand.NewPCG(1, 2))
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			var w2 rateWindow
			for _, ts := range shuffled {
				w2.add(ts)
			}
			g.Expect(w2.max).To(Equal(tc.want))
		})
	}
}

func TestPerClientEventRateForAPacedSender(t *testing.T) {
	g := NewWithT(t)
	clock := newFakeClock()
	sim := StartForTest(t, Options{Now: clock.Now})
	a := newTestAgent(t, sim, "cl_rate")
	b := newTestAgent(t, sim, "cl_other")

	send := func(ag *testAgent, i int) int {
		t.Helper()
		status, _, err := ag.postValue(PathEvents, upsertEvent("c1", EventAdded, "Pod", minimalPod(fmt.Sprintf("p%d", i), "web")))
		g.Expect(err).NotTo(HaveOccurred())
		return status
	}
	// 30 events paced at 10/s (one every 100 ms on the simulator's clock).
	for i := range 30 {
		g.Expect(send(a, i)).To(Equal(200))
		clock.Advance(100 * time.Millisecond)
	}
	st := sim.Stats().Clients["cl_rate"]
	g.Expect(st.Events).To(Equal(30))
	g.Expect(st.MaxEventsPerSecond).To(Equal(10))

	// A burst of 15 within 300 ms, then a rejected event: it counts as a request, not an event.
	clock.Advance(5 * time.Second)
	for i := range 15 {
		g.Expect(send(a, 100+i)).To(Equal(200))
		clock.Advance(20 * time.Millisecond)
	}
	status, _, err := a.postValue(PathEvents, map[string]any{"cluster_uid": "c1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(400))

	// Another client's events are counted separately.
	for i := range 3 {
		g.Expect(send(b, 200+i)).To(Equal(200))
	}

	stats := sim.Stats()
	st = stats.Clients["cl_rate"]
	g.Expect(st.Events).To(Equal(45))
	g.Expect(st.EventRequests).To(Equal(46))
	g.Expect(st.MaxEventsPerSecond).To(Equal(15))
	g.Expect(st.MaxEventRequestsPerSecond).To(Equal(16))
	g.Expect(st.TokenRequests).To(Equal(1))
	g.Expect(stats.Clients["cl_other"].Events).To(Equal(3))
	g.Expect(stats.Clients["cl_other"].MaxEventsPerSecond).To(Equal(3))

	// By remote address both clients are one (loopback).
	ip := stats.RemoteIPs["127.0.0.1"]
	g.Expect(ip.Events).To(Equal(48))
	g.Expect(ip.MaxEventsPerSecond).To(Equal(18), "cl_other's three events fell in the same second")
	g.Expect(ip.TokenRequests).To(Equal(2))
	g.Expect(stats.EventsByCluster).To(HaveKeyWithValue("c1", 48))
	g.Expect(stats.Requests[EndpointEvents]).To(Equal(map[int]int{200: 48, 400: 1}))
	g.Expect(stats.Requests[EndpointToken]).To(Equal(map[int]int{200: 2}))
}

func TestRequestLogIsBounded(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{RequestLogSize: 5})
	a := newTestAgent(t, sim, "cl_log")
	for i := range 8 {
		status, _, err := a.postValue(PathHeartbeat, map[string]any{"cluster_uid": fmt.Sprintf("c%d", i)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(status).To(Equal(200))
	}
	reqs := sim.Requests()
	g.Expect(reqs).To(HaveLen(5))
	var clusters []string
	for _, r := range reqs {
		clusters = append(clusters, r.ClusterUID)
	}
	g.Expect(clusters).To(Equal([]string{"c3", "c4", "c5", "c6", "c7"}), "the newest five, oldest first")
}

func TestAdminHandler(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	admin := httptest.NewServer(sim.AdminHandler())
	t.Cleanup(admin.Close)
	a := newTestAgent(t, sim, "cl_admin")

	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		status, resp, err := do(admin.Client(), req)
		g.Expect(err).NotTo(HaveOccurred())
		return status, string(resp)
	}

	status, _, err := a.postValue(PathSnapshot, withKey(emptySnapshot("c1"), "pods", []any{minimalPod("p1", "web")}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(200))

	code, body := call("GET", "/clusters", "")
	g.Expect(code).To(Equal(200))
	g.Expect(body).To(MatchJSON(`["c1"]`))

	code, body = call("GET", "/clusters/c1", "")
	g.Expect(code).To(Equal(200))
	var cs ClusterState
	g.Expect(json.Unmarshal([]byte(body), &cs)).To(Succeed())
	g.Expect(cs.Objects["Pod"]["p1"].Name).To(Equal("web"))
	g.Expect(cs.Snapshots).To(Equal(1))

	code, _ = call("GET", "/clusters/nope", "")
	g.Expect(code).To(Equal(404))

	code, body = call("GET", "/stats", "")
	g.Expect(code).To(Equal(200))
	var st Stats
	g.Expect(json.Unmarshal([]byte(body), &st)).To(Succeed())
	g.Expect(st.Total(EndpointSnapshot, 200)).To(Equal(1))

	code, body = call("GET", "/requests", "")
	g.Expect(code).To(Equal(200))
	var reqs []RequestRecord
	g.Expect(json.Unmarshal([]byte(body), &reqs)).To(Succeed())
	g.Expect(reqs).To(HaveLen(2)) // token, snapshot

	code, body = call("POST", "/faults", `{"mode":"status","status":502,"for":"1h","endpoints":["heartbeat"]}`)
	g.Expect(code).To(Equal(200), body)
	code, body = call("GET", "/faults", "")
	g.Expect(code).To(Equal(200))
	g.Expect(body).To(ContainSubstring(`"status": 502`))
	status, _, err = a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(502))

	code, _ = call("POST", "/faults/clear", "")
	g.Expect(code).To(Equal(200))
	status, _, err = a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(200))

	code, _ = call("POST", "/faults", `{"mode":"latency"}`)
	g.Expect(code).To(Equal(400))
	code, _ = call("POST", "/faults", `{"mode":"status","bogus":1}`)
	g.Expect(code).To(Equal(400))

	code, _ = call("POST", "/faults/expire-tokens", "")
	g.Expect(code).To(Equal(200))
	status, _, err = a.postValue(PathHeartbeat, heartbeat("c1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(401))

	key := newKey(t)
	pemBytes := publicPEM(t, key)
	reqBody, _ := json.Marshal(map[string]string{"client_id": "cl_new", "public_key_pem": string(pemBytes)})
	code, body = call("POST", "/clients", string(reqBody))
	g.Expect(code).To(Equal(200), body)
	b := &testAgent{t: t, sim: sim, client: sim.HTTPClient(), id: "cl_new", key: key, now: time.Now}
	b.refresh()

	code, _ = call("POST", "/clients", `{"client_id":"x","public_key_pem":"junk"}`)
	g.Expect(code).To(Equal(400))
	code, _ = call("DELETE", "/clusters", "")
	g.Expect(code).To(Equal(405))

	code, body = call("GET", "/ca", "")
	g.Expect(code).To(Equal(200))
	g.Expect(body).To(Equal(string(sim.CACertPEM())), "the CA a remote client must trust")
	plain := StartForTest(t, Options{PlainHTTP: true})
	plainAdmin := httptest.NewServer(plain.AdminHandler())
	t.Cleanup(plainAdmin.Close)
	resp, err := plainAdmin.Client().Get(plainAdmin.URL + "/ca")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.Body.Close()).To(Succeed())
	g.Expect(resp.StatusCode).To(Equal(404), "no CA over plain http")
}
