package ingest

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/obsyk/obsyk-hub/transport"
)

// Key names the slot of an object: kind, namespace and name. Changes are serialized per
// Key; several UIDs may follow one another under one Key (delete, then re-create).
type Key struct {
	Kind      transport.Kind
	Namespace string // empty for cluster-scoped kinds
	Name      string
}

// Change is one observed change of one object: its identity and the operation, never its
// record (the sender reads the record from the cluster's cache at send time).
type Change struct {
	Kind      transport.Kind
	Namespace string
	Name      string
	UID       string
	Type      transport.EventType

	// observed is when an informer handler observed the change, on the monotonic clock of
	// monoNow; 0 means unknown. EventChannel.Push sets it; merging keeps the oldest, so
	// that the end-to-end lag of an event counts from its oldest change not yet sent.
	observed int64
}

// monoBase is the origin of monoNow. It lies one second in the past so that monoNow is
// never 0, the value that means "unknown".
var monoBase = time.Now().Add(-time.Second)

// monoNow returns the nanoseconds since monoBase on the monotonic clock: a cheap
// timestamp that wall-clock jumps do not move.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// olderObserved returns the older of two observation times, ignoring unknown ones (0).
func olderObserved(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// Key returns the change's slot.
func (c Change) Key() Key { return Key{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name} }

// op is the compact form of a transport.EventType kept in every pending entry.
type op uint8

const (
	opAdded op = iota + 1
	opModified
	opDeleted
)

// opOf converts a change type. An invalid type is a programming error of the caller (the
// informer handlers only ever produce the three contract types), so it panics rather than
// dropping the change silently.
func opOf(t transport.EventType) op {
	switch t {
	case transport.EventAdded:
		return opAdded
	case transport.EventModified:
		return opModified
	case transport.EventDeleted:
		return opDeleted
	}
	panic(fmt.Sprintf("ingest: invalid change type %q", t))
}

func (o op) eventType() transport.EventType {
	switch o {
	case opAdded:
		return transport.EventAdded
	case opModified:
		return transport.EventModified
	default:
		return transport.EventDeleted
	}
}

// coalesce merges a newer operation for the same UID into an older pending one
// (ARCHITECTURE "Delivery semantics" item 3):
//
//	added    + modified = added
//	modified + modified = modified
//	added    + deleted  = deleted  (not dropped: a snapshot may have carried the object)
//	modified + deleted  = deleted
//	modified + added    = added    (a relist re-add; added is the platform's upsert)
//	deleted  + anything = deleted  (a UID is never reused, so nothing can follow its delete;
//	                                a later change for it is stale and must not resurrect it)
func coalesce(older, newer op) op {
	switch {
	case older == opDeleted || newer == opDeleted:
		return opDeleted
	case older == opAdded || newer == opAdded:
		return opAdded
	default:
		return opModified
	}
}

// entry is one pending change of one UID. It holds no record; uid shares the caller's
// string. The outbox threads entries on an age list (older/newer); the event channel's
// overflow leaves those fields nil.
type entry struct {
	uid          string
	next         *entry // the next UID queued under the same Key
	older, newer *entry // Outbox age list, oldest first
	lastSeq      uint64 // Outbox sequence number of the newest change merged in
	since        int64  // Outbox: first change merged in, nanoseconds after Outbox.base
	observed     int64  // oldest Change.observed merged in (0: unknown)
	attempts     int32  // Outbox: how many times a send of it ended in Retry
	op           op
}

// chain is the ordered list of pending entries under one Key, at most one per UID.
type chain struct{ head *entry }

func (c *chain) find(uid string) *entry {
	for e := c.head; e != nil; e = e.next {
		if e.uid == uid {
			return e
		}
	}
	return nil
}

func (c *chain) pushFront(e *entry) { e.next = c.head; c.head = e }

func (c *chain) pushBack(e *entry) {
	p := &c.head
	for *p != nil {
		p = &(*p).next
	}
	*p = e
}

func (c *chain) popFront() *entry {
	e := c.head
	c.head = e.next
	e.next = nil
	return e
}

func (c *chain) remove(e *entry) {
	for p := &c.head; *p != nil; p = &(*p).next {
		if *p == e {
			*p = e.next
			e.next = nil
			return
		}
	}
}

// placeFront reports where a change for a UID without a pending entry goes in its Key's
// chain. It goes first when it is a delete (a UID, once deleted, never returns, and a name
// is reused only after its previous UID was deleted, so the delete of any UID belongs
// before the changes of the others: a platform that applies deletes by name must never see
// an old UID's delete after the new UID's add) or when it is a newer change of the UID
// whose send is in flight (that UID precedes all pending ones). Anything else goes last:
// a new UID after the old one's delete; and a late added/modified for an old UID is
// harmless wherever it is, because the sender finds that UID gone from the cache and sends
// nothing for it.
func placeFront(o op, uid, inFlightUID string) bool {
	return o == opDeleted || (inFlightUID != "" && uid == inFlightUID)
}

// DefaultOutboxMaxBytes is the default byte budget of one Outbox.
const DefaultOutboxMaxBytes = 64 << 20

// Estimated memory of the bookkeeping: per Key, its map slot, slot struct and ready-queue
// pointer; per entry, the entry struct (72 bytes, an 80-byte size class). Their sum matches
// the ≈255 bytes per pending object that BenchmarkOutboxBytesPerEntry measures for 100k
// distinct objects. Strings are counted on top at their length, although they usually share
// the record's backing arrays.
const (
	slotOverhead  = 176
	entryOverhead = 80
)

// ErrPaused is returned by Pause when the Outbox is already paused: one snapshot at a time.
var ErrPaused = errors.New("outbox already paused")

// OutboxOptions configures an Outbox. The zero value is valid.
type OutboxOptions struct {
	// MaxBytes is the budget of the estimated memory of the pending entries. An Add that
	// would exceed it puts the Outbox into the overflowed state (see Outbox.Overflow).
	// Default: DefaultOutboxMaxBytes (64 MiB).
	MaxBytes int64
	// Now is the clock for ages and retry delays. Default: time.Now.
	Now func() time.Time
}

// Outcome is how a send ended; see Delivered, Dropped and Retry.
type Outcome struct {
	kind  outcomeKind
	after time.Duration
}

type outcomeKind uint8

const (
	outcomeDelivered outcomeKind = iota + 1
	outcomeDropped
	outcomeRetry
)

var (
	// Delivered: the platform accepted the change (2xx). The entry leaves the Outbox;
	// changes that arrived while it was in flight stay pending.
	Delivered = Outcome{kind: outcomeDelivered}
	// Dropped: the platform rejected this one object permanently (4xx other than 401/429).
	// The entry is counted and removed; changes that arrived while it was in flight stay
	// pending.
	Dropped = Outcome{kind: outcomeDropped}
)

// Retry: the send failed and is retried after the delay. The entry stays queued, keeps its
// age, merges with the changes that arrived while it was in flight, and the whole Key
// waits for the delay.
func Retry(after time.Duration) Outcome { return Outcome{kind: outcomeRetry, after: after} }

// Item is one entry handed out by Get, to be sent and then passed to Done exactly once.
type Item struct {
	Change
	// Attempts counts the earlier sends of this entry that ended in Retry.
	Attempts int
	// Since is when the oldest change merged into the entry was added.
	Since time.Time

	s *slot
	e *entry
}

// Mark is the Outbox sequence number at a Pause: every change added up to it was in the
// cluster's cache before the snapshot that follows the Pause read the cache.
type Mark uint64

// OutboxStats is a point-in-time view of an Outbox, for status and metrics.
type OutboxStats struct {
	Depth      int           // pending entries, not counting those in flight
	InFlight   int           // entries handed out by Get and not yet Done
	Oldest     time.Duration // age of the oldest entry not yet delivered (pending or in flight)
	Bytes      int64         // estimated memory of the entries
	Overflowed bool          // the byte budget was hit: a snapshot is needed
	Paused     bool

	Added     uint64 // changes passed to Add
	Coalesced uint64 // changes merged into an existing entry
	Delivered uint64
	Dropped   uint64
	Retried   uint64
	Discarded uint64 // entries discarded because an accepted snapshot carried them
	Rejected  uint64 // changes not stored because the Outbox had overflowed
}

// slot is the state of one Key: its pending chain and the entry in flight.
type slot struct {
	key      Key
	pending  chain
	inFlight *entry
	retryAt  int64 // while backing off: nanoseconds after Outbox.base; else 0
	heapIdx  int32 // index in Outbox.backoff, or -1 (int32 keeps the slot in the 80-byte size class)
	queued   bool  // in Outbox.ready
}

// Outbox is the per-agent delivery queue of keys (ARCHITECTURE "Delivery semantics" 1–3,
// 6–7). It is safe for concurrent use and starts no goroutine. See the package doc.
type Outbox struct {
	now      func() time.Time
	base     time.Time
	maxBytes int64

	// wake is a size-1 "something may be ready" signal for Get (non-blocking sends). A Get
	// that takes an entry while more are ready passes the signal on, so one token is
	// enough for any number of waiting workers.
	wake chan struct{}
	// idle is a size-1 signal from Done to Pause: the last send in flight ended.
	idle chan struct{}
	// overflow is a size-1 signal to the pipeline: the Outbox overflowed.
	overflow chan struct{}

	// mu guards every field below, and the slots and entries they reach.
	mu             sync.Mutex
	slots          map[Key]*slot
	ready          []*slot // FIFO of slots whose head entry may be handed out
	backoff        slotHeap
	oldest, newest *entry // age list of all entries not yet delivered
	seq            uint64 // last sequence number given to an Add
	depth          int
	inFlight       int
	bytes          int64
	paused         bool
	overflowed     bool
	overflowSeq    uint64 // sequence number of the last change rejected by the overflow
	stats          OutboxStats
}

// NewOutbox returns an empty, running Outbox. To hold events back until the first
// snapshot was accepted, call Pause right away (it returns at once).
func NewOutbox(opts OutboxOptions) *Outbox {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultOutboxMaxBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Outbox{
		now:      opts.Now,
		base:     opts.Now(),
		maxBytes: opts.MaxBytes,
		wake:     make(chan struct{}, 1),
		idle:     make(chan struct{}, 1),
		overflow: make(chan struct{}, 1),
		slots:    make(map[Key]*slot),
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (o *Outbox) clock() int64 { return int64(o.now().Sub(o.base)) }

func entryCost(e *entry) int64 { return entryOverhead + int64(len(e.uid)) }

func slotCost(k Key) int64 {
	return slotOverhead + int64(len(k.Kind)+len(k.Namespace)+len(k.Name))
}

// Add records a change. It never blocks on delivery and never drops silently: the change
// is merged into the pending entry of its UID, or queued as a new entry, or — when that
// would exceed the byte budget or the Outbox already overflowed — rejected, counted and
// signalled through Overflow, so that the pipeline sends a snapshot that carries it.
// Add panics on a change type other than added, modified or deleted.
func (o *Outbox) Add(c Change) {
	op := opOf(c.Type)
	key := c.Key()
	o.mu.Lock()
	o.seq++
	seq := o.seq
	o.stats.Added++
	s := o.slots[key]
	if s != nil {
		if e := s.pending.find(c.UID); e != nil {
			e.op = coalesce(e.op, op)
			e.lastSeq = seq
			e.observed = olderObserved(e.observed, c.observed)
			o.stats.Coalesced++
			o.mu.Unlock()
			return
		}
	}
	e := &entry{uid: c.UID, op: op, lastSeq: seq, observed: c.observed}
	cost := entryCost(e)
	if s == nil {
		cost += slotCost(key)
	}
	if o.overflowed || o.bytes+cost > o.maxBytes {
		o.stats.Rejected++
		o.overflowSeq = seq
		first := !o.overflowed
		o.overflowed = true
		o.mu.Unlock()
		if first {
			signal(o.overflow)
		}
		return
	}
	if s == nil {
		s = &slot{key: key, heapIdx: -1}
		o.slots[key] = s
	}
	e.since = o.clock()
	inFlightUID := ""
	if s.inFlight != nil {
		inFlightUID = s.inFlight.uid
	}
	if placeFront(op, c.UID, inFlightUID) {
		s.pending.pushFront(e)
	} else {
		s.pending.pushBack(e)
	}
	o.ageAppend(e)
	o.depth++
	o.bytes += cost
	wake := false
	if s.inFlight == nil && !s.queued && s.heapIdx < 0 {
		o.enqueue(s)
		wake = true
	}
	o.mu.Unlock()
	if wake {
		signal(o.wake)
	}
}

// Get blocks until an entry is ready — its Key has no send in flight, is not backing off,
// and the Outbox is not paused — marks it in flight and returns it. It returns ctx.Err()
// when ctx ends first. Several workers may call Get concurrently; they never get two
// entries of one Key at once.
func (o *Outbox) Get(ctx context.Context) (Item, error) {
	for {
		it, ok, wait := o.take()
		if ok {
			return it, nil
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			// This worker may have been the one watching a backoff: let another look.
			signal(o.wake)
			return Item{}, ctx.Err()
		case <-o.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// TryGet is Get without waiting: it reports false when no entry is ready now.
func (o *Outbox) TryGet() (Item, bool) {
	it, ok, _ := o.take()
	return it, ok
}

// take hands out the next ready entry. When there is none, wait is how long until the
// earliest backoff ends (0: no backoff pending).
func (o *Outbox) take() (it Item, ok bool, wait time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.paused {
		return Item{}, false, 0
	}
	now := o.clock()
	for len(o.backoff) > 0 && o.backoff[0].retryAt <= now {
		s := heap.Pop(&o.backoff).(*slot)
		s.retryAt = 0
		if s.pending.head != nil && s.inFlight == nil && !s.queued {
			o.enqueue(s)
		}
	}
	for len(o.ready) > 0 {
		s := o.ready[0]
		o.ready[0] = nil
		o.ready = o.ready[1:]
		s.queued = false
		if s.inFlight != nil || s.pending.head == nil || s.heapIdx >= 0 {
			o.maybeRemove(s)
			continue
		}
		e := s.pending.popFront()
		s.inFlight = e
		o.depth--
		o.inFlight++
		if len(o.ready) > 0 {
			signal(o.wake) // pass the token on to the next waiting worker
		}
		return Item{
			Change: Change{Kind: s.key.Kind, Namespace: s.key.Namespace, Name: s.key.Name,
				UID: e.uid, Type: e.op.eventType(), observed: e.observed},
			Attempts: int(e.attempts),
			Since:    o.base.Add(time.Duration(e.since)),
			s:        s,
			e:        e,
		}, true, 0
	}
	if len(o.backoff) > 0 {
		return Item{}, false, time.Duration(o.backoff[0].retryAt - now)
	}
	return Item{}, false, 0
}

// Done ends the send of an item returned by Get. It must be called exactly once per item,
// with no lock of the caller's held; calling it twice panics.
func (o *Outbox) Done(it Item, out Outcome) {
	o.mu.Lock()
	s, e := it.s, it.e
	if s == nil || s.inFlight != e || e == nil {
		o.mu.Unlock()
		panic("ingest: Outbox.Done called for an item that is not in flight")
	}
	s.inFlight = nil
	o.inFlight--
	switch out.kind {
	case outcomeRetry:
		o.stats.Retried++
		e.attempts++
		// Merge the changes of the same UID that arrived meanwhile into the older entry,
		// which keeps its age and its place at the head of the Key.
		if p := s.pending.find(e.uid); p != nil {
			e.op = coalesce(e.op, p.op)
			e.lastSeq = max(e.lastSeq, p.lastSeq)
			e.observed = olderObserved(e.observed, p.observed)
			s.pending.remove(p)
			o.ageRemove(p)
			o.bytes -= entryCost(p)
			o.depth--
			o.stats.Coalesced++
		}
		s.pending.pushFront(e)
		o.depth++
		if out.after > 0 {
			s.retryAt = o.clock() + int64(out.after)
			heap.Push(&o.backoff, s)
		}
	case outcomeDelivered, outcomeDropped:
		if out.kind == outcomeDelivered {
			o.stats.Delivered++
		} else {
			o.stats.Dropped++
		}
		o.ageRemove(e)
		o.bytes -= entryCost(e)
	default:
		o.mu.Unlock()
		panic("ingest: Outbox.Done called with an invalid outcome")
	}
	wake := false
	if s.pending.head != nil {
		if s.heapIdx < 0 && !s.queued {
			o.enqueue(s)
		}
		wake = true // also when backing off: waiters recompute their timer
	}
	o.maybeRemove(s)
	idle := o.paused && o.inFlight == 0
	o.mu.Unlock()
	if wake {
		signal(o.wake)
	}
	if idle {
		signal(o.idle)
	}
}

// Pause stops handing out entries and waits until no send is in flight, so that a snapshot
// can be sent with no event in flight (ARCHITECTURE item 1). Add keeps recording changes.
// It returns the Mark to pass to ResumeAfterSnapshot: the caller must read the cache for
// the snapshot only after Pause returned. When ctx ends first, the pause is undone and
// ctx.Err() returned. Only one pause at a time: a second Pause returns ErrPaused.
func (o *Outbox) Pause(ctx context.Context) (Mark, error) {
	o.mu.Lock()
	if o.paused {
		o.mu.Unlock()
		return 0, ErrPaused
	}
	o.paused = true
	for o.inFlight > 0 {
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			o.Resume()
			return 0, ctx.Err()
		case <-o.idle:
		}
		o.mu.Lock()
	}
	m := Mark(o.seq)
	o.mu.Unlock()
	return m, nil
}

// Resume ends a pause without discarding anything: the snapshot was not sent or not
// accepted, so every pending entry is still owed to the platform.
func (o *Outbox) Resume() {
	o.mu.Lock()
	o.paused = false
	wake := len(o.ready) > 0 || len(o.backoff) > 0
	o.mu.Unlock()
	if wake {
		signal(o.wake)
	}
}

// ResumeAfterSnapshot ends a pause after the platform accepted a snapshot read from the
// cache after Pause returned m. It discards every pending entry whose changes all have a
// sequence number ≤ m, keeps the others and resumes handing them out.
//
// Why this is exact: the informer updates its cache before it calls the handler, so a
// change reaches Add only after the cache holds it. A change numbered ≤ m was added before
// Pause returned, hence was in the cache before the snapshot read it, hence the snapshot
// carries it (or a later state of the object). A change numbered > m may or may not be in
// the snapshot, so it is kept and sent after it: a duplicate is harmless, a loss is not.
// Sequence numbers, not wall time, make this hold whatever the clocks do. The overflowed
// state ends when every rejected change is numbered ≤ m; otherwise it stays set and is
// signalled again, because a change rejected during the snapshot may be missing from it.
func (o *Outbox) ResumeAfterSnapshot(m Mark) {
	o.mu.Lock()
	for _, s := range o.slots {
		for e := s.pending.head; e != nil; {
			next := e.next
			if e.lastSeq <= uint64(m) {
				s.pending.remove(e)
				o.ageRemove(e)
				o.bytes -= entryCost(e)
				o.depth--
				o.stats.Discarded++
			}
			e = next
		}
		if s.pending.head == nil && s.heapIdx >= 0 {
			heap.Remove(&o.backoff, int(s.heapIdx))
			s.retryAt = 0
		}
	}
	kept := o.ready[:0]
	for _, s := range o.ready {
		if s.pending.head != nil {
			kept = append(kept, s)
		} else {
			s.queued = false
		}
	}
	clear(o.ready[len(kept):])
	o.ready = kept
	for _, s := range o.slots {
		o.maybeRemove(s)
	}
	resignal := false
	if o.overflowed {
		if o.overflowSeq <= uint64(m) {
			o.overflowed = false
		} else {
			resignal = true
		}
	}
	o.paused = false
	o.mu.Unlock()
	signal(o.wake)
	if resignal {
		signal(o.overflow)
	}
}

// Overflow returns a size-1 channel that receives when the Outbox overflows its byte
// budget (and again after a snapshot that did not cover every rejected change). The
// pipeline answers it with a snapshot; Overflowed reports the state itself.
func (o *Outbox) Overflow() <-chan struct{} { return o.overflow }

// Overflowed reports whether changes were rejected since the last snapshot that covers
// them: the platform can only be brought up to date by a snapshot.
func (o *Outbox) Overflowed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.overflowed
}

// Backlog returns the number of entries not yet delivered (pending and in flight) and the
// age of the oldest. The pipeline compares it with its rate limit to decide whether a
// snapshot would be quicker (ARCHITECTURE item 7).
func (o *Outbox) Backlog() (depth int, oldest time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.depth + o.inFlight, o.oldestLocked()
}

// Stats returns the current figures.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.stats
	st.Depth = o.depth
	st.InFlight = o.inFlight
	st.Oldest = o.oldestLocked()
	st.Bytes = o.bytes
	st.Overflowed = o.overflowed
	st.Paused = o.paused
	return st
}

func (o *Outbox) oldestLocked() time.Duration {
	if o.oldest == nil {
		return 0
	}
	return max(0, time.Duration(o.clock()-o.oldest.since))
}

func (o *Outbox) enqueue(s *slot) {
	s.queued = true
	o.ready = append(o.ready, s)
}

// maybeRemove forgets a slot that holds nothing and is referenced by no queue.
func (o *Outbox) maybeRemove(s *slot) {
	if s.pending.head == nil && s.inFlight == nil && !s.queued && s.heapIdx < 0 {
		if o.slots[s.key] == s {
			delete(o.slots, s.key)
			o.bytes -= slotCost(s.key)
		}
	}
}

// ageAppend and ageRemove keep the list of entries not yet delivered in the order they
// were created, so the oldest is its head. A Retry keeps an entry where it is.
func (o *Outbox) ageAppend(e *entry) {
	e.older = o.newest
	if o.newest != nil {
		o.newest.newer = e
	} else {
		o.oldest = e
	}
	o.newest = e
}

func (o *Outbox) ageRemove(e *entry) {
	if e.older != nil {
		e.older.newer = e.newer
	} else {
		o.oldest = e.newer
	}
	if e.newer != nil {
		e.newer.older = e.older
	} else {
		o.newest = e.older
	}
	e.older, e.newer = nil, nil
}

// slotHeap orders backing-off slots by retryAt (container/heap).
type slotHeap []*slot

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].retryAt < h[j].retryAt }
func (h slotHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = int32(i)
	h[j].heapIdx = int32(j)
}
func (h *slotHeap) Push(x any) {
	s := x.(*slot)
	s.heapIdx = int32(len(*h))
	*h = append(*h, s)
}
func (h *slotHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	s.heapIdx = -1
	return s
}
