package ingest

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// observedAt returns a change observed at t nanoseconds on the monoNow clock.
func observedAt(c Change, t int64) Change {
	c.observed = t
	return c
}

func TestAnEventChannelWithTimestampsStampsEachChangeAndKeepsTheOldestWhenCoalescing(t *testing.T) {
	g := NewWithT(t)
	q := NewEventChannel(EventChannelOptions{Capacity: 1, Timestamps: true})
	before := monoNow()
	q.Push(pod("a", "u1", added))                     // the channel, stamped now
	q.Push(observedAt(pod("b", "u2", added), 200))    // overflow, keeps its time
	q.Push(observedAt(pod("b", "u2", modified), 100)) // coalesces: the older time wins
	q.Push(observedAt(pod("b", "u2", modified), 300)) // coalesces: 100 stays
	q.Push(pod("c", "u3", added))                     // overflow, stamped now

	first := next(g, q)
	g.Expect(first.observed).To(BeNumerically(">=", before))
	g.Expect(next(g, q).observed).To(BeEquivalentTo(100))
	g.Expect(next(g, q).observed).To(BeNumerically(">=", first.observed))

	plain := NewEventChannel(EventChannelOptions{})
	plain.Push(pod("a", "u1", added))
	g.Expect(next(g, plain).observed).To(BeZero(), "no clock read without Timestamps")
}

func TestAnOutboxItemCarriesTheOldestObservationOfItsChanges(t *testing.T) {
	g := NewWithT(t)
	o := NewOutbox(OutboxOptions{})
	o.Add(observedAt(pod("a", "u1", added), 500))
	o.Add(observedAt(pod("a", "u1", modified), 700))
	o.Add(pod("a", "u1", modified)) // unknown time: ignored
	it, ok := o.TryGet()
	g.Expect(ok).To(BeTrue())
	g.Expect(it.observed).To(BeEquivalentTo(500))

	// A change that arrives while the send is in flight is merged into the entry when the
	// send is retried, and the merged entry keeps the older time.
	o.Add(observedAt(pod("a", "u1", modified), 400))
	o.Done(it, Retry(0))
	it, ok = o.TryGet()
	g.Expect(ok).To(BeTrue())
	g.Expect(it.observed).To(BeEquivalentTo(400))

	// Delivered: a change that arrived meanwhile stays pending with its own time.
	o.Add(observedAt(pod("a", "u1", modified), 900))
	o.Done(it, Delivered)
	it, ok = o.TryGet()
	g.Expect(ok).To(BeTrue())
	g.Expect(it.observed).To(BeEquivalentTo(900))
	o.Done(it, Delivered)
}

func TestMonoNowIsNeverTheUnknownTimeAndDoesNotGoBack(t *testing.T) {
	g := NewWithT(t)
	a := monoNow()
	b := monoNow()
	g.Expect(a).To(BeNumerically(">=", int64(time.Second)))
	g.Expect(b).To(BeNumerically(">=", a))
	g.Expect(olderObserved(0, 5)).To(BeEquivalentTo(5))
	g.Expect(olderObserved(5, 0)).To(BeEquivalentTo(5))
	g.Expect(olderObserved(7, 5)).To(BeEquivalentTo(5))
}
