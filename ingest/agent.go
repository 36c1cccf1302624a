package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/obsyk/obsyk-hub/transport"
)

// Sender delivers payloads to the platform. *transport.Client satisfies it. A returned
// error that transport.IsPermanent reports drops the one change (or fails the snapshot);
// any other error is retried, honouring transport.TemporaryError.RetryAfter.
type Sender interface {
	SendSnapshot(ctx context.Context, s *transport.SnapshotPayload) error
	SendEvent(ctx context.Context, e *transport.EventPayload) error
}

// Why a snapshot was sent (AgentStats.Snapshots keys).
const (
	SnapshotInitial     = "initial"      // the first one of a binding
	SnapshotEngaged     = "engaged"      // the cluster was engaged again (hub start, reconnect)
	SnapshotKinds       = "kinds"        // a kind became available after the sync
	SnapshotOverflow    = "overflow"     // the outbox overflowed
	SnapshotBacklog     = "backlog"      // draining the backlog would take longer
	SnapshotAntiEntropy = "anti-entropy" // the periodic one
)

// Defaults of AgentOptions.
const (
	DefaultWorkers             = 4
	DefaultAntiEntropyInterval = 6 * time.Hour
	DefaultMinSnapshotInterval = time.Minute
	// DefaultBacklogSettle is AgentOptions.BacklogSettle's default.
	DefaultBacklogSettle   = 10 * time.Second
	DefaultSendTimeout     = 30 * time.Second
	DefaultSnapshotTimeout = 5 * time.Minute
)

// AgentOptions configures one bound agent. Sender is required; the rest may be zero.
type AgentOptions struct {
	// Sender delivers the agent's snapshots and events. Required.
	Sender Sender
	// ClusterName is the snapshot's cluster_name. Default: the cluster's name.
	ClusterName string
	// AgentVersion is the snapshot's agent_version. Default: empty (the Client's own).
	AgentVersion string
	// Kinds are the kinds sent, among those the Manager collects. Default: the Manager's
	// kinds without Secret (Secret only when listed here and collected).
	Kinds []transport.Kind
	// IncludeNamespaces, when set, limits namespaced objects to these namespaces and
	// Namespace objects to these names. Default: all namespaces.
	IncludeNamespaces []string
	// ExcludeNamespaces leaves out the namespaced objects of these namespaces and the
	// Namespace objects of these names. Default: none.
	ExcludeNamespaces []string
	// RateLimit is the events per second sent; 0 means unlimited. Snapshots are not
	// counted. Default 0.
	RateLimit float64
	// RateBurst is the rate limiter's burst. Default: max(1, RateLimit).
	RateBurst int
	// Workers is the number of events sent concurrently. Default: DefaultWorkers (4).
	Workers int
	// AntiEntropyInterval is the period of the periodic snapshot; negative turns it off.
	// Default (0): DefaultAntiEntropyInterval (6h).
	AntiEntropyInterval time.Duration
	// MinSnapshotInterval is the least time between two snapshots sent for the overflow,
	// backlog and anti-entropy reasons, and the cap of the backoff after a failed snapshot.
	// Default: DefaultMinSnapshotInterval (1m).
	MinSnapshotInterval time.Duration
	// SendTimeout bounds one event send (the Sender's own retries included).
	// Default: DefaultSendTimeout (30s).
	SendTimeout time.Duration
	// SnapshotTimeout bounds one snapshot send. Default: DefaultSnapshotTimeout (5m).
	SnapshotTimeout time.Duration
	// RetryBase and RetryMax bound the backoff of a change whose send failed temporarily.
	// Defaults: 500ms and 30s.
	RetryBase, RetryMax time.Duration
	// CheckInterval is how often the agent checks its cluster's pipeline and backlog.
	// Default: 250ms.
	CheckInterval time.Duration
	// BacklogSettle is how long a backlog long enough for a snapshot may keep growing
	// before the snapshot is sent anyway. A backlog snapshot waits for the backlog to stop
	// growing (for two checks), so that it carries the whole of a burst rather than its
	// first objects and leaves the rest for the next snapshot, a MinSnapshotInterval later.
	// Default: DefaultBacklogSettle (10s).
	BacklogSettle time.Duration
	// OutboxMaxBytes is the outbox's byte budget. Default: DefaultOutboxMaxBytes.
	OutboxMaxBytes int64
}

func (o AgentOptions) withDefaults(clusterName string, collected []transport.Kind) AgentOptions {
	if o.ClusterName == "" {
		o.ClusterName = clusterName
	}
	if len(o.Kinds) == 0 {
		for _, k := range collected {
			if k != transport.KindSecret {
				o.Kinds = append(o.Kinds, k)
			}
		}
	}
	if o.RateBurst <= 0 {
		o.RateBurst = max(1, int(math.Ceil(o.RateLimit)))
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.AntiEntropyInterval == 0 {
		o.AntiEntropyInterval = DefaultAntiEntropyInterval
	}
	if o.MinSnapshotInterval <= 0 {
		o.MinSnapshotInterval = DefaultMinSnapshotInterval
	}
	if o.BacklogSettle <= 0 {
		o.BacklogSettle = DefaultBacklogSettle
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.SnapshotTimeout <= 0 {
		o.SnapshotTimeout = DefaultSnapshotTimeout
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 500 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = 250 * time.Millisecond
	}
	return o
}

// AgentStats is a point-in-time view of one bound agent.
type AgentStats struct {
	Cluster string
	// Outbox holds depth, in-flight, oldest age and the counters of changes added
	// (events in), coalesced, delivered, dropped and discarded by snapshots.
	Outbox OutboxStats
	// Sent counts the events the platform accepted; Skipped the added/modified changes not
	// sent because their object was gone from the cache (or the pipeline was replaced).
	Sent, Skipped uint64
	// FailedTemporary counts the event sends that failed and were retried, FailedPermanent
	// those the platform rejected permanently (each dropped its change: Outbox.Dropped).
	FailedTemporary, FailedPermanent uint64
	// Suppressed counts the cluster's updates that changed nothing the contract carries.
	Suppressed uint64
	// Snapshots counts accepted snapshots by reason (Snapshot* constants).
	Snapshots map[string]int
	// SnapshotFailures counts snapshots that were not accepted.
	SnapshotFailures int
	// LastSnapshot is when the last snapshot was accepted, and LastSnapshotObjects how
	// many objects it held.
	LastSnapshot        time.Time
	LastSnapshotObjects int
	// LastError is the last send error, or empty.
	LastError string
	// SnapshotInFlight is true while a snapshot is being built or sent.
	SnapshotInFlight bool
}

// agent is one bound agent: its outbox, workers and snapshot loop.
type agent struct {
	key     string
	cluster string
	opts    AgentOptions
	m       *Manager
	log     logr.Logger
	outbox  *Outbox
	limiter *rate.Limiter
	kinds   map[transport.Kind]bool
	include map[string]bool // nil: all
	exclude map[string]bool

	cancel context.CancelFunc
	prev   *agent        // the agent this one replaced: its goroutines must end first
	done   chan struct{} // closed when every goroutine of this agent has ended

	// snapGen is the generation of the pipeline the last accepted snapshot was read from.
	// Workers send only while the current pipeline is that one.
	snapGen atomic.Uint64

	sent, skipped                    atomic.Uint64
	failedTemporary, failedPermanent atomic.Uint64
	snapInFlight                     atomic.Bool

	// snapshotDuration and lag are the agent's histograms (Metrics), nil without metrics.
	snapshotDuration, lag prometheus.Observer

	// mu guards snapshots, snapFailures, lastSnap, lastSnapObjects and lastErr.
	mu              sync.Mutex
	snapshots       map[string]int
	snapFailures    int
	lastSnap        time.Time
	lastSnapObjects int
	lastErr         string
}

// Bind binds an agent (by its key, e.g. the ObsykAgent's namespace/name) to a cluster name:
// its changes go to a new outbox of its own, and it sends a snapshot first, once the
// cluster's pipeline has synced, then the changes. Binding a key again replaces the
// earlier binding (new options, new outbox, a fresh snapshot): that is how a filter change
// takes effect, including removing objects the new filter excludes.
func (m *Manager) Bind(agentKey, clusterName string, opts AgentOptions) error {
	if opts.Sender == nil {
		return fmt.Errorf("bind agent %s: a Sender is required", agentKey)
	}
	if agentKey == "" || clusterName == "" {
		return fmt.Errorf("bind agent %q: agent key and cluster name are required", agentKey)
	}
	opts = opts.withDefaults(clusterName, m.opts.Kinds)
	a := &agent{
		key:       agentKey,
		cluster:   clusterName,
		opts:      opts,
		m:         m,
		log:       m.log.WithValues("agent", agentKey, "cluster", clusterName),
		outbox:    NewOutbox(OutboxOptions{MaxBytes: opts.OutboxMaxBytes}),
		limiter:   rate.NewLimiter(rate.Inf, 0),
		kinds:     map[transport.Kind]bool{},
		exclude:   map[string]bool{},
		done:      make(chan struct{}),
		cancel:    func() {},
		snapshots: map[string]int{},
	}
	if opts.RateLimit > 0 {
		a.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit), opts.RateBurst)
	}
	for _, k := range opts.Kinds {
		for _, c := range m.opts.Kinds {
			if c == k {
				a.kinds[k] = true
			}
		}
	}
	if len(opts.IncludeNamespaces) > 0 {
		a.include = map[string]bool{}
		for _, ns := range opts.IncludeNamespaces {
			a.include[ns] = true
		}
	}
	for _, ns := range opts.ExcludeNamespaces {
		a.exclude[ns] = true
	}
	// Events wait for the first accepted snapshot. A new Outbox has nothing in flight,
	// so Pause returns at once.
	if _, err := a.outbox.Pause(context.Background()); err != nil {
		return fmt.Errorf("bind agent %s: %w", agentKey, err)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return fmt.Errorf("bind agent %s: %w", agentKey, ErrStopped)
	}
	if old, ok := m.agents[agentKey]; ok {
		a.prev = old
		old.cancel()
		m.removeFromClusterLocked(old)
		m.opts.Metrics.forget(agentKey, old.cluster)
	}
	a.snapshotDuration, a.lag = m.opts.Metrics.agentObservers(agentKey, clusterName)
	m.agents[agentKey] = a
	list := m.byCluster[clusterName]
	m.byCluster[clusterName] = append(list[:len(list):len(list)], a)
	m.goLocked(func(mctx context.Context) {
		ctx, cancel := context.WithCancel(mctx)
		m.mu.Lock()
		if m.agents[agentKey] != a { // replaced or unbound before it started
			m.mu.Unlock()
			cancel()
			close(a.done)
			return
		}
		a.cancel = cancel
		m.mu.Unlock()
		a.run(ctx)
		cancel()
	})
	return nil
}

// Unbind stops an agent and drops its outbox. It returns at once.
func (m *Manager) Unbind(agentKey string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.agents[agentKey]
	if !ok {
		return
	}
	a.cancel()
	delete(m.agents, agentKey)
	m.removeFromClusterLocked(a)
	m.opts.Metrics.forget(agentKey, a.cluster)
}

func (m *Manager) removeFromClusterLocked(a *agent) {
	old := m.byCluster[a.cluster]
	list := make([]*agent, 0, len(old))
	for _, x := range old {
		if x != a {
			list = append(list, x)
		}
	}
	if len(list) == 0 {
		delete(m.byCluster, a.cluster)
		return
	}
	m.byCluster[a.cluster] = list
}

// AgentStats returns the figures of a bound agent, and false when the key is not bound.
func (m *Manager) AgentStats(agentKey string) (AgentStats, bool) {
	m.mu.Lock()
	a, ok := m.agents[agentKey]
	e := m.clusters[a.clusterOrEmpty()]
	m.mu.Unlock()
	if !ok {
		return AgentStats{}, false
	}
	st := AgentStats{
		Cluster: a.cluster,
		Outbox:  a.outbox.Stats(),
		Sent:    a.sent.Load(),
		Skipped: a.skipped.Load(),

		FailedTemporary: a.failedTemporary.Load(),
		FailedPermanent: a.failedPermanent.Load(),

		SnapshotInFlight: a.snapInFlight.Load(),
	}
	if e != nil {
		st.Suppressed = e.p.suppressed.Load()
	}
	a.mu.Lock()
	st.Snapshots = maps.Clone(a.snapshots)
	st.SnapshotFailures = a.snapFailures
	st.LastSnapshot = a.lastSnap
	st.LastSnapshotObjects = a.lastSnapObjects
	st.LastError = a.lastErr
	a.mu.Unlock()
	return st, true
}

func (a *agent) clusterOrEmpty() string {
	if a == nil {
		return ""
	}
	return a.cluster
}

// wants reports whether the agent's kinds and namespace filter let a change through.
func (a *agent) wants(c Change) bool {
	return a.kinds[c.Kind] && a.namespaceOK(c.Kind, c.Namespace, c.Name)
}

func (a *agent) namespaceOK(k transport.Kind, namespace, name string) bool {
	ns := namespace
	switch {
	case k == transport.KindNamespace:
		ns = name
	case k.ClusterScoped():
		return true
	}
	if a.include != nil && !a.include[ns] {
		return false
	}
	return !a.exclude[ns]
}

func (a *agent) setErr(err error) {
	a.mu.Lock()
	a.lastErr = err.Error()
	a.mu.Unlock()
}

// run is the agent's control loop: it sends the snapshots, starts the workers after the
// first accepted one, and waits for them before it returns.
func (a *agent) run(ctx context.Context) {
	defer close(a.done)
	var workers sync.WaitGroup
	defer workers.Wait()
	if a.prev != nil {
		select {
		case <-a.prev.done:
		case <-ctx.Done():
			return
		}
		a.prev = nil
	}

	var (
		started     bool // workers running (the first snapshot was accepted)
		reason      = SnapshotInitial
		lastGen     uint64
		lastKinds   uint64
		lastSnap    time.Time
		lastDur     time.Duration
		backoff     time.Duration
		notBefore   time.Time
		antiEntropy <-chan time.Time
		// The backlog: its depth at the last check, when it last grew, and since when it
		// has been long enough for a snapshot (zero: it is not).
		lastDepth    int
		lastGrowth   time.Time
		backlogSince time.Time
		// lastReason is the reason of the last accepted snapshot; followedUp is true when
		// it was a backlog snapshot's follow-up (see below).
		lastReason string
		followedUp bool
	)
	tick := time.NewTicker(a.opts.CheckInterval)
	defer tick.Stop()
	var aeTimer *time.Timer
	resetAntiEntropy := func() {
		if a.opts.AntiEntropyInterval <= 0 {
			return
		}
		if aeTimer != nil {
			aeTimer.Stop()
		}
		aeTimer = time.NewTimer(a.opts.AntiEntropyInterval)
		antiEntropy = aeTimer.C
	}
	defer func() {
		if aeTimer != nil {
			aeTimer.Stop()
		}
	}()

	for {
		now := time.Now()
		if p := a.m.pipelineOf(a.cluster); p != nil && p.isSynced() {
			forced := false
			switch {
			case reason == SnapshotInitial:
				forced = true
			case p.gen != lastGen:
				reason, forced = SnapshotEngaged, true
			case p.kindsVersion.Load() != lastKinds:
				reason, forced = SnapshotKinds, true
			}
			followUp := reason == SnapshotBacklog && lastReason == SnapshotBacklog && !followedUp
			due := reason != "" && !now.Before(notBefore) &&
				(forced || followUp || now.Sub(lastSnap) >= a.opts.MinSnapshotInterval)
			if due {
				kv := p.kindsVersion.Load()
				start := time.Now()
				err := a.snapshot(ctx, p, reason, &started, &workers)
				switch {
				case err == nil:
					followedUp = followUp && start.Sub(lastSnap) < a.opts.MinSnapshotInterval
					lastGen, lastKinds, lastSnap = p.gen, kv, time.Now()
					lastDur = time.Since(start)
					lastReason = reason
					// The snapshot emptied the backlog of what it carried: what comes
					// next is new growth, not a backlog that stopped growing.
					lastDepth, lastGrowth, backlogSince = 0, lastSnap, time.Time{}
					reason, backoff, notBefore = "", 0, time.Time{}
					resetAntiEntropy()
				case ctx.Err() != nil:
					return
				default:
					backoff = min(max(2*backoff, time.Second), a.opts.MinSnapshotInterval)
					notBefore = time.Now().Add(backoff)
					a.log.Error(err, "snapshot not accepted", "duration", backoff)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-a.outbox.Overflow():
			if reason == "" {
				reason = SnapshotOverflow
			}
		case <-antiEntropy:
			antiEntropy = nil
			if reason == "" {
				reason = SnapshotAntiEntropy
			}
		}
		if reason == "" && started && a.opts.RateLimit > 0 {
			now := time.Now()
			depth, _ := a.outbox.Backlog()
			if depth > lastDepth {
				lastGrowth = now
			}
			lastDepth = depth
			drain := time.Duration(float64(depth) / a.opts.RateLimit * float64(time.Second))
			// A backlog snapshot that a burst overtook (the burst went on after it: its
			// backlog is long again) gets one follow-up before MinSnapshotInterval.
			allowed := now.Sub(lastSnap) >= a.opts.MinSnapshotInterval ||
				(lastReason == SnapshotBacklog && !followedUp)
			switch {
			case drain <= max(lastDur, time.Second) || !allowed:
				backlogSince = time.Time{}
			case backlogSince.IsZero():
				backlogSince = now
			}
			// Wait for the end of the burst (no growth for a second, at least two checks),
			// or BacklogSettle.
			if !backlogSince.IsZero() && (now.Sub(lastGrowth) >= max(2*a.opts.CheckInterval, time.Second) ||
				now.Sub(backlogSince) >= a.opts.BacklogSettle) {
				reason, backlogSince = SnapshotBacklog, time.Time{}
			}
		}
	}
}

// snapshot pauses the outbox (no event in flight), reads the pipeline's cache, sends the
// snapshot and resumes the outbox: after the snapshot, discarding what it carried, or as
// it was when it failed (unless no snapshot was ever accepted: events stay held).
func (a *agent) snapshot(ctx context.Context, p *pipeline, reason string, started *bool, workers *sync.WaitGroup) error {
	select {
	case a.m.snapSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.m.snapSem }()
	start := time.Now()

	if !*started {
		// Paused since Bind and no worker runs: re-pause for a Mark that covers every
		// change added so far.
		a.outbox.Resume()
	}
	mark, err := a.outbox.Pause(ctx)
	if err != nil {
		return err
	}
	a.snapInFlight.Store(true)
	defer a.snapInFlight.Store(false)
	payload, n := a.buildSnapshot(p)
	bctx, unbind := boundTo(ctx, p)
	dctx, stopDrain := drainContext(bctx, a.m.opts.DrainTimeout)
	sctx, cancel := context.WithTimeout(dctx, a.opts.SnapshotTimeout)
	err = a.opts.Sender.SendSnapshot(sctx, payload)
	cancel()
	stopDrain()
	unbind()
	if err != nil {
		a.setErr(err)
		a.mu.Lock()
		a.snapFailures++
		a.mu.Unlock()
		if *started {
			a.outbox.Resume()
		}
		return fmt.Errorf("send snapshot: %w", err)
	}
	a.snapGen.Store(p.gen)
	a.outbox.ResumeAfterSnapshot(mark)
	if a.snapshotDuration != nil {
		a.snapshotDuration.Observe(time.Since(start).Seconds())
	}
	a.mu.Lock()
	a.snapshots[reason]++
	a.lastSnap = time.Now()
	a.lastSnapObjects = n
	a.mu.Unlock()
	a.log.V(1).Info("snapshot accepted", "reason", reason, "objects", n)
	if !*started {
		*started = true
		for range a.opts.Workers {
			workers.Add(1)
			go func() {
				defer workers.Done()
				a.work(ctx)
			}()
		}
	}
	return nil
}

// buildSnapshot reads the agent's kinds from the pipeline's cache, filtered by namespace.
// The records are shared with the cache; they are immutable.
func (a *agent) buildSnapshot(p *pipeline) (*transport.SnapshotPayload, int) {
	s := &transport.SnapshotPayload{
		ClusterUID:   p.clusterUID,
		ClusterName:  a.opts.ClusterName,
		AgentVersion: a.opts.AgentVersion,
	}
	n := 0
	for _, k := range transport.Kinds {
		if !a.kinds[k] || !p.available(k) {
			continue
		}
		for _, it := range p.list(k) {
			if a.namespaceOK(k, it.namespace, it.name) && appendRecord(s, it.record) {
				n++
			}
		}
	}
	return s, n
}

// appendRecord appends a record to the snapshot array of its kind.
func appendRecord(s *transport.SnapshotPayload, r transport.Record) bool {
	switch v := r.(type) {
	case *transport.NamespaceInfo:
		s.Namespaces = append(s.Namespaces, v)
	case *transport.PodInfo:
		s.Pods = append(s.Pods, v)
	case *transport.ServiceInfo:
		s.Services = append(s.Services, v)
	case *transport.NodeInfo:
		s.Nodes = append(s.Nodes, v)
	case *transport.DeploymentInfo:
		s.Deployments = append(s.Deployments, v)
	case *transport.StatefulSetInfo:
		s.StatefulSets = append(s.StatefulSets, v)
	case *transport.DaemonSetInfo:
		s.DaemonSets = append(s.DaemonSets, v)
	case *transport.JobInfo:
		s.Jobs = append(s.Jobs, v)
	case *transport.CronJobInfo:
		s.CronJobs = append(s.CronJobs, v)
	case *transport.IngressInfo:
		s.Ingresses = append(s.Ingresses, v)
	case *transport.NetworkPolicyInfo:
		s.NetworkPolicies = append(s.NetworkPolicies, v)
	case *transport.ConfigMapInfo:
		s.ConfigMaps = append(s.ConfigMaps, v)
	case *transport.SecretInfo:
		s.Secrets = append(s.Secrets, v)
	case *transport.PVCInfo:
		s.PVCs = append(s.PVCs, v)
	case *transport.ServiceAccountInfo:
		s.ServiceAccounts = append(s.ServiceAccounts, v)
	case *transport.RoleInfo:
		if v.IsCluster {
			s.ClusterRoles = append(s.ClusterRoles, v)
		} else {
			s.Roles = append(s.Roles, v)
		}
	case *transport.RoleBindingInfo:
		if v.IsCluster {
			s.ClusterRoleBindings = append(s.ClusterRoleBindings, v)
		} else {
			s.RoleBindings = append(s.RoleBindings, v)
		}
	case *transport.EventInfo:
		s.Events = append(s.Events, v)
	default:
		return false
	}
	return true
}

// boundTo returns ctx, also cancelled when the pipeline p stops.
func boundTo(ctx context.Context, p *pipeline) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.ctx, cancel)
	return c, func() {
		stop()
		cancel()
	}
}

// drainContext returns a context for one send that outlives ctx by at most grace: a send
// in flight when the agent stops may finish (bounded), instead of being cut off with the
// platform half-way through it. With grace 0 it is ctx itself.
func drainContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	if grace <= 0 {
		return ctx, func() {}
	}
	d, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-d.Done():
		}
	})
	return d, func() {
		stop()
		cancel()
	}
}

// work is one sender worker: it takes changes from the outbox until ctx ends.
func (a *agent) work(ctx context.Context) {
	for {
		it, err := a.outbox.Get(ctx)
		if err != nil {
			return
		}
		a.outbox.Done(it, a.send(ctx, it))
	}
}

// send delivers one change, reading its record from the cache now.
func (a *agent) send(ctx context.Context, it Item) Outcome {
	p := a.m.pipelineOf(a.cluster)
	if p == nil || !p.isSynced() || p.gen != a.snapGen.Load() {
		// The pipeline the last snapshot came from is gone; the snapshot of its
		// successor, which the control loop sends next, carries the current state.
		a.skipped.Add(1)
		return Delivered
	}
	ev := &transport.EventPayload{
		ClusterUID: p.clusterUID,
		Type:       it.Type,
		Kind:       it.Kind,
		UID:        it.UID,
		Name:       it.Name,
		Namespace:  it.Namespace,
	}
	if it.Type != transport.EventDeleted {
		cur, ok := p.get(it.Key())
		if !ok || cur.uid != it.UID {
			a.skipped.Add(1)
			return Delivered
		}
		ev.Object = cur.record
	}
	if err := a.limiter.Wait(ctx); err != nil {
		return Retry(0)
	}
	bctx, unbind := boundTo(ctx, p)
	dctx, stopDrain := drainContext(bctx, a.m.opts.DrainTimeout)
	sctx, cancel := context.WithTimeout(dctx, a.opts.SendTimeout)
	err := a.opts.Sender.SendEvent(sctx, ev)
	cancel()
	stopDrain()
	unbind()
	switch {
	case err == nil:
		a.sent.Add(1)
		if a.lag != nil && it.observed != 0 {
			a.lag.Observe(float64(monoNow()-it.observed) / 1e9)
		}
		return Delivered
	case transport.IsPermanent(err):
		a.failedPermanent.Add(1)
		a.setErr(err)
		a.log.Error(err, "event rejected, dropped", "kind", it.Kind, "uid", it.UID)
		return Dropped
	default:
		if ctx.Err() == nil { // not the agent stopping
			a.failedTemporary.Add(1)
		}
		a.setErr(err)
		d := min(a.opts.RetryBase<<min(it.Attempts, 16), a.opts.RetryMax)
		var te *transport.TemporaryError
		if errors.As(err, &te) && te.RetryAfter > d {
			d = te.RetryAfter
		}
		return Retry(d)
	}
}
