package ingest

import (
	"context"
	"sync"
)

// DefaultEventChannelCapacity is the default capacity of an EventChannel's Go channel, the
// reference's 1000 slots (contract §7 gap 20: there, a full channel dropped the change).
const DefaultEventChannelCapacity = 1000

// EventChannelOptions configures an EventChannel. The zero value is valid.
type EventChannelOptions struct {
	// Capacity of the bounded Go channel in front of the overflow.
	// Default: DefaultEventChannelCapacity (1000).
	Capacity int
	// Timestamps stamps each change that Push receives without an observation time with
	// the current time, carried through the outboxes to measure the end-to-end lag of its
	// event (Metrics). It costs a clock read per Push (≈35 ns). Default false.
	Timestamps bool
}

// EventChannelStats is a point-in-time view of an EventChannel.
type EventChannelStats struct {
	Pushed      uint64 // changes passed to Push
	Coalesced   uint64 // changes merged into a pending overflow entry
	Buffered    int    // changes waiting in the Go channel
	Overflow    int    // entries waiting in the overflow
	MaxOverflow int    // the largest Overflow seen
}

// EventChannel carries one cluster's changes from the informer handlers to the
// dispatcher. Push never blocks and never drops: it sends on a bounded Go channel and,
// when that is full, records the change in an overflow that coalesces per object with the
// Outbox's rules and holds identities only. Next hands out the channel's changes, then the
// overflow's; while the overflow is not empty, Push appends to it rather than to the
// channel, so the changes of one object always come out in the order they were pushed
// (coalesced). It is safe for concurrent use and starts no goroutine; the channel it
// creates is never closed because Next returns on its context, not on a close.
type EventChannel struct {
	ch         chan Change
	timestamps bool
	// wake is a size-1 "the overflow gained an entry" signal for Next (non-blocking sends).
	wake chan struct{}

	// mu guards the overflow (over, order, overLen), the stats, and sends on ch: a change
	// enters ch only under mu and only while the overflow is empty.
	mu      sync.Mutex
	over    map[Key]*chain
	order   []Key // FIFO of the Keys in over, in the order they entered it
	overLen int
	stats   EventChannelStats
}

// NewEventChannel returns an empty EventChannel.
func NewEventChannel(opts EventChannelOptions) *EventChannel {
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultEventChannelCapacity
	}
	return &EventChannel{
		ch:         make(chan Change, opts.Capacity),
		timestamps: opts.Timestamps,
		wake:       make(chan struct{}, 1),
		over:       make(map[Key]*chain),
	}
}

// Push records a change. It never blocks and never drops. With Timestamps, a change without
// an observation time gets the current one: the informer handlers push what they observe as
// they observe it. It panics on a change type other than added, modified or deleted.
func (q *EventChannel) Push(c Change) {
	op := opOf(c.Type)
	if q.timestamps && c.observed == 0 {
		c.observed = monoNow()
	}
	q.mu.Lock()
	q.stats.Pushed++
	if q.overLen == 0 {
		select {
		case q.ch <- c:
			q.mu.Unlock()
			return
		default:
		}
	}
	key := c.Key()
	ch := q.over[key]
	if ch == nil {
		ch = &chain{}
		q.over[key] = ch
		q.order = append(q.order, key)
	}
	if e := ch.find(c.UID); e != nil {
		e.op = coalesce(e.op, op)
		e.observed = olderObserved(e.observed, c.observed)
		q.stats.Coalesced++
		q.mu.Unlock()
		return
	}
	e := &entry{uid: c.UID, op: op, observed: c.observed}
	if placeFront(op, c.UID, "") {
		ch.pushFront(e)
	} else {
		ch.pushBack(e)
	}
	q.overLen++
	q.stats.MaxOverflow = max(q.stats.MaxOverflow, q.overLen)
	q.mu.Unlock()
	signal(q.wake)
}

// Next blocks until a change is available and returns it, or returns ctx.Err() when ctx
// ends first. It is meant for one consumer (the cluster's dispatcher).
func (q *EventChannel) Next(ctx context.Context) (Change, error) {
	for {
		// Anything in ch is older than everything in the overflow.
		select {
		case c := <-q.ch:
			return c, nil
		default:
		}
		q.mu.Lock()
		select {
		case c := <-q.ch:
			q.mu.Unlock()
			return c, nil
		default:
		}
		if q.overLen > 0 {
			c := q.popLocked()
			q.mu.Unlock()
			return c, nil
		}
		q.mu.Unlock()
		select {
		case c := <-q.ch:
			return c, nil
		case <-q.wake:
		case <-ctx.Done():
			return Change{}, ctx.Err()
		}
	}
}

// popLocked takes the first entry of the oldest Key in the overflow. A Key with more UIDs
// queued stays at the front, so its changes come out together and in order.
func (q *EventChannel) popLocked() Change {
	key := q.order[0]
	ch := q.over[key]
	e := ch.popFront()
	q.overLen--
	if ch.head == nil {
		delete(q.over, key)
		q.order[0] = Key{}
		q.order = q.order[1:]
	}
	return Change{Kind: key.Kind, Namespace: key.Namespace, Name: key.Name, UID: e.uid,
		Type: e.op.eventType(), observed: e.observed}
}

// Stats returns the current figures.
func (q *EventChannel) Stats() EventChannelStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	st.Buffered = len(q.ch)
	st.Overflow = q.overLen
	return st
}
