package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/workload"
	"github.com/obsyk/obsyk-hub/ingest"
)

// nsPlatform is the simulator seen through a few namespaces, so that a converge check of
// those namespaces does not copy the whole cluster's state at every poll.
type nsPlatform struct {
	sim *platform.Server
	ns  []string
}

func (p nsPlatform) Cluster(uid string) platform.ClusterState { return p.sim.ClusterIn(uid, p.ns...) }

// agentCounters are the hub's delivery counters of one agent.
type agentCounters struct {
	sent      float64
	snapshots map[string]float64 // by reason
	retried   float64
}

func (e *env) counters(m *member) agentCounters {
	c := agentCounters{snapshots: map[string]float64{}}
	text, err := e.hub.scrape()
	if err != nil {
		return c
	}
	l := map[string]string{"agent": m.agentKey()}
	c.sent, _ = metricValue(text, "obsyk_hub_ingest_agent_events_sent_total", l)
	c.retried, _ = metricValue(text, "obsyk_hub_ingest_agent_events_failed_total", map[string]string{"agent": m.agentKey(), "reason": "temporary"})
	for _, r := range []string{"initial", "engaged", "kinds", "overflow", "backlog", "anti-entropy"} {
		c.snapshots[r], _ = metricValue(text, "obsyk_hub_ingest_agent_snapshots_total", map[string]string{"agent": m.agentKey(), "reason": r})
	}
	return c
}

// delta describes what the hub did between two readings.
func (a agentCounters) delta(b agentCounters) string {
	var snaps []string
	for r, v := range b.snapshots {
		if d := v - a.snapshots[r]; d > 0 {
			snaps = append(snaps, fmt.Sprintf("%d %s", int(d), r))
		}
	}
	sort.Strings(snaps)
	s := fmt.Sprintf("%d events sent", int(b.sent-a.sent))
	if r := b.retried - a.retried; r > 0 {
		s += fmt.Sprintf(", %d sends retried", int(r))
	}
	if len(snaps) > 0 {
		s += ", snapshots: " + strings.Join(snaps, ", ")
	} else {
		s += ", no snapshot"
	}
	return s
}

// minSnapshotAge is how long after its agent's last snapshot a burst starts: the hub's
// minimum interval between backlog snapshots (ingest.DefaultMinSnapshotInterval) plus a
// margin.
const minSnapshotAge = ingest.DefaultMinSnapshotInterval + 5*time.Second

// burstResult is one burst.
type burstResult struct {
	label     string
	member    string
	limit     string
	n         int
	wrote     time.Duration
	converged time.Duration // after the burst ended; <0 when it did not converge
	lost      int
	ghosts    int
	diffs     int
	hub       string
	sent      int // events the platform accepted for the agent meanwhile
	snapshots int // snapshots the agent sent meanwhile (any reason)
}

// outageResult is one steady run with an outage.
type outageResult struct {
	mode       string
	changes    int
	achieved   float64
	faultHits  int
	converged  time.Duration // after the outage ended; <0 when not within the run
	finalAfter time.Duration // after the churn stopped, until the final check was clean
	lost       int
	ghosts     int
	diffs      int
	hub        string
}

// phaseBursts runs measurement 3: bursts with the limit lifted (member-0) and at the
// default limit (member-2), and the two outages (member-1), interleaved so that the
// default-limit agent's last snapshot is long enough ago for its backlog policy, as it would
// be in production.
func (e *env) phaseBursts(ctx context.Context) error {
	sec := e.newSection("3. Bursts and outages")
	defer sec.end()
	if e.hub == nil {
		if _, _, err := e.restartHub(ctx, "burst"); err != nil {
			return err
		}
	}
	mLift, mOut, mDef := e.fe.members[0], e.fe.members[1], e.fe.members[2]
	e.progress("bursts: %s at the lifted limit, %s at the default limit (set now), outages on %s", mLift.name, mDef.name, mOut.name)
	if err := updateAgent(ctx, e.fe.hub, mDef, func(a *obsykv1.ObsykAgent) { a.Spec.RateLimit = nil }); err != nil {
		return err
	}
	if err := e.waitReady(ctx, e.fe.hub, e.fe.members, time.Minute); err != nil {
		return err
	}
	var bursts []burstResult
	var outages []outageResult
	run := func(m *member, n int, limit string) error {
		r, err := e.burst(ctx, m, n, limit)
		if err != nil {
			return err
		}
		bursts = append(bursts, r)
		return nil
	}
	outage := func(mode string) error {
		o, err := e.outageRun(ctx, mOut, mode)
		if err != nil {
			return err
		}
		outages = append(outages, o)
		return nil
	}
	// Each burst starts at least minSnapshotAge after its agent's last snapshot: an agent
	// that has been running a while, as in production (the hub sends a snapshot instead of
	// a long backlog at most once a minute). The runs are interleaved so that the waits
	// overlap.
	const defaultLimit = "default (10/s, burst 20)"
	lifted, dflt := e.o.sz.bursts, e.o.sz.defaultBursts
	if err := outage("503"); err != nil {
		return err
	}
	if err := outage("429"); err != nil {
		return err
	}
	if err := run(mLift, lifted[0], "lifted"); err != nil {
		return err
	}
	if err := run(mDef, dflt[0], defaultLimit); err != nil {
		return err
	}
	for _, n := range lifted[1:] {
		if err := run(mLift, n, "lifted"); err != nil {
			return err
		}
	}
	for _, n := range dflt[1:] {
		if err := run(mDef, n, defaultLimit); err != nil {
			return err
		}
	}
	// Back to the lifted limit for what follows, once the rebound agent's snapshot is in.
	_, before := lastSnapshot(e.sim, mDef.uid)
	if err := updateAgent(ctx, e.fe.hub, mDef, func(a *obsykv1.ObsykAgent) {
		a.Spec.RateLimit = &obsykv1.RateLimitConfig{EventsPerSecond: liftedRate, BurstSize: liftedRate}
	}); err != nil {
		return err
	}
	for {
		if _, n := lastSnapshot(e.sim, mDef.uid); n > before {
			break
		}
		if err := e.hub.alive(); err != nil {
			return err
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}

	sec.printf("**Bursts.** Realistic Pods are written into a fresh namespace of one member as fast as possible (seed=%s), with that member's agent at the lifted rate limit (%s) and at the default one (%s). Each burst starts at least %s after its agent's last snapshot, as for an agent that has been running a while (the hub sends a snapshot instead of a long backlog at most once a minute). ", e.o.seed, mLift.name, mDef.name, secs(minSnapshotAge))
	sec.printf("*Converged* is the time from the last write to the moment the simulator held every Pod of the burst (polled every 250 ms); a converge check of the namespace (every field of every Pod, member against platform) then gives *lost* (missing on the platform, or differing) and *ghosts*. The last column says how the hub delivered the burst (its metrics).\n\n")
	sec.printf("| burst | member | rate limit | written in | converged after the burst | lost | ghosts | hub |\n|---|---|---|---|---|---|---|---|\n")
	var missed []string
	for _, b := range bursts {
		conv := "**not within the timeout**"
		if b.converged >= 0 {
			conv = secs(b.converged)
		}
		sec.printf("| %d Pods | %s | %s | %s | %s | %d | %d | %s |\n", b.n, b.member, b.limit, secs(b.wrote), conv, b.lost, b.ghosts, b.hub)
		target := 30 * time.Second
		if strings.HasPrefix(b.limit, "default") {
			target = 60 * time.Second
		}
		ok := b.converged >= 0 && b.converged <= target && b.lost == 0 && b.ghosts == 0
		e.rep.add(3, fmt.Sprintf("burst of %d, %s limit: lost / ghosts / converged after", b.n, strings.Fields(b.limit)[0]),
			fmt.Sprintf("0 / 0 / ≤ %d s", int(target.Seconds())), fmt.Sprintf("%d / %d / %s", b.lost, b.ghosts, convText(b.converged)), verdict(ok))
		if !ok {
			missed = append(missed, burstNote(b, target))
		}
	}
	for _, n := range missed {
		sec.printf("\n%s\n", n)
	}
	sec.printf("\n**Outages.** A steady run of %d changes/s (ConfigMaps created, changed and deleted through kube-apiserver in %s; agent at the lifted limit) lasts %s; %s into it the simulator answers every API request with 503 (first run) or 429 with `Retry-After: 5` (second run) for %s. ",
		e.o.sz.churnRate, mOut.name, secs(e.o.sz.outageRun), secs((e.o.sz.outageRun-e.o.sz.outage)/2), secs(e.o.sz.outage))
	sec.printf("*Converged after the outage* is the time from its end to the first converge check of the namespace whose only differences are objects changed in the 2 s before the check began (still in flight); after the run, a final check (every field) gives lost and ghosts.\n\n")
	sec.printf("| outage | changes made | rate achieved | requests refused | converged after the outage | final check clean after the churn stopped | lost | ghosts | hub |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, o := range outages {
		final := "**not clean**"
		if o.finalAfter >= 0 {
			final = secs(o.finalAfter)
		}
		sec.printf("| %s | %d | %.1f/s | %d | %s | %s | %d | %d | %s |\n", o.mode, o.changes, o.achieved, o.faultHits, convText(o.converged), final, o.lost, o.ghosts, o.hub)
		ok := o.converged >= 0 && o.converged <= 30*time.Second && o.lost == 0 && o.ghosts == 0
		e.rep.add(3, fmt.Sprintf("%s outage of %s in a %s run at %d/s: lost / ghosts / converged after", o.mode, secs(e.o.sz.outage), secs(e.o.sz.outageRun), e.o.sz.churnRate),
			"0 / 0 / ≤ 30 s", fmt.Sprintf("%d / %d / %s", o.lost, o.ghosts, convText(o.converged)), verdict(ok))
		if !ok {
			sec.printf("\n**Target missed (%s outage).** %d objects lost, %d ghosts, converged %s after the outage; the hub: %s. Its log (`e2e/bench/out/hub-*.log`) and the simulator's request log hold the detail.\n",
				o.mode, o.lost, o.ghosts, convText(o.converged), o.hub)
		}
	}
	return nil
}

func convText(d time.Duration) string {
	if d < 0 {
		return "not converged"
	}
	return secs(d)
}

// burst writes n pods into a fresh namespace of m and measures convergence.
func (e *env) burst(ctx context.Context, m *member, n int, limit string) (burstResult, error) {
	e.bulk.nsSeq++
	ns := fmt.Sprintf("bench-burst-%d", e.bulk.nsSeq)
	r := burstResult{label: ns, member: m.name, limit: limit, n: n, converged: -1}
	if err := ensureNamespace(ctx, m.bulk, ns); err != nil {
		return r, err
	}
	e.bulk.namespaces++
	if last, _ := lastSnapshot(e.sim, m.uid); time.Since(last) < minSnapshotAge {
		wait := time.Until(last.Add(minSnapshotAge))
		e.progress("burst %d in %s: waiting %s, until the agent's last snapshot is %s old", n, m.name, secs(wait), secs(minSnapshotAge))
		if err := sleep(ctx, wait); err != nil {
			return r, err
		}
	}
	before := e.counters(m)
	start := time.Now()
	refs, err := writeObjects(ctx, m, e.o.seed, "Pod", ns, n)
	if err != nil {
		return r, err
	}
	end := time.Now()
	r.wrote = end.Sub(start)
	e.bulk.pods[m.name] += n
	want := map[string]bool{}
	for _, ref := range refs {
		want[ref.UID] = true
	}
	timeout := 4 * time.Minute
	if e.o.quick {
		timeout = 3 * time.Minute
	}
	for {
		have := 0
		for _, uid := range e.sim.ObjectUIDs(m.uid, "Pod", ns) {
			if want[uid] {
				have++
			}
		}
		if have == len(want) {
			r.converged = time.Since(end)
			break
		}
		if err := e.hub.alive(); err != nil {
			return r, err
		}
		if time.Since(end) > timeout {
			// Keep the hub's view (outbox, cache counts, snapshots) for the diagnosis.
			if text, err := e.hub.scrape(); err == nil {
				path := filepath.Join(e.out, "metrics-"+ns+".txt")
				if err := os.WriteFile(path, []byte(text), 0o644); err == nil {
					e.progress("burst %d in %s: not converged within %s; the hub's metrics are in %s", n, m.name, secs(timeout), path)
				}
			}
			break
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return r, err
		}
	}
	rep, err := converge.Check(ctx, m.c.Client, m.uid, nsPlatform{e.sim, []string{ns}}, converge.Options{Kinds: []string{"Pod"}, Namespaces: []string{ns}})
	if err != nil {
		return r, err
	}
	r.lost, r.ghosts, r.diffs = lostOf(rep), len(rep.Ghosts), len(rep.Diffs)
	after := e.counters(m)
	r.hub = before.delta(after)
	r.sent = int(after.sent - before.sent)
	for reason, v := range after.snapshots {
		r.snapshots += int(v - before.snapshots[reason])
	}
	e.progress("burst %d in %s (%s): written in %s, converged %s, lost %d, ghosts %d; %s", n, m.name, limit, secs(r.wrote), convText(r.converged), r.lost, r.ghosts, r.hub)
	return r, nil
}

// lostOf counts the objects a report says the platform does not have right: missing, or
// holding a differing field.
func lostOf(rep converge.Report) int {
	objs := map[string]bool{}
	for _, m := range rep.Missing {
		objs[m.UID] = true
	}
	for _, d := range rep.Diffs {
		objs[d.UID] = true
	}
	return len(objs)
}

// churn drives steady changes to ConfigMaps of one namespace: creates, changes and deletes.
type churn struct {
	m  *member
	ns string
	b  *workload.Builder

	mu      sync.Mutex // guards live, busy, changed, made
	live    []workload.Ref
	busy    map[string]bool
	changed map[string]time.Time // uid → last change acknowledged
	made    int
	err     error
}

// op makes the k-th change.
func (c *churn) op(ctx context.Context, k int) {
	c.mu.Lock()
	var pick *workload.Ref
	kind := k % 10 // 0-4 create, 5-7 change, 8-9 delete
	if len(c.live) < 20 {
		kind = 0
	}
	if kind >= 5 {
		for i := range c.live {
			idx := (k*7 + i) % len(c.live)
			if !c.busy[c.live[idx].UID] {
				ref := c.live[idx]
				pick = &ref
				c.busy[ref.UID] = true
				if kind >= 8 {
					c.live = append(c.live[:idx], c.live[idx+1:]...)
				}
				break
			}
		}
		if pick == nil {
			kind = 0
		}
	}
	c.mu.Unlock()

	var err error
	var uid string
	switch {
	case kind < 5:
		obj := c.b.Object(k)
		err = c.m.bulk.Create(ctx, obj)
		uid = string(obj.GetUID())
		if err == nil {
			c.mu.Lock()
			c.live = append(c.live, workload.Ref{Kind: "ConfigMap", Namespace: c.ns, Name: obj.GetName(), UID: uid})
			c.mu.Unlock()
		}
	case kind < 8:
		err = workload.Mutate(ctx, c.m.bulk, []workload.Ref{*pick}, workload.Options{})
		uid = pick.UID
	default:
		err = workload.Delete(ctx, c.m.bulk, []workload.Ref{*pick}, workload.Options{})
		uid = pick.UID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pick != nil {
		delete(c.busy, pick.UID)
	}
	if err != nil {
		if c.err == nil && ctx.Err() == nil {
			c.err = err
		}
		return
	}
	c.made++
	c.changed[uid] = time.Now()
}

// recentlyChanged reports whether uid was changed after t.
func (c *churn) recentlyChanged(uid string, t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed[uid].After(t)
}

// outageRun is one steady run at churnRate with an outage in its middle.
func (e *env) outageRun(ctx context.Context, m *member, mode string) (outageResult, error) {
	sz := e.o.sz
	res := outageResult{mode: mode, converged: -1, finalAfter: -1}
	ns := "bench-outage-" + mode
	if err := ensureNamespace(ctx, m.bulk, ns); err != nil {
		return res, err
	}
	e.bulk.namespaces++
	b, err := workload.NewBuilder("ConfigMap", ns, workload.Options{Prefix: "churn"})
	if err != nil {
		return res, err
	}
	c := &churn{m: m, ns: ns, b: b, busy: map[string]bool{}, changed: map[string]time.Time{}}
	before := e.counters(m)
	hitsBefore := e.faultHits()

	e.progress("outage %s: %s steady run at %d changes/s in %s, outage of %s in the middle", mode, secs(sz.outageRun), sz.churnRate, m.name, secs(sz.outage))
	start := time.Now()
	outStart := start.Add((sz.outageRun - sz.outage) / 2)
	outEnd := outStart.Add(sz.outage)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the fault
		defer wg.Done()
		if sleep(runCtx, time.Until(outStart)) != nil {
			return
		}
		f := platform.Fault{Mode: platform.FaultStatus, Status: 503, Until: outEnd}
		if mode == "429" {
			f = platform.Fault{Mode: platform.FaultRateLimited, RetryAfter: 5 * time.Second, Until: outEnd}
		}
		if _, err := e.sim.Faults().Inject(f); err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
		}
	}()
	convCh := make(chan time.Duration, 1)
	convCtx, stopConv := context.WithDeadline(ctx, outEnd.Add(2*time.Minute))
	defer stopConv()
	go func() { // convergence after the outage, while the churn goes on
		if sleep(convCtx, time.Until(outEnd)) != nil {
			convCh <- -1
			return
		}
		for convCtx.Err() == nil {
			checkStart := time.Now()
			rep, err := converge.Check(convCtx, m.c.Client, m.uid, nsPlatform{e.sim, []string{ns}}, converge.Options{Kinds: []string{"ConfigMap"}, Namespaces: []string{ns}})
			if err == nil && onlyInFlight(rep, c, checkStart.Add(-2*time.Second)) {
				convCh <- checkStart.Sub(outEnd)
				return
			}
			_ = sleep(convCtx, 250*time.Millisecond)
		}
		convCh <- -1
	}()

	// The churn: paced, four at a time.
	interval := time.Second / time.Duration(sz.churnRate)
	total := int(sz.outageRun / interval)
	sem := make(chan struct{}, 4)
	var ops sync.WaitGroup
	for k := range total {
		if err := sleep(ctx, time.Until(start.Add(time.Duration(k)*interval))); err != nil {
			return res, err
		}
		sem <- struct{}{}
		ops.Add(1)
		go func() {
			defer func() { <-sem; ops.Done() }()
			c.op(ctx, k)
		}()
	}
	ops.Wait()
	churnEnd := time.Now()
	cancel()
	wg.Wait()
	res.converged = <-convCh
	if c.err != nil {
		return res, fmt.Errorf("outage run %s: %w", mode, c.err)
	}
	if err := e.hub.alive(); err != nil {
		return res, err
	}
	res.changes = c.made
	res.achieved = float64(c.made) / churnEnd.Sub(start).Seconds()
	res.faultHits = e.faultHits() - hitsBefore

	rep, err := converge.WaitConverged(ctx, m.c.Client, m.uid, nsPlatform{e.sim, []string{ns}},
		converge.Options{Kinds: []string{"ConfigMap"}, Namespaces: []string{ns}, PollInterval: 250 * time.Millisecond}, 2*time.Minute)
	if err == nil {
		res.finalAfter = time.Since(churnEnd)
	}
	res.lost, res.ghosts, res.diffs = lostOf(rep), len(rep.Ghosts), len(rep.Diffs)
	res.hub = before.delta(e.counters(m))
	e.progress("outage %s: %d changes (%.1f/s), %d requests refused, converged %s after the outage; final: lost %d, ghosts %d; %s",
		mode, res.changes, res.achieved, res.faultHits, convText(res.converged), res.lost, res.ghosts, res.hub)
	return res, nil
}

// onlyInFlight reports whether every difference in rep is an object changed after t.
func onlyInFlight(rep converge.Report, c *churn, t time.Time) bool {
	for _, r := range rep.Missing {
		if !c.recentlyChanged(r.UID, t) {
			return false
		}
	}
	for _, r := range rep.Ghosts {
		if !c.recentlyChanged(r.UID, t) {
			return false
		}
	}
	for _, d := range rep.Diffs {
		if !c.recentlyChanged(d.UID, t) {
			return false
		}
	}
	return true
}

func (e *env) faultHits() int {
	n := 0
	for _, v := range e.sim.Stats().FaultHits {
		n += v
	}
	return n
}

// burstNote explains a missed burst target from what the hub did.
func burstNote(b burstResult, target time.Duration) string {
	head := fmt.Sprintf("**Target missed (burst of %d, %s limit):** converged %s after the burst, %d lost, %d ghosts; the hub sent %d events and %d snapshots meanwhile.",
		b.n, strings.Fields(b.limit)[0], convText(b.converged), b.lost, b.ghosts, b.sent, b.snapshots)
	switch {
	case b.lost > 0 || b.ghosts > 0:
		return head + " Changes were lost: this is a defect of the hub, not a question of speed; the converge report and the hub's log hold the objects."
	case b.snapshots >= 2:
		return head + " *What limits it:* the hub sends a snapshot instead of a backlog as soon as the backlog exceeds about a second of sending at the agent's rate limit, which happens at the very start of a burst, so that snapshot carries only the objects written by then; the rest of the burst waits for the next one, which the hub allows only after its minimum snapshot interval (1 minute). *What would fix it:* decide on a backlog snapshot once the backlog has stopped growing (the burst is over), or allow the next snapshot early when the previous one was overtaken by the burst it was meant to absorb."
	case b.snapshots == 1 && b.sent > 0:
		return head + fmt.Sprintf(" *What limits it:* after the backlog snapshot at the start of the burst, the rest was sent as events, at about %.0f per second against the rate limit the hub's backlog policy assumes; the next snapshot is allowed only a minute later. *What would fix it:* base the backlog policy on the measured send rate rather than the configured limit, and decide once the backlog stops growing.", float64(b.sent)/math.Max(b.converged.Seconds(), 1))
	default:
		return head + " *What limits it:* the backlog was sent as events; see the delivery rate (measurement 1) and the CPU profiles."
	}
}
