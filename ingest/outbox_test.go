package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/transport"
)

const (
	added    = transport.EventAdded
	modified = transport.EventModified
	deleted  = transport.EventDeleted
)

// fakeClock is an injected Options.Now.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func pod(name, uid string, t transport.EventType) Change {
	return Change{Kind: transport.KindPod, Namespace: "ns", Name: name, UID: uid, Type: t}
}

// short renders an item or change as "type/name/uid".
func short(c Change) string { return fmt.Sprintf("%s/%s/%s", c.Type, c.Name, c.UID) }

// drainDelivered hands out every ready item, one at a time, marking each Delivered.
func drainDelivered(o *Outbox) []string {
	var got []string
	for {
		it, ok := o.TryGet()
		if !ok {
			return got
		}
		got = append(got, short(it.Change))
		o.Done(it, Delivered)
	}
}

func TestOutboxCoalescing(t *testing.T) {
	cases := []struct {
		name string
		adds []Change
		want []string
	}{
		{"added then modified is sent as one added",
			[]Change{pod("a", "u1", added), pod("a", "u1", modified)},
			[]string{"added/a/u1"}},
		{"modified then modified is sent as one modified",
			[]Change{pod("a", "u1", modified), pod("a", "u1", modified), pod("a", "u1", modified)},
			[]string{"modified/a/u1"}},
		{"added then deleted is sent as one deleted, never dropped",
			[]Change{pod("a", "u1", added), pod("a", "u1", deleted)},
			[]string{"deleted/a/u1"}},
		{"modified then deleted is sent as one deleted",
			[]Change{pod("a", "u1", modified), pod("a", "u1", deleted)},
			[]string{"deleted/a/u1"}},
		{"added, modified and deleted are sent as one deleted",
			[]Change{pod("a", "u1", added), pod("a", "u1", modified), pod("a", "u1", deleted)},
			[]string{"deleted/a/u1"}},
		{"modified then added (a relist) is sent as added",
			[]Change{pod("a", "u1", modified), pod("a", "u1", added)},
			[]string{"added/a/u1"}},
		{"a stale change after the delete of the same uid leaves it deleted",
			[]Change{pod("a", "u1", deleted), pod("a", "u1", modified), pod("a", "u1", added)},
			[]string{"deleted/a/u1"}},
		{"a new uid under the same name is queued after the old one's delete",
			[]Change{pod("a", "u1", added), pod("a", "u1", deleted), pod("a", "u2", added)},
			[]string{"deleted/a/u1", "added/a/u2"}},
		{"the new uid's changes coalesce among themselves behind the old delete",
			[]Change{pod("a", "u1", modified), pod("a", "u1", deleted), pod("a", "u2", added),
				pod("a", "u2", modified)},
			[]string{"deleted/a/u1", "added/a/u2"}},
		{"two re-creations keep both deletes before the last add",
			[]Change{pod("a", "u1", added), pod("a", "u1", deleted), pod("a", "u2", added),
				pod("a", "u2", deleted), pod("a", "u3", added)},
			[]string{"deleted/a/u1", "deleted/a/u2", "added/a/u3"}},
		{"a late delete of an old uid goes before the newer uid",
			[]Change{pod("a", "u2", added), pod("a", "u1", deleted)},
			[]string{"deleted/a/u1", "added/a/u2"}},
		{"a late modified of an old uid goes after the newer uid",
			[]Change{pod("a", "u2", added), pod("a", "u1", modified)},
			[]string{"added/a/u2", "modified/a/u1"}},
		{"different objects do not coalesce and keep their order",
			[]Change{pod("a", "u1", added), pod("b", "u2", added), pod("a", "u1", modified)},
			[]string{"added/a/u1", "added/b/u2"}},
		{"the same name in another kind is another object",
			[]Change{pod("a", "u1", added),
				{Kind: transport.KindService, Namespace: "ns", Name: "a", UID: "u9", Type: added}},
			[]string{"added/a/u1", "added/a/u9"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			o := NewOutbox(OutboxOptions{})
			for _, c := range tc.adds {
				o.Add(c)
			}
			g.Expect(drainDelivered(o)).To(Equal(tc.want))
			st := o.Stats()
			g.Expect(st.Added).To(BeEquivalentTo(len(tc.adds)))
			g.Expect(st.Depth).To(BeZero())
			g.Expect(st.Bytes).To(BeZero(), "every entry and slot is accounted for")
		})
	}
}

func TestOutboxSerializesPerObject(t *testing.T) {
	g := NewWithT(t)
	o := NewOutbox(OutboxOptions{})
	o.Add(pod("a", "u1", added))
	first, ok := o.TryGet()
	g.Expect(ok).To(BeTrue())
	g.Expect(short(first.Change)).To(Equal("added/a/u1"))

	o.Add(pod("a", "u1", modified))
	o.Add(pod("b", "u2", added))
	other, ok := o.TryGet()
	g.Expect(ok).To(BeTrue(), "a different object is handed out while a is in flight")
	g.Expect(short(other.Change)).To(Equal("added/b/u2"))
	g.Expect(o.Stats().InFlight).To(Equal(2))

	_, ok = o.TryGet()
	g.Expect(ok).To(BeFalse(), "the newer change of a waits for the send in flight")

	o.Done(first, Delivered)
	next, ok := o.TryGet()
	g.Expect(ok).To(BeTrue())
	g.Expect(short(next.Change)).To(Equal("modified/a/u1"))
	o.Done(next, Delivered)
	o.Done(other, Delivered)
	g.Expect(o.Stats().Delivered).To(BeEquivalentTo(3))
	g.Expect(func() { o.Done(next, Delivered) }).To(Panic(), "Done twice is a bug")
}

func TestOutboxConcurrentWorkersNeverShareAnObject(t *testing.T) {
	g := NewWithT(t)
	o := NewOutbox(OutboxOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var mu sync.Mutex // guards inFlight, overlaps, sent
	inFlight := map[Key]bool{}
	overlaps := 0
	sent := 0
	const objects, rounds = 20, 50
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				it, err := o.Get(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				if inFlight[it.Key()] {
					overlaps++
				}
				inFlight[it.Key()] = true
				mu.Unlock()
				mu.Lock()
				delete(inFlight, it.Key())
				sent++
				mu.Unlock()
				o.Done(it, Delivered)
			}
		})
	}
	for r := range rounds {
		for i := range objects {
			o.Add(pod(fmt.Sprint("p", i), fmt.Sprint("u", i), []transport.EventType{added, modified}[min(r, 1)]))
		}
	}
	g.Eventually(func() int { d, _ := o.Backlog(); return d }, 10*time.Second).Should(BeZero())
	cancel()
	wg.Wait()
	g.Expect(overlaps).To(BeZero())
	st := o.Stats()
	g.Expect(st.Delivered).To(BeNumerically(">=", objects))
	g.Expect(st.Delivered + st.Coalesced).To(BeEquivalentTo(objects * rounds))
	g.Expect(sent).To(BeEquivalentTo(st.Delivered))
}

func TestOutboxOutcomes(t *testing.T) {
	cases := []struct {
		name string
		// first is added and handed out; meanwhile is added while it is in flight.
		first     Change
		meanwhile []Change
		outcome   Outcome
		want      []string // what is handed out afterwards (each Delivered)
		check     func(g Gomega, st OutboxStats)
	}{
		{name: "delivered with nothing newer leaves the outbox",
			first: pod("a", "u1", added), outcome: Delivered, want: nil,
			check: func(g Gomega, st OutboxStats) { g.Expect(st.Delivered).To(BeEquivalentTo(1)) }},
		{name: "delivered keeps a change that arrived while in flight",
			first: pod("a", "u1", added), meanwhile: []Change{pod("a", "u1", modified)},
			outcome: Delivered, want: []string{"modified/a/u1"}},
		{name: "delivered keeps a delete that arrived while in flight",
			first: pod("a", "u1", modified), meanwhile: []Change{pod("a", "u1", deleted), pod("a", "u2", added)},
			outcome: Delivered, want: []string{"deleted/a/u1", "added/a/u2"}},
		{name: "a late change of the uid in flight goes before a newer uid",
			first: pod("a", "u1", modified), meanwhile: []Change{pod("a", "u2", added), pod("a", "u1", modified)},
			outcome: Delivered, want: []string{"modified/a/u1", "added/a/u2"}},
		{name: "retried with nothing newer is handed out again",
			first: pod("a", "u1", modified), outcome: Retry(0), want: []string{"modified/a/u1"},
			check: func(g Gomega, st OutboxStats) { g.Expect(st.Retried).To(BeEquivalentTo(1)) }},
		{name: "retried merges a newer change of the same uid",
			first: pod("a", "u1", added), meanwhile: []Change{pod("a", "u1", modified)},
			outcome: Retry(0), want: []string{"added/a/u1"}},
		{name: "retried merges a newer delete of the same uid",
			first: pod("a", "u1", added), meanwhile: []Change{pod("a", "u1", deleted)},
			outcome: Retry(0), want: []string{"deleted/a/u1"}},
		{name: "retried stays before a new uid that arrived meanwhile",
			first: pod("a", "u1", added), meanwhile: []Change{pod("a", "u1", deleted), pod("a", "u2", added)},
			outcome: Retry(0), want: []string{"deleted/a/u1", "added/a/u2"}},
		{name: "dropped with nothing newer is counted and removed",
			first: pod("a", "u1", modified), outcome: Dropped, want: nil,
			check: func(g Gomega, st OutboxStats) {
				g.Expect(st.Dropped).To(BeEquivalentTo(1))
				g.Expect(st.Delivered).To(BeZero())
			}},
		{name: "dropped keeps a change that arrived while in flight",
			first: pod("a", "u1", modified), meanwhile: []Change{pod("a", "u1", modified)},
			outcome: Dropped, want: []string{"modified/a/u1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			o := NewOutbox(OutboxOptions{})
			o.Add(tc.first)
			it, ok := o.TryGet()
			g.Expect(ok).To(BeTrue())
			for _, c := range tc.meanwhile {
				o.Add(c)
			}
			o.Done(it, tc.outcome)
			g.Expect(drainDelivered(o)).To(Equal(tc.want))
			st := o.Stats()
			g.Expect(st.Depth + st.InFlight).To(BeZero())
			g.Expect(st.Bytes).To(BeZero())
			if tc.check != nil {
				tc.check(g, st)
			}
		})
	}
}

func TestOutboxRetryWaitsForItsDelayAndKeepsItsAge(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock()
	o := NewOutbox(OutboxOptions{Now: clk.Now})
	o.Add(pod("a", "u1", added))
	start := clk.Now()
	it, _ := o.TryGet()
	clk.Advance(time.Second)
	o.Add(pod("a", "u1", modified))
	o.Add(pod("b", "u2", added))
	o.Done(it, Retry(10*time.Second))

	next, ok := o.TryGet()
	g.Expect(ok).To(BeTrue())
	g.Expect(next.Name).To(Equal("b"), "other objects do not wait for a's backoff")
	o.Done(next, Delivered)
	_, ok = o.TryGet()
	g.Expect(ok).To(BeFalse(), "a is backing off")
	depth, oldest := o.Backlog()
	g.Expect(depth).To(Equal(1))
	g.Expect(oldest).To(Equal(time.Second), "the retried entry keeps the age of its first change")

	clk.Advance(10 * time.Second)
	again, ok := o.TryGet()
	g.Expect(ok).To(BeTrue())
	g.Expect(short(again.Change)).To(Equal("added/a/u1"))
	g.Expect(again.Attempts).To(Equal(1))
	g.Expect(again.Since).To(Equal(start))
	o.Done(again, Delivered)
	g.Expect(o.Stats().Oldest).To(BeZero())
}

func TestOutboxGetBlocksUntilReadyOrDone(t *testing.T) {
	g := NewWithT(t)
	o := NewOutbox(OutboxOptions{})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := o.Get(ctx)
	g.Expect(err).To(MatchError(context.DeadlineExceeded))

	got := make(chan Item, 1)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	go func() {
		it, err := o.Get(ctx2)
		if err == nil {
			got <- it
		}
	}()
	o.Add(pod("a", "u1", added))
	var it Item
	g.Eventually(got, 5*time.Second).Should(Receive(&it))
	g.Expect(it.Name).To(Equal("a"))

	// A real-clock backoff wakes a blocked Get when it ends.
	o.Done(it, Retry(20*time.Millisecond))
	again, err := o.Get(ctx2)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again.Attempts).To(Equal(1))
	o.Done(again, Delivered)
}

func TestOutboxSnapshot(t *testing.T) {
	g := NewWithT(t)
	o := NewOutbox(OutboxOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	o.Add(pod("a", "u1", added))
	o.Add(pod("b", "u2", added))
	o.Add(pod("c", "u3", added))
	inFlight, _ := o.TryGet() // a

	type result struct {
		m   Mark
		err error
	}
	paused := make(chan result, 1)
	go func() {
		m, err := o.Pause(ctx)
		paused <- result{m, err}
	}()
	g.Eventually(func() bool { return o.Stats().Paused }, 5*time.Second).Should(BeTrue())
	g.Consistently(paused, 50*time.Millisecond).ShouldNot(Receive(), "Pause waits for the send in flight")
	_, ok := o.TryGet()
	g.Expect(ok).To(BeFalse(), "nothing is handed out while paused")
	o.Add(pod("a", "u1", modified)) // before the mark: a's newer change
	o.Done(inFlight, Delivered)
	var r result
	g.Eventually(paused, 5*time.Second).Should(Receive(&r))
	g.Expect(r.err).NotTo(HaveOccurred())
	_, err := o.Pause(ctx)
	g.Expect(err).To(MatchError(ErrPaused))

	// Changes after the mark may or may not be in the snapshot: they are kept (b's modified
	// coalesces into its pending added, which is then kept whole).
	o.Add(pod("b", "u2", modified))
	o.Add(pod("d", "u4", added))
	o.ResumeAfterSnapshot(r.m)
	g.Expect(drainDelivered(o)).To(ConsistOf("added/b/u2", "added/d/u4"))
	st := o.Stats()
	g.Expect(st.Discarded).To(BeEquivalentTo(2), "a's modified and c's added were in the snapshot")
	g.Expect(st.Bytes).To(BeZero())
	g.Expect(st.Paused).To(BeFalse())
}

func TestOutboxPauseWithoutSnapshot(t *testing.T) {
	t.Run("a resumed pause keeps every entry", func(t *testing.T) {
		g := NewWithT(t)
		o := NewOutbox(OutboxOptions{})
		o.Add(pod("a", "u1", added))
		_, err := o.Pause(context.Background())
		g.Expect(err).NotTo(HaveOccurred())
		o.Add(pod("b", "u2", added))
		o.Resume()
		g.Expect(drainDelivered(o)).To(Equal([]string{"added/a/u1", "added/b/u2"}))
	})
	t.Run("a pause whose context ends is undone", func(t *testing.T) {
		g := NewWithT(t)
		o := NewOutbox(OutboxOptions{})
		o.Add(pod("a", "u1", added))
		it, _ := o.TryGet()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := o.Pause(ctx)
		g.Expect(err).To(MatchError(context.DeadlineExceeded))
		g.Expect(o.Stats().Paused).To(BeFalse())
		o.Add(pod("b", "u2", added))
		g.Expect(drainDelivered(o)).To(Equal([]string{"added/b/u2"}))
		o.Done(it, Delivered)
	})
}

func TestOutboxOverflow(t *testing.T) {
	g := NewWithT(t)
	oneObject := slotCost(pod("p0", "", added).Key()) + entryOverhead + 2
	o := NewOutbox(OutboxOptions{MaxBytes: 3 * oneObject})
	for i := range 3 {
		o.Add(pod(fmt.Sprint("p", i), fmt.Sprint("u", i), added))
	}
	g.Expect(o.Overflowed()).To(BeFalse())
	g.Consistently(o.Overflow(), 10*time.Millisecond).ShouldNot(Receive())

	o.Add(pod("p3", "u3", added))
	g.Expect(o.Overflow()).To(Receive(), "exceeding the budget is reported")
	g.Expect(o.Overflowed()).To(BeTrue())
	o.Add(pod("p0", "u0", modified)) // coalescing does not grow: still recorded
	o.Add(pod("p4", "u4", added))    // rejected: the Outbox does not grow once overflowed
	st := o.Stats()
	g.Expect(st.Rejected).To(BeEquivalentTo(2), "rejections are counted, never silent")
	g.Expect(st.Coalesced).To(BeEquivalentTo(1))
	g.Expect(st.Bytes).To(BeNumerically("<=", 3*oneObject))

	m, err := o.Pause(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	o.Add(pod("p5", "u5", added)) // during the snapshot: rejected, so not covered by m
	o.ResumeAfterSnapshot(m)
	g.Expect(o.Overflowed()).To(BeTrue(), "a change rejected after the mark needs another snapshot")
	g.Expect(o.Overflow()).To(Receive())

	m, err = o.Pause(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	o.ResumeAfterSnapshot(m)
	g.Expect(o.Overflowed()).To(BeFalse(), "the snapshot covered every rejected change")
	g.Expect(o.Stats().Bytes).To(BeZero())
	o.Add(pod("p6", "u6", added))
	g.Expect(drainDelivered(o)).To(Equal([]string{"added/p6/u6"}))
}

func TestOutboxAddRejectsAnInvalidType(t *testing.T) {
	g := NewWithT(t)
	o := NewOutbox(OutboxOptions{})
	g.Expect(func() { o.Add(pod("a", "u1", "ADDED")) }).To(Panic())
}

// The model test: a member cluster (its live state is also the informer cache the sender
// reads), an Outbox fed in informer order, a sender that reads the cache at send time,
// and a platform that applies events and replaces its state on a snapshot. Whatever the
// interleaving of changes, sends, outcomes (including failures that the platform applied
// anyway) and snapshots, once everything is drained the platform must equal the member:
// no lost change, no ghost.

// randSource is a seeded generator, so that a failing seed can be replayed.
type randSource struct{ *rand.Rand }

func newRand(seed int64) *randSource {
	return &randSource{rand.New(rand.NewPCG(uint64(seed), 0x0b5))}
}

func (r *randSource) Intn(n int) int { return r.IntN(n) }

type modelObj struct {
	uid string
	ver int
}

// sent is what the sender built for an item: nothing (the UID is gone from the cache, its
// delete is queued or will be), a delete, or the object's current state.
type sent struct {
	skip, del bool
	key       Key
	obj       modelObj
}

type model struct {
	src    map[Key]modelObj // the member's live state = the cache
	plat   map[Key]modelObj // the platform's state for the cluster
	exempt map[Key]bool     // keys whose change was Dropped (a poison message) since the last snapshot
	uids   int
}

func newModel() *model {
	return &model{src: map[Key]modelObj{}, plat: map[Key]modelObj{}, exempt: map[Key]bool{}}
}

// mutate changes one object of the member and returns the changes its informer reports,
// in order, after updating the cache.
func (m *model) mutate(r *randSource, keys []Key) []Change {
	k := keys[r.Intn(len(keys))]
	ch := func(uid string, t transport.EventType) Change {
		return Change{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name, UID: uid, Type: t}
	}
	cur, ok := m.src[k]
	if !ok {
		m.uids++
		o := modelObj{uid: fmt.Sprint("uid-", m.uids), ver: 1}
		m.src[k] = o
		return []Change{ch(o.uid, added)}
	}
	switch p := r.Intn(100); {
	case p < 55:
		cur.ver++
		m.src[k] = cur
		return []Change{ch(cur.uid, modified)}
	case p < 75:
		delete(m.src, k)
		return []Change{ch(cur.uid, deleted)}
	case p < 85: // a relist reports the object again
		return []Change{ch(cur.uid, added)}
	default: // deleted and re-created under the same name: the informer reports both
		m.uids++
		o := modelObj{uid: fmt.Sprint("uid-", m.uids), ver: 1}
		m.src[k] = o
		return []Change{ch(cur.uid, deleted), ch(o.uid, added)}
	}
}

// build is the sender reading the cache at send time.
func (m *model) build(it Item) sent {
	k := it.Key()
	if it.Type == deleted {
		return sent{del: true, key: k, obj: modelObj{uid: it.UID}}
	}
	cur, ok := m.src[k]
	if !ok || cur.uid != it.UID {
		return sent{skip: true}
	}
	return sent{key: k, obj: cur}
}

// apply is the platform. It deletes by name whatever the UID, the strictest reading:
// an old UID's delete arriving after the new UID's add would erase the new object.
func (m *model) apply(s sent) {
	switch {
	case s.skip:
	case s.del:
		delete(m.plat, s.key)
	default:
		m.plat[s.key] = s.obj
	}
}

func (m *model) check(g Gomega) {
	want, got := map[Key]modelObj{}, map[Key]modelObj{}
	for k, v := range m.src {
		if !m.exempt[k] {
			want[k] = v
		}
	}
	for k, v := range m.plat {
		if !m.exempt[k] {
			got[k] = v
		}
	}
	g.Expect(got).To(Equal(want))
}

func modelKeys() []Key {
	var keys []Key
	for _, kind := range []transport.Kind{transport.KindPod, transport.KindNode} {
		for i := range 6 {
			ns := "ns"
			if kind.ClusterScoped() {
				ns = ""
			}
			keys = append(keys, Key{Kind: kind, Namespace: ns, Name: fmt.Sprint("o", i)})
		}
	}
	return keys
}

type flight struct {
	it   Item
	sent sent
}

func TestOutboxModelSequential(t *testing.T) {
	seeds := 400
	if testing.Short() {
		seeds = 50
	}
	var total OutboxStats
	for seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			total = sumStats(total, runSequentialModel(NewWithT(t), int64(seed)))
		})
	}
	expectEveryPathTaken(NewWithT(t), total)
}

// sumStats adds up the counters of several runs.
func sumStats(a, b OutboxStats) OutboxStats {
	a.Added += b.Added
	a.Coalesced += b.Coalesced
	a.Delivered += b.Delivered
	a.Dropped += b.Dropped
	a.Retried += b.Retried
	a.Discarded += b.Discarded
	a.Rejected += b.Rejected
	return a
}

// expectEveryPathTaken keeps the model test from passing vacuously.
func expectEveryPathTaken(g Gomega, st OutboxStats) {
	g.Expect(st.Coalesced).To(BeNumerically(">", 0))
	g.Expect(st.Delivered).To(BeNumerically(">", 0))
	g.Expect(st.Dropped).To(BeNumerically(">", 0))
	g.Expect(st.Retried).To(BeNumerically(">", 0))
	g.Expect(st.Discarded).To(BeNumerically(">", 0))
	g.Expect(st.Rejected).To(BeNumerically(">", 0))
}

func runSequentialModel(g Gomega, seed int64) OutboxStats {
	r := newRand(seed)
	keys := modelKeys()
	clk := newFakeClock()
	opts := OutboxOptions{Now: clk.Now}
	if seed%3 == 0 { // a budget of a few objects: overflow and its recovery
		opts.MaxBytes = 4 * (slotOverhead + entryOverhead + 16)
	}
	o := NewOutbox(opts)
	m := newModel()
	var inFlight []flight
	ctx := context.Background()

	finish := func(i int, forceOK bool) {
		f := inFlight[i]
		inFlight = append(inFlight[:i], inFlight[i+1:]...)
		p := r.Intn(100)
		switch {
		case forceOK || p < 65:
			m.apply(f.sent)
			o.Done(f.it, Delivered)
		case p < 92:
			if r.Intn(3) == 0 { // a timeout after the platform applied it
				m.apply(f.sent)
			}
			o.Done(f.it, Retry(time.Duration(r.Intn(3))*time.Second))
		default:
			if !f.sent.skip {
				m.exempt[f.it.Key()] = true
			}
			o.Done(f.it, Dropped)
		}
	}
	snapshot := func(accept bool) {
		for len(inFlight) > 0 {
			finish(r.Intn(len(inFlight)), false)
		}
		mark, err := o.Pause(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		for range r.Intn(4) { // changes between the mark and the cache read: in the snapshot
			for _, c := range m.mutate(r, keys) {
				o.Add(c)
			}
		}
		snap := make(map[Key]modelObj, len(m.src))
		for k, v := range m.src {
			snap[k] = v
		}
		for range r.Intn(4) { // changes after the cache read: not in the snapshot
			for _, c := range m.mutate(r, keys) {
				o.Add(c)
			}
		}
		_, ok := o.TryGet()
		g.Expect(ok).To(BeFalse(), "no event is handed out during a snapshot")
		if !accept {
			o.Resume()
			return
		}
		m.plat = snap
		clear(m.exempt)
		o.ResumeAfterSnapshot(mark)
	}

	for range 600 {
		if o.Overflowed() && r.Intn(4) == 0 {
			snapshot(true)
			continue
		}
		switch p := r.Intn(100); {
		case p < 45:
			for _, c := range m.mutate(r, keys) {
				o.Add(c)
			}
		case p < 70:
			it, ok := o.TryGet()
			if !ok {
				continue
			}
			for _, f := range inFlight {
				g.Expect(f.it.Key()).NotTo(Equal(it.Key()), "two sends of one object in flight")
			}
			inFlight = append(inFlight, flight{it: it, sent: m.build(it)})
		case p < 92:
			if len(inFlight) > 0 {
				finish(r.Intn(len(inFlight)), false)
			}
		case p < 96:
			clk.Advance(time.Duration(r.Intn(2000)) * time.Millisecond)
		default:
			snapshot(r.Intn(5) != 0)
		}
	}

	// Drain: every send succeeds from now on.
	for range 10000 {
		for len(inFlight) > 0 {
			finish(0, true)
		}
		if o.Overflowed() {
			snapshot(true)
			continue
		}
		if it, ok := o.TryGet(); ok {
			inFlight = append(inFlight, flight{it: it, sent: m.build(it)})
			continue
		}
		if d, _ := o.Backlog(); d == 0 {
			break
		}
		clk.Advance(time.Hour) // end every backoff
	}
	st := o.Stats()
	g.Expect(st.Depth+st.InFlight).To(BeZero(), "drained")
	g.Expect(st.Bytes).To(BeZero(), "every entry and slot is accounted for")
	g.Expect(st.Overflowed).To(BeFalse())
	m.check(g)
	return st
}

// TestOutboxModelConcurrent runs the same model with real goroutines: one informer per
// kind adding changes, several workers sending, and a snapshotter answering overflow and
// taking periodic snapshots, under -race.
func TestOutboxModelConcurrent(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 5
	}
	var total OutboxStats
	for seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			total = sumStats(total, runConcurrentModel(NewWithT(t), int64(seed)))
		})
	}
	expectEveryPathTaken(NewWithT(t), total)
}

func runConcurrentModel(g Gomega, seed int64) OutboxStats {
	keys := modelKeys()
	opts := OutboxOptions{}
	if seed%2 == 0 {
		opts.MaxBytes = 5 * (slotOverhead + entryOverhead + 16)
	}
	o := NewOutbox(opts)
	m := newModel()
	var mu sync.Mutex // guards m (the cache, the platform) and busy
	busy := map[Key]bool{}
	overlaps := 0
	snapshotting := false // between Pause and ResumeAfterSnapshot
	duringSnapshot := 0   // events handed out while snapshotting

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	snapReq := make(chan struct{}, 1)

	var informers, workers sync.WaitGroup
	for i, kind := range []transport.Kind{transport.KindPod, transport.KindNode} {
		var mine []Key
		for _, k := range keys {
			if k.Kind == kind {
				mine = append(mine, k)
			}
		}
		r := newRand(seed*7 + int64(i))
		informers.Go(func() {
			for n := range 3000 {
				mu.Lock()
				changes := m.mutate(r, mine)
				mu.Unlock()
				for _, c := range changes { // the cache is updated before the handler runs
					o.Add(c)
				}
				if n%250 == 0 {
					signal(snapReq)
				}
			}
		})
	}
	for w := range 3 {
		r := newRand(seed*13 + int64(w))
		workers.Go(func() {
			for {
				it, err := o.Get(workCtx)
				if err != nil {
					return
				}
				mu.Lock()
				if busy[it.Key()] {
					overlaps++
				}
				if snapshotting {
					duringSnapshot++
				}
				busy[it.Key()] = true
				s := m.build(it)
				mu.Unlock()
				p := r.Intn(100)
				mu.Lock()
				delete(busy, it.Key())
				switch {
				case p < 75:
					m.apply(s)
					mu.Unlock()
					o.Done(it, Delivered)
				case p < 95:
					if p%2 == 0 {
						m.apply(s)
					}
					mu.Unlock()
					o.Done(it, Retry(time.Duration(p%3)*time.Millisecond))
				default:
					if !s.skip {
						m.exempt[it.Key()] = true
					}
					mu.Unlock()
					o.Done(it, Dropped)
				}
			}
		})
	}
	snapshot := func() {
		mark, err := o.Pause(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		mu.Lock()
		snapshotting = true
		snap := make(map[Key]modelObj, len(m.src))
		for k, v := range m.src {
			snap[k] = v
		}
		mu.Unlock()
		mu.Lock()
		m.plat = snap
		clear(m.exempt)
		snapshotting = false
		mu.Unlock()
		o.ResumeAfterSnapshot(mark)
	}
	informersDone := make(chan struct{})
	go func() { informers.Wait(); close(informersDone) }()
	for running := true; running; {
		select {
		case <-o.Overflow():
			snapshot()
		case <-snapReq:
			snapshot()
		case <-informersDone:
			running = false
		case <-ctx.Done():
			g.Expect(ctx.Err()).NotTo(HaveOccurred())
		}
	}
	g.Eventually(func() bool {
		if o.Overflowed() {
			snapshot()
		}
		d, _ := o.Backlog()
		return d == 0 && !o.Overflowed()
	}, 20*time.Second, time.Millisecond).Should(BeTrue())
	stopWork()
	workers.Wait()
	g.Expect(overlaps).To(BeZero())
	g.Expect(duringSnapshot).To(BeZero())
	st := o.Stats()
	g.Expect(st.Bytes).To(BeZero())
	m.check(g)
	return st
}
