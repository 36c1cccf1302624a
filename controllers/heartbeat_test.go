package controllers_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/transport"
)

// heartbeatLane starts a lane against the simulator and returns the recorded results.
type heartbeatLane struct {
	sim   *platform.Server
	ready chan struct{}
	stop  context.CancelFunc
	done  chan error

	mu      sync.Mutex // guards results and sentAt
	results []error
	sentAt  []time.Time
}

func startLane(t *testing.T, interval, timeout time.Duration) *heartbeatLane {
	t.Helper()
	g := NewWithT(t)
	sim := platform.StartForTest(t, platform.Options{})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalECPrivateKey(key)
	g.Expect(err).NotTo(HaveOccurred())
	sim.RegisterClient("hb-client", &key.PublicKey)
	client, err := transport.NewClient(transport.Options{
		PlatformURL: sim.URL(), ClientID: "hb-client", CABundle: sim.CACertPEM(),
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		AgentVersion:  "v0.0.0-test", BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(client.Close)

	l := &heartbeatLane{sim: sim, ready: make(chan struct{}), done: make(chan error, 1)}
	hb, err := controllers.NewHeartbeat(controllers.HeartbeatOptions{
		Sender: client, ClusterUID: "cluster-1", Ready: l.ready, Interval: interval, Timeout: timeout,
		OnResult: func(at time.Time, err error) {
			l.mu.Lock()
			l.results = append(l.results, err)
			l.sentAt = append(l.sentAt, at)
			l.mu.Unlock()
		},
	})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	go func() { l.done <- hb.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		g.Eventually(l.done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
	})
	return l
}

func (l *heartbeatLane) outcomes() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.results...)
}

// heartbeatRequests are the heartbeat requests the simulator saw, in order.
func (l *heartbeatLane) heartbeatRequests() []platform.RequestRecord {
	var out []platform.RequestRecord
	for _, r := range l.sim.Requests() {
		if r.Endpoint == platform.EndpointHeartbeat {
			out = append(out, r)
		}
	}
	return out
}

func TestHeartbeatsWaitForTheSnapshotThenFollowTheInterval(t *testing.T) {
	g := NewWithT(t)
	const interval = 200 * time.Millisecond
	l := startLane(t, interval, 5*time.Second)

	g.Consistently(l.heartbeatRequests, 600*time.Millisecond, 50*time.Millisecond).Should(BeEmpty(),
		"no heartbeat before the first snapshot was accepted")
	close(l.ready)

	g.Eventually(func() int { return l.sim.Cluster("cluster-1").Heartbeats }).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 4))
	// The lane's own send times: arrival times at the platform also carry each request's
	// latency (the first heartbeat fetches a token too), which says nothing of the schedule.
	l.mu.Lock()
	sentAt := append([]time.Time(nil), l.sentAt...)
	l.mu.Unlock()
	for i := 1; i < len(sentAt); i++ {
		g.Expect(sentAt[i].Sub(sentAt[i-1])).To(BeNumerically(">=", interval-time.Millisecond),
			"heartbeats are no more frequent than the interval")
	}
	g.Expect(l.sim.Cluster("cluster-1").AgentVersion).To(Equal("v0.0.0-test"))
	for _, err := range l.outcomes() {
		g.Expect(err).NotTo(HaveOccurred())
	}
}

func TestAHeartbeatFailureIsReportedAndTheLaneGoesOn(t *testing.T) {
	g := NewWithT(t)
	l := startLane(t, 100*time.Millisecond, 2*time.Second)
	id, err := l.sim.Faults().Inject(platform.Fault{Mode: platform.FaultStatus, Status: 503, Endpoints: []platform.Endpoint{platform.EndpointHeartbeat}})
	g.Expect(err).NotTo(HaveOccurred())
	close(l.ready)

	g.Eventually(l.outcomes).WithTimeout(10*time.Second).Should(ContainElement(HaveOccurred()), "the failure is reported")
	g.Expect(l.sim.Cluster("cluster-1").Heartbeats).To(BeZero())
	l.sim.Faults().Remove(id)
	g.Eventually(func() int { return l.sim.Cluster("cluster-1").Heartbeats }).WithTimeout(10*time.Second).Should(BeNumerically(">=", 1),
		"heartbeats resume once the platform answers again")
}

func TestARetryAfterLongerThanAHeartbeatSpacesTheNextOne(t *testing.T) {
	g := NewWithT(t)
	// The platform asks for 3 s; one heartbeat may take 500 ms, so the client gives up on it
	// and the lane must wait out the rest before the next.
	l := startLane(t, 100*time.Millisecond, 500*time.Millisecond)
	_, err := l.sim.Faults().Inject(platform.Fault{Mode: platform.FaultRateLimited, RetryAfter: 3 * time.Second, Count: 1,
		Endpoints: []platform.Endpoint{platform.EndpointHeartbeat}})
	g.Expect(err).NotTo(HaveOccurred())
	close(l.ready)

	g.Eventually(func() int { return l.sim.Cluster("cluster-1").Heartbeats }).WithTimeout(15 * time.Second).Should(BeNumerically(">=", 1))
	reqs := l.heartbeatRequests()
	g.Expect(len(reqs)).To(BeNumerically(">=", 2))
	g.Expect(reqs[0].Status).To(Equal(429))
	g.Expect(reqs[1].Time.Sub(reqs[0].Time)).To(BeNumerically(">=", 2900*time.Millisecond),
		"the next heartbeat honours Retry-After")
}
