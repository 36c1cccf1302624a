package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsyk/obsyk-hub/auth"
	"github.com/obsyk/obsyk-hub/e2e/platform"
)

// benchConcurrency is the number of concurrent senders in the event benchmarks, for the
// client, the pool and the bare loop alike.
const benchConcurrency = 32

// benchEvents returns n "modified" pod events (about 1.3 KB each) for cluster.
func benchEvents(cluster string, n int) []*EventPayload {
	out := make([]*EventPayload, n)
	for i := range out {
		out[i] = eventFor(cluster, EventModified, benchPod(i))
	}
	return out
}

// runConcurrently calls send(i) for i in [0, n) from benchConcurrency goroutines and returns
// the elapsed time. Any error fails the benchmark.
func runConcurrently(b *testing.B, n int, send func(i int) error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range benchConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := send(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := firstErr.Load(); err != nil {
		b.Fatal(err)
	}
	return elapsed
}

// bareClient is a plain net/http client with the transport settings the Client builds.
func bareClient(caPEM []byte) *http.Client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
	}}
}

// barePost is the baseline: one POST with a fixed token, body read and closed.
func barePost(hc *http.Client, url, token string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bare POST: status %d", resp.StatusCode)
	}
	return nil
}

// BenchmarkEvents measures events/s to the simulator over HTTPS on loopback through one
// Client and through a Pool of 20 clients, each beside a bare net/http POST loop of the
// same (pre-marshalled) bodies at the same concurrency, over as many keep-alive connections
// (one bare http.Client per Client), in the same run. It reports both rates and their ratio.
func BenchmarkEvents(b *testing.B) {
	for _, mode := range []struct {
		name    string
		clients int
	}{{"client", 1}, {"pool", 20}} {
		b.Run(mode.name, func(b *testing.B) {
			sim := platform.StartForTest(b, platform.Options{RequestLogSize: -1})
			pool := NewPool(PoolOptions{})
			defer pool.Close()
			opts := make([]Options, mode.clients)
			for i := range opts {
				opts[i] = simOptions(b, sim, fmt.Sprintf("bench-%02d", i))
			}
			ctx := context.Background()
			clients := make([]*Client, mode.clients)
			for i := range clients {
				c, err := pool.Get(fmt.Sprintf("ns/agent-%02d", i), opts[i])
				if err != nil {
					b.Fatal(err)
				}
				clients[i] = c
			}
			events := benchEvents("bench-cluster", 1000)
			bodies := make([][]byte, len(events))
			for i, e := range events {
				var err error
				if bodies[i], err = json.Marshal(e); err != nil {
					b.Fatal(err)
				}
			}
			tm, err := auth.New(auth.Options{PlatformURL: sim.URL(), ClientID: opts[0].ClientID,
				PrivateKeyPEM: opts[0].PrivateKeyPEM, HTTPClient: sim.HTTPClient()})
			if err != nil {
				b.Fatal(err)
			}
			token, err := tm.Token(ctx)
			if err != nil {
				b.Fatal(err)
			}
			// As many bare clients (so connections) as Clients, used in the same rotation.
			bare := make([]*http.Client, mode.clients)
			for i := range bare {
				bare[i] = bareClient(sim.CACertPEM())
				defer bare[i].CloseIdleConnections()
			}
			url := sim.URL() + pathEvents

			viaClient := func(i int) error {
				return clients[i%len(clients)].SendEvent(ctx, events[i%len(events)])
			}
			viaBare := func(i int) error {
				return barePost(bare[i%len(bare)], url, token, bodies[i%len(bodies)])
			}
			// Warm up connections and tokens outside the measurement.
			runConcurrently(b, 2*benchConcurrency, viaClient)
			runConcurrently(b, 2*benchConcurrency, viaBare)

			n := max(b.N, 200)
			b.ResetTimer()
			var clientTime, bareTime time.Duration
			// Alternate halves so that background noise hits both sides alike.
			for half := range 2 {
				bareTime += runConcurrently(b, n/2+half*(n%2), viaBare)
				clientTime += runConcurrently(b, n/2+half*(n%2), viaClient)
			}
			b.StopTimer()
			clientRate := float64(n) / clientTime.Seconds()
			bareRate := float64(n) / bareTime.Seconds()
			b.ReportMetric(clientRate, "events/s")
			b.ReportMetric(bareRate, "bare-events/s")
			b.ReportMetric(clientRate/bareRate, "ratio")
		})
	}
}

// snapshotSink is an HTTPS server (HTTP/2) that reads and discards request bodies and
// checks that each carried an exact Content-Length.
func snapshotSink(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var bad atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			_, _ = io.WriteString(w, `{"access_token":"sink","expires_in":3600}`)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		if r.ContentLength < 0 || n != r.ContentLength {
			bad.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv, &bad
}

// heapSampler records the peak of live heap objects while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
}

const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: heapObjectsMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := heapObjects(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) finish() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

// BenchmarkSnapshot100kPods streams a snapshot of 100,000 pods over HTTPS to a sink that
// discards it, and reports the wall time per snapshot (ns/op), its size and the peak growth
// of live heap objects during the send over the heap holding the records (MiB).
func BenchmarkSnapshot100kPods(b *testing.B) {
	srv, bad := snapshotSink(b)
	_, keyPEM := newKey(b)
	c, err := NewClient(Options{PlatformURL: srv.URL, ClientID: "bench", PrivateKeyPEM: keyPEM,
		HTTPClient: srv.Client(), RequestTimeout: 5 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	snap := bigSnapshot(100_000)
	size := snapshotLength(snap, "dev")
	ctx := context.Background()
	// Warm up the connection and the token.
	if err := c.SendHeartbeat(ctx, &HeartbeatPayload{ClusterUID: "x"}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	var worst uint64
	for range b.N {
		b.StopTimer()
		runtime.GC()
		base := heapObjects()
		sampler := startHeapSampler()
		b.StartTimer()
		if err := c.SendSnapshot(ctx, snap); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if peak := sampler.finish(); peak > base && peak-base > worst {
			worst = peak - base
		}
		b.StartTimer()
	}
	b.StopTimer()
	if bad.Load() != 0 {
		b.Fatalf("%d requests without an exact Content-Length", bad.Load())
	}
	b.ReportMetric(float64(size)/(1<<20), "body-MiB")
	b.ReportMetric(float64(worst)/(1<<20), "peak-heap-growth-MiB")
	runtime.KeepAlive(snap)
}
