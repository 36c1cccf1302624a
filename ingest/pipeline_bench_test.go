package ingest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/obsyk/obsyk-hub/transport"
)

// countingSender accepts everything and counts the events.
type countingSender struct{ events atomic.Int64 }

func (s *countingSender) SendSnapshot(context.Context, *transport.SnapshotPayload) error { return nil }
func (s *countingSender) SendEvent(context.Context, *transport.EventPayload) error {
	s.events.Add(1)
	return nil
}

// BenchmarkPipelineThroughput measures changes per second from the EventChannel through
// the dispatcher, the Outbox and the workers (cache read, payload built) to a Sender that
// accepts at once: the hub's own cost per change, without informers and HTTP. The cache is
// an informer's store filled directly. With -benchtime=10000x each of the 10,000 objects
// changes once (every change is sent); a larger N repeats objects and measures coalescing.
func BenchmarkPipelineThroughput(b *testing.B) { benchmarkPipeline(b, nil) }

// BenchmarkPipelineThroughputWithMetrics is BenchmarkPipelineThroughput with Metrics on:
// each change is stamped when pushed and each event's lag is observed.
func BenchmarkPipelineThroughputWithMetrics(b *testing.B) {
	benchmarkPipeline(b, NewMetrics(prometheus.NewRegistry()))
}

func benchmarkPipeline(b *testing.B, mt *Metrics) {
	const objects = 10_000
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.ConfigMap{}, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	changes := make([]Change, objects)
	for i := range objects {
		obj, err := toItem(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Namespace: "bench", Name: fmt.Sprintf("cm-%d", i), UID: k8stypes.UID(fmt.Sprintf("uid-%d", i)), ResourceVersion: "1"},
			Data: map[string]string{"a": "b"}})
		if err != nil {
			b.Fatal(err)
		}
		if err := inf.GetStore().Add(obj); err != nil {
			b.Fatal(err)
		}
		changes[i] = obj.(*item).change(transport.EventModified)
	}

	m := NewManager(Options{Kinds: []transport.Kind{transport.KindConfigMap}, Metrics: mt})
	p := &pipeline{
		m: m, name: "bench", gen: 1, ch: NewEventChannel(EventChannelOptions{Timestamps: mt != nil}),
		synced:      make(chan struct{}),
		clusterUID:  "bench-uid",
		informers:   map[transport.Kind]cache.SharedIndexInformer{transport.KindConfigMap: inf},
		unavailable: map[transport.Kind]string{},
	}
	close(p.synced)
	m.clusters["bench"] = &clusterEntry{p: p, cancel: func() {}}
	sender := &countingSender{}
	if err := m.Bind("bench/agent", "bench", AgentOptions{Sender: sender, Workers: 4}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Start(ctx) }()
	dispatched := make(chan struct{})
	go func() { defer close(dispatched); p.dispatch(ctx) }()
	defer func() { cancel(); <-done; <-dispatched }()
	g := NewWithT(b)
	g.Eventually(func() int {
		st, _ := m.AgentStats("bench/agent")
		return len(st.Snapshots)
	}).WithTimeout(30*time.Second).WithPolling(time.Millisecond).Should(BeNumerically(">", 0), "the first snapshot")

	b.ResetTimer()
	for i := range b.N {
		p.ch.Push(changes[i%objects])
	}
	// Every change was coalesced in the channel's overflow or added to the outbox, and the
	// outbox is idle.
	g.Eventually(func() bool {
		st, _ := m.AgentStats("bench/agent")
		chst := p.ch.Stats()
		return st.Outbox.Added+chst.Coalesced == uint64(b.N) && st.Outbox.Depth == 0 && st.Outbox.InFlight == 0
	}).WithTimeout(5*time.Minute).WithPolling(100*time.Microsecond).Should(BeTrue(), "every change handled")
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
	b.ReportMetric(float64(sender.events.Load())/float64(b.N), "sent/change") // < 1: coalesced
}
