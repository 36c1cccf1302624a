package ingest

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/obsyk/obsyk-hub/transport"
)

const benchObjects = 100_000

// benchChanges returns n changes of distinct pods. Their strings are allocated here, as
// the records in the cache would hold them, so that the measurements below count only
// what the queues add.
func benchChanges(n int, t transport.EventType) []Change {
	cs := make([]Change, n)
	for i := range cs {
		cs[i] = Change{Kind: transport.KindPod, Namespace: fmt.Sprint("namespace-", i%50),
			Name: fmt.Sprintf("deployment-%d-7c9f8d6b5-x2k4q", i),
			UID:  fmt.Sprintf("3f2a8c1e-%04x-4b5d-9e7f-%012x", i%0xffff, i), Type: t}
	}
	return cs
}

func BenchmarkOutboxAddHotObject(b *testing.B) {
	o := NewOutbox(OutboxOptions{})
	c := benchChanges(1, modified)[0]
	b.ReportAllocs()
	for b.Loop() {
		o.Add(c)
	}
}

func BenchmarkOutboxAddDistinctObjects(b *testing.B) {
	cs := benchChanges(benchObjects, added)
	o := NewOutbox(OutboxOptions{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(cs) { // every object pending: start again with an empty outbox
			b.StopTimer()
			o, i = NewOutbox(OutboxOptions{}), 0
			b.StartTimer()
		}
		o.Add(cs[i])
		i++
	}
}

func BenchmarkOutboxAddGetDone(b *testing.B) {
	cs := benchChanges(benchObjects, modified)
	o := NewOutbox(OutboxOptions{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		o.Add(cs[i%len(cs)])
		it, ok := o.TryGet()
		if !ok {
			b.Fatal("nothing ready")
		}
		o.Done(it, Delivered)
		i++
	}
}

// BenchmarkOutboxAddGetDoneParallel: GOMAXPROCS goroutines each add and send.
func BenchmarkOutboxAddGetDoneParallel(b *testing.B) {
	cs := benchChanges(benchObjects, modified)
	o := NewOutbox(OutboxOptions{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			o.Add(cs[i%len(cs)])
			// Goroutines may add the same object at once (it coalesces) or find it in
			// flight, so a ready entry is not guaranteed: TryGet, never block.
			if it, ok := o.TryGet(); ok {
				o.Done(it, Delivered)
			}
			i++
		}
	})
}

// BenchmarkOutboxBytesPerEntry measures the heap held by 100k pending distinct objects.
func BenchmarkOutboxBytesPerEntry(b *testing.B) {
	cs := benchChanges(benchObjects, added)
	var perEntry, estimate float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		o := NewOutbox(OutboxOptions{})
		for _, c := range cs {
			o.Add(c)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / benchObjects
		estimate = float64(o.Stats().Bytes) / benchObjects
		runtime.KeepAlive(o)
	}
	b.ReportMetric(perEntry, "heap-B/entry")
	b.ReportMetric(estimate, "estimated-B/entry")
}

func BenchmarkEventChannelPush(b *testing.B) {
	b.Run("into the channel with a consumer", func(b *testing.B) {
		q := NewEventChannel(EventChannelOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, err := q.Next(ctx); err != nil {
					return
				}
			}
		}()
		c := benchChanges(1, modified)[0]
		b.ReportAllocs()
		for b.Loop() {
			q.Push(c)
		}
		cancel()
		<-done
	})
	b.Run("into the channel with a consumer, with timestamps", func(b *testing.B) {
		q := NewEventChannel(EventChannelOptions{Timestamps: true})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, err := q.Next(ctx); err != nil {
					return
				}
			}
		}()
		c := benchChanges(1, modified)[0]
		b.ReportAllocs()
		for b.Loop() {
			q.Push(c)
		}
		cancel()
		<-done
	})
	b.Run("into the overflow of a stalled consumer, one hot object", func(b *testing.B) {
		q := NewEventChannel(EventChannelOptions{Capacity: 1})
		c := benchChanges(1, modified)[0]
		b.ReportAllocs()
		for b.Loop() {
			q.Push(c)
		}
	})
}
