package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/transport"
)

// next takes a change with a deadline.
func next(g Gomega, q *EventChannel) Change {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := q.Next(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	return c
}

func TestEventChannelOverflowKeepsOrderAndCoalesces(t *testing.T) {
	g := NewWithT(t)
	q := NewEventChannel(EventChannelOptions{Capacity: 1})
	q.Push(pod("a", "u1", added))    // the channel
	q.Push(pod("a", "u1", modified)) // overflow
	q.Push(pod("b", "u3", added))    // overflow
	q.Push(pod("a", "u1", deleted))  // coalesces with a's modified
	q.Push(pod("a", "u2", added))    // after the old uid's delete
	st := q.Stats()
	g.Expect(st.Pushed).To(BeEquivalentTo(5))
	g.Expect(st.Coalesced).To(BeEquivalentTo(1))
	g.Expect(st.Buffered).To(Equal(1))
	g.Expect(st.Overflow).To(Equal(3))
	g.Expect(st.MaxOverflow).To(Equal(3))

	var got []string
	for range 4 {
		got = append(got, short(next(g, q)))
	}
	g.Expect(got).To(Equal([]string{"added/a/u1", "deleted/a/u1", "added/a/u2", "added/b/u3"}))
	g.Expect(q.Stats().Overflow).To(BeZero())

	q.Push(pod("c", "u4", added))
	g.Expect(q.Stats().Buffered).To(Equal(1), "once the overflow is empty the channel is used again")
	g.Expect(short(next(g, q))).To(Equal("added/c/u4"))
}

func TestEventChannelNextEndsWithItsContext(t *testing.T) {
	g := NewWithT(t)
	q := NewEventChannel(EventChannelOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := q.Next(ctx)
	g.Expect(err).To(MatchError(context.DeadlineExceeded))

	got := make(chan Change, 1)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	go func() {
		if c, err := q.Next(ctx2); err == nil {
			got <- c
		}
	}()
	q.Push(pod("a", "u1", added))
	g.Eventually(got, 5*time.Second).Should(Receive(WithTransform(short, Equal("added/a/u1"))))
}

func TestEventChannelPushNeverBlocksAndDeliversTheLatestState(t *testing.T) {
	cases := []struct {
		name     string
		capacity int
		// concurrent runs the consumer alongside the informers instead of after them.
		concurrent bool
	}{
		{name: "a stalled consumer behind a tiny channel loses nothing", capacity: 4},
		{name: "a stalled consumer behind the default channel loses nothing", capacity: 0},
		{name: "a consumer racing the informers loses nothing", capacity: 8, concurrent: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			q := NewEventChannel(EventChannelOptions{Capacity: tc.capacity})
			m := newModel()
			var mu sync.Mutex // guards m, pushedLog, receivedLog
			pushedLog, receivedLog := map[Key][]Change{}, map[Key][]Change{}
			keys := modelKeys()
			const perInformer = 5000

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			consume := func(c Change) {
				mu.Lock()
				defer mu.Unlock()
				m.apply(m.build(Item{Change: c})) // a sender reading the cache now
				receivedLog[c.Key()] = append(receivedLog[c.Key()], c)
			}
			var consumer sync.WaitGroup
			consumerCtx, stopConsumer := context.WithCancel(ctx)
			defer stopConsumer()
			if tc.concurrent {
				consumer.Go(func() {
					for {
						c, err := q.Next(consumerCtx)
						if err != nil {
							return
						}
						consume(c)
					}
				})
			}

			pushed := make(chan struct{})
			go func() {
				defer close(pushed)
				var informers sync.WaitGroup
				for i, kind := range []transport.Kind{transport.KindPod, transport.KindNode} {
					var mine []Key
					for _, k := range keys {
						if k.Kind == kind {
							mine = append(mine, k)
						}
					}
					r := newRand(int64(i))
					informers.Go(func() {
						for range perInformer {
							mu.Lock()
							changes := m.mutate(r, mine)
							for _, c := range changes {
								pushedLog[c.Key()] = append(pushedLog[c.Key()], c)
							}
							mu.Unlock()
							for _, c := range changes {
								q.Push(c)
							}
						}
					})
				}
				informers.Wait()
			}()
			g.Eventually(pushed, 10*time.Second).Should(BeClosed(), "Push never blocks")
			st := q.Stats()
			g.Expect(st.Pushed).To(BeNumerically(">=", 2*perInformer))
			if !tc.concurrent {
				g.Expect(st.Coalesced).To(BeNumerically(">", 0))
				mu.Lock()
				objects := m.uids
				mu.Unlock()
				g.Expect(st.MaxOverflow).To(BeNumerically("<=", objects),
					"the overflow holds at most one entry per object (UID), not one per change")
				for st.Buffered+st.Overflow > 0 {
					consume(next(g, q))
					st = q.Stats()
				}
			} else {
				g.Eventually(func() int { st := q.Stats(); return st.Buffered + st.Overflow },
					10*time.Second).Should(BeZero())
				stopConsumer()
				consumer.Wait()
			}
			mu.Lock()
			defer mu.Unlock()
			m.check(g)
			for k, p := range pushedLog {
				g.Expect(uidRuns(receivedLog[k])).To(Equal(uidRuns(p)),
					"%v: each UID's changes come out in order, coalesced, ending deleted iff they did", k)
			}
		})
	}
}

// uidRuns collapses one object's changes into the sequence of its UIDs, each marked with
// whether its last change is a delete. Informers report a UID's changes contiguously, so
// coalescing may shorten a run but never reorder, split or drop one.
func uidRuns(cs []Change) []string {
	var runs []string
	for i, c := range cs {
		if i+1 < len(cs) && cs[i+1].UID == c.UID {
			continue
		}
		runs = append(runs, c.UID+map[bool]string{true: "/deleted", false: "/exists"}[c.Type == deleted])
	}
	return runs
}
