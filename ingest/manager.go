package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/obsyk/obsyk-hub/transport"
)

// Defaults of Options.
const (
	DefaultListConcurrency     = 4
	DefaultSnapshotConcurrency = 2
	DefaultSyncTimeout         = 2 * time.Minute
	DefaultRequestTimeout      = 30 * time.Second
	DefaultQPS                 = 50
	DefaultBurst               = 100
)

// DefaultKinds are the kinds a Manager collects by default: the contract's 20 without
// Secret (collecting Secret key names needs cluster-wide Secret read in the member, the
// keys to every ServiceAccount token, so it is opt-in).
var DefaultKinds = func() []transport.Kind {
	var ks []transport.Kind
	for _, k := range transport.Kinds {
		if k != transport.KindSecret {
			ks = append(ks, k)
		}
	}
	return ks
}()

// ErrAlreadyStarted is returned by a second Start.
var ErrAlreadyStarted = errors.New("ingest manager already started")

// ErrStopped is returned by Engage and Bind once Start has returned.
var ErrStopped = errors.New("ingest manager stopped")

// Options configures a Manager. The zero value is valid.
type Options struct {
	// Logger receives the Manager's logs. Default: logr.Discard().
	Logger logr.Logger
	// Kinds are the kinds collected from every cluster. Default: DefaultKinds (all but
	// Secret).
	Kinds []transport.Kind
	// ListConcurrency bounds the initial lists running at once across all clusters.
	// Default: DefaultListConcurrency (4).
	ListConcurrency int
	// SnapshotConcurrency bounds the snapshots being built and sent at once across all
	// agents (a hub restart must not send every cluster's snapshot at once).
	// Default: DefaultSnapshotConcurrency (2).
	SnapshotConcurrency int
	// SyncTimeout bounds the wait for one kind's initial list; a kind not synced by then is
	// reported unavailable, left out of the snapshot and picked up when it syncs.
	// Default: DefaultSyncTimeout (2m).
	SyncTimeout time.Duration
	// RequestTimeout bounds the read of the cluster UID (kube-system namespace).
	// Default: DefaultRequestTimeout (30s).
	RequestTimeout time.Duration
	// QPS and Burst are the client-side rate limit of each member client.
	// Default: DefaultQPS (50) and DefaultBurst (100).
	QPS   float32
	Burst int
	// AvailabilityCheckInterval is how often unavailable kinds are checked for a late
	// sync. Default: 2s.
	AvailabilityCheckInterval time.Duration
	// EventChannelCapacity is the buffer of each cluster's event channel; beyond it,
	// changes coalesce per object (never dropped). Default: DefaultEventChannelCapacity.
	EventChannelCapacity int
	// DrainTimeout is how long a send in flight when the Manager (or its agent) stops may
	// still run to its end, so that a clean shutdown does not abandon requests the
	// platform is answering. No new send starts once stopping. Default 0: in-flight sends
	// are cancelled at once.
	DrainTimeout time.Duration
	// Metrics receives the pipeline's metrics while Start runs (NewMetrics). Default nil:
	// none recorded, and no clock is read per change for the end-to-end lag.
	Metrics *Metrics
}

func (o Options) withDefaults() Options {
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if len(o.Kinds) == 0 {
		o.Kinds = DefaultKinds
	}
	if o.ListConcurrency <= 0 {
		o.ListConcurrency = DefaultListConcurrency
	}
	if o.SnapshotConcurrency <= 0 {
		o.SnapshotConcurrency = DefaultSnapshotConcurrency
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = DefaultSyncTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.QPS <= 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.AvailabilityCheckInterval <= 0 {
		o.AvailabilityCheckInterval = 2 * time.Second
	}
	return o
}

// clusterEntry is the current engagement of one cluster name.
type clusterEntry struct {
	cl     cluster.Cluster
	p      *pipeline
	cancel context.CancelFunc
}

// Manager runs one pipeline per engaged member cluster and the agents bound to them. It
// implements multicluster.Aware. Create it with NewManager and run it with Start.
type Manager struct {
	opts    Options
	log     logr.Logger
	listSem chan struct{} // slots of initial lists, across clusters
	snapSem chan struct{} // slots of snapshots, across agents

	// mu guards every field below. It is never held across a remote call or a wait.
	mu          sync.Mutex
	ctx         context.Context // Start's context, nil before Start
	stopped     bool            // Start is returning: no new goroutine
	pending     []func()        // launches waiting for Start
	gen         uint64          // engagement counter
	clusters    map[string]*clusterEntry
	engagements map[string]int
	agents      map[string]*agent
	byCluster   map[string][]*agent // copy-on-write: a slice handed out is never modified
	wg          sync.WaitGroup      // every goroutine the Manager started; Add only under mu while !stopped
}

var _ multicluster.Aware = (*Manager)(nil)

// NewManager returns a Manager. It starts no goroutine.
func NewManager(opts Options) *Manager {
	opts = opts.withDefaults()
	return &Manager{
		opts:        opts,
		log:         opts.Logger,
		listSem:     make(chan struct{}, opts.ListConcurrency),
		snapSem:     make(chan struct{}, opts.SnapshotConcurrency),
		clusters:    map[string]*clusterEntry{},
		engagements: map[string]int{},
		agents:      map[string]*agent{},
		byCluster:   map[string][]*agent{},
	}
}

// Start runs the pipelines and agents engaged and bound so far and those to come. It
// blocks until ctx ends, waits for every goroutine it started, and returns nil.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return ErrAlreadyStarted
	}
	m.ctx = ctx
	for _, launch := range m.pending {
		launch()
	}
	m.pending = nil
	m.mu.Unlock()
	m.opts.Metrics.attach(m)

	<-ctx.Done()
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.wg.Wait()
	m.opts.Metrics.detach(m)
	m.mu.Lock()
	for key, a := range m.agents {
		m.opts.Metrics.forget(key, a.cluster)
	}
	m.mu.Unlock()
	return nil
}

// goLocked runs fn(ctx) in a goroutine the Manager waits for, with ctx derived from Start's
// context, now or when Start is called. m.mu must be held.
func (m *Manager) goLocked(fn func(ctx context.Context)) {
	if m.stopped {
		return
	}
	launch := func() {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			fn(m.ctx)
		}()
	}
	if m.ctx == nil {
		m.pending = append(m.pending, launch)
		return
	}
	launch()
}

// Engage starts collecting from a member cluster, replacing the pipeline of an earlier
// engagement of the same name (a re-engagement after a reconnect brings a new Cluster).
// It returns at once: the cluster UID read, the lists and the sync happen in the
// background, and everything stops when ctx ends. Engaging the Cluster already engaged is
// a no-op.
func (m *Manager) Engage(ctx context.Context, name multicluster.ClusterName, cl cluster.Cluster) error {
	cname := string(name)
	cfg := cl.GetConfig()
	if cfg == nil {
		return fmt.Errorf("engage cluster %s: no rest config", cname)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.clusters[cname]; ok && old.cl == cl {
		return nil
	}
	if m.stopped {
		return fmt.Errorf("engage cluster %s: %w", cname, ErrStopped)
	}
	m.gen++
	log := m.log.WithValues("cluster", cname)
	p, err := newPipeline(m, cname, m.gen, cfg, log)
	if err != nil {
		return fmt.Errorf("engage cluster %s: %w", cname, err)
	}
	if old, ok := m.clusters[cname]; ok {
		old.cancel()
	}
	e := &clusterEntry{cl: cl, p: p, cancel: func() {}}
	m.clusters[cname] = e
	m.engagements[cname]++
	log.V(1).Info("cluster engaged")
	m.goLocked(func(mctx context.Context) {
		pctx, cancel := context.WithCancel(mctx)
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		m.mu.Lock()
		if m.clusters[cname] != e { // replaced before it started
			m.mu.Unlock()
			cancel()
			return
		}
		e.cancel = cancel
		m.mu.Unlock()
		p.run(pctx)
		cancel()
		m.mu.Lock()
		if m.clusters[cname] == e {
			delete(m.clusters, cname)
		}
		m.mu.Unlock()
		log.V(1).Info("cluster pipeline stopped")
	})
	return nil
}

// pipelineOf returns the current pipeline of a cluster, or nil.
func (m *Manager) pipelineOf(name string) *pipeline {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.clusters[name]; ok {
		return e.p
	}
	return nil
}

// agentsOf returns the agents bound to a cluster. The slice must not be modified.
func (m *Manager) agentsOf(name string) []*agent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byCluster[name]
}

// ClusterStats returns the figures of a cluster's current pipeline, and false when the
// cluster is not engaged.
func (m *Manager) ClusterStats(name string) (ClusterStats, bool) {
	m.mu.Lock()
	e, ok := m.clusters[name]
	n := m.engagements[name]
	m.mu.Unlock()
	if !ok {
		return ClusterStats{}, false
	}
	st := e.p.stats()
	st.Engagements = n
	return st, true
}
