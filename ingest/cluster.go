package ingest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/obsyk/obsyk-hub/ingest/convert"
	"github.com/obsyk/obsyk-hub/transport"
)

// ClusterStats is a point-in-time view of one cluster's pipeline.
type ClusterStats struct {
	// ClusterUID is the member's kube-system namespace UID, empty until read.
	ClusterUID string
	// Synced is true once every collected kind has synced or been found unavailable.
	Synced bool
	// Objects counts the cached objects per kind.
	Objects map[transport.Kind]int
	// Unavailable maps each kind the member forbids or lacks (or that did not sync within
	// the deadline) to the reason. Such a kind is left out of snapshots and retried.
	Unavailable map[transport.Kind]string
	// Expired counts every "resource version too old" (410 Gone) the informers met: as
	// the error of a list or watch call, and as an Error event inside a watch stream,
	// which client-go's reflector answers by relisting without calling the watch error
	// handler (each informer's list/watch is wrapped to see them). A 410 is followed by a
	// relist, whose missed deletes show as Tombstones.
	Expired uint64
	// Tombstones counts deletes learnt from a relist (cache.DeletedFinalStateUnknown):
	// objects deleted while the watch was down, delivered as deleted events.
	Tombstones uint64
	// WatchErrors counts every watch or list error reported by the informers.
	WatchErrors uint64
	// Suppressed counts updates that changed nothing the contract carries (not pushed).
	Suppressed uint64
	// Channel is the cluster's EventChannel.
	Channel EventChannelStats
	// Engagements counts the pipelines started for this cluster name.
	Engagements int
}

// pipeline is one engagement of one member cluster: its informers (one factory), cache
// and EventChannel. A re-engagement builds a new pipeline; the old one stops with its
// context.
type pipeline struct {
	m    *Manager
	name string
	gen  uint64 // the Manager's engagement counter at creation: identifies this pipeline
	cs   kubernetes.Interface
	log  logr.Logger
	ch   *EventChannel

	// informers and handled (each informer's handler registration) are written by
	// newPipeline and only read afterwards.
	informers map[transport.Kind]cache.SharedIndexInformer
	handled   map[transport.Kind]cache.ResourceEventHandlerRegistration

	// countMu guards counts: the objects in each kind's store by namespace (a Namespace
	// under its own name, other cluster-scoped objects under ""), kept by the event
	// handlers so that status and metrics never list a store: at 100k objects one list
	// allocates megabytes.
	countMu sync.Mutex
	counts  map[transport.Kind]map[string]int

	// synced is closed when every kind has synced or is unavailable; clusterUID is
	// written before it closes and read only after.
	synced     chan struct{}
	clusterUID string

	// ctx ends when the pipeline stops (its engagement ended or it was replaced). Every
	// send whose record came from this pipeline is bound to it, so that a cluster handed
	// to another hub replica is never sent by two replicas at once.
	ctx    context.Context
	cancel context.CancelFunc

	expired, watchErrors, suppressed, tombstones atomic.Uint64
	// kindsVersion grows each time a kind becomes available after the first sync: the
	// agents then snapshot again (its initial list was not pushed as events).
	kindsVersion atomic.Uint64

	// mu guards unavailable.
	mu          sync.Mutex
	unavailable map[transport.Kind]string
}

func (p *pipeline) isSynced() bool {
	select {
	case <-p.synced:
		return true
	default:
		return false
	}
}

// available reports whether kind k is collected and currently available.
func (p *pipeline) available(k transport.Kind) bool {
	if _, ok := p.informers[k]; !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, un := p.unavailable[k]
	return !un
}

func (p *pipeline) setUnavailable(k transport.Kind, reason string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.unavailable[k]; ok {
		p.unavailable[k] = reason
		return false
	}
	p.unavailable[k] = reason
	return true
}

// get returns the cached item of a key.
func (p *pipeline) get(k Key) (*item, bool) {
	inf, ok := p.informers[k.Kind]
	if !ok {
		return nil, false
	}
	key := k.Name
	if k.Namespace != "" {
		key = k.Namespace + "/" + k.Name
	}
	obj, ok, err := inf.GetStore().GetByKey(key)
	if err != nil || !ok {
		return nil, false
	}
	it, ok := obj.(*item)
	return it, ok
}

// list returns the cached items of kind k.
func (p *pipeline) list(k transport.Kind) []*item {
	inf, ok := p.informers[k]
	if !ok {
		return nil
	}
	objs := inf.GetStore().List()
	out := make([]*item, 0, len(objs))
	for _, o := range objs {
		if it, ok := o.(*item); ok {
			out = append(out, it)
		}
	}
	return out
}

func (p *pipeline) stats() ClusterStats {
	st := ClusterStats{
		Synced:      p.isSynced(),
		Objects:     make(map[transport.Kind]int, len(p.informers)),
		Unavailable: map[transport.Kind]string{},
		Expired:     p.expired.Load(),
		WatchErrors: p.watchErrors.Load(),
		Suppressed:  p.suppressed.Load(),
		Tombstones:  p.tombstones.Load(),
		Channel:     p.ch.Stats(),
	}
	if st.Synced {
		st.ClusterUID = p.clusterUID
	}
	p.countMu.Lock()
	for k := range p.informers {
		n := 0
		for _, c := range p.counts[k] {
			n += c
		}
		st.Objects[k] = n
	}
	p.countMu.Unlock()
	p.mu.Lock()
	for k, r := range p.unavailable {
		st.Unavailable[k] = r
	}
	p.mu.Unlock()
	return st
}

// handlers turns informer notifications into Changes on the EventChannel. They never
// block (Push never does) and never drop. The initial list of a kind is not pushed: every
// agent snapshots after the pipeline synced (or after the kind became available), and
// that snapshot carries it.
func (p *pipeline) handlers() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, isInInitialList bool) {
			it, ok := itemOf(obj)
			if !ok {
				return
			}
			p.count(it, 1)
			if !isInInitialList {
				p.ch.Push(it.change(transport.EventAdded))
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := itemOf(oldObj)
			n, ok2 := itemOf(newObj)
			switch {
			case !ok1 || !ok2:
				return
			case o.uid != n.uid:
				p.ch.Push(o.change(transport.EventDeleted))
				p.ch.Push(n.change(transport.EventAdded))
			case convert.Equal(o.record, n.record):
				p.suppressed.Add(1)
			default:
				p.ch.Push(n.change(transport.EventModified))
			}
		},
		DeleteFunc: func(obj any) {
			switch obj.(type) {
			case cache.DeletedFinalStateUnknown, *cache.DeletedFinalStateUnknown:
				p.tombstones.Add(1)
			}
			if it, ok := itemOf(obj); ok {
				p.count(it, -1)
				p.ch.Push(it.change(transport.EventDeleted))
			}
		},
	}
}

// countKey is where counts holds an object of kind k.
func countKey(k transport.Kind, namespace, name string) string {
	switch {
	case k == transport.KindNamespace:
		return name
	case k.ClusterScoped():
		return ""
	}
	return namespace
}

// count adds d to the count of it's kind and namespace. An update never changes a count:
// it replaces an object under the same key (the store's), even when the UID changed.
func (p *pipeline) count(it *item, d int) {
	key := countKey(it.kind, it.namespace, it.name)
	p.countMu.Lock()
	defer p.countMu.Unlock()
	if p.counts == nil {
		p.counts = map[transport.Kind]map[string]int{}
	}
	byNS := p.counts[it.kind]
	if byNS == nil {
		byNS = map[string]int{}
		p.counts[it.kind] = byNS
	}
	if n := byNS[key] + d; n > 0 {
		byNS[key] = n
	} else {
		delete(byNS, key)
	}
}

// countsOf returns the count of kind k's objects whose namespace (or, for a Namespace, name)
// ok accepts.
func (p *pipeline) countsOf(k transport.Kind, ok func(namespace, name string) bool) int {
	p.countMu.Lock()
	defer p.countMu.Unlock()
	n := 0
	for key, c := range p.counts[k] {
		ns, name := key, ""
		if k == transport.KindNamespace {
			ns, name = "", key
		}
		if ok(ns, name) {
			n += c
		}
	}
	return n
}

// newInformer returns the informer of kind k, registered in the cluster's factory. It
// lists and watches through the kind's typed client, like the factory's own informers,
// behind an expiryCounter that counts the 410s into p.expired.
func (p *pipeline) newInformer(f informers.SharedInformerFactory, k transport.Kind) (cache.SharedIndexInformer, error) {
	lw, example, err := listWatchOf(p.cs, k)
	if err != nil {
		return nil, err
	}
	counted := &expiryCounter{lw: lw, expired: func() { p.expired.Add(1) }, initial: pipelineInitialList}
	return f.InformerFor(example, func(kubernetes.Interface, time.Duration) cache.SharedIndexInformer {
		return cache.NewSharedIndexInformerWithOptions(counted, example, cache.SharedIndexInformerOptions{
			Indexers: cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		})
	}), nil
}

// pipelineInitialList is how the informers fetch their initial state (see the package
// doc for the measurements behind it).
const pipelineInitialList = watchList

// newPipeline builds the client, the informer factory and one informer per collected kind,
// with the transform, watch error handler and event handlers set. It makes no remote call
// and starts nothing, so Engage can call it.
func newPipeline(m *Manager, name string, gen uint64, cfg *rest.Config, log logr.Logger) (*pipeline, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = m.opts.QPS, m.opts.Burst
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build member client: %w", err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	p := &pipeline{
		m: m, name: name, gen: gen, cs: cs, log: log,
		ch:          NewEventChannel(EventChannelOptions{Capacity: m.opts.EventChannelCapacity, Timestamps: m.opts.Metrics != nil}),
		synced:      make(chan struct{}),
		ctx:         pctx,
		cancel:      pcancel,
		unavailable: map[transport.Kind]string{},
		informers:   make(map[transport.Kind]cache.SharedIndexInformer, len(m.opts.Kinds)),
		handled:     make(map[transport.Kind]cache.ResourceEventHandlerRegistration, len(m.opts.Kinds)),
		counts:      make(map[transport.Kind]map[string]int, len(m.opts.Kinds)),
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0)
	for _, k := range m.opts.Kinds {
		inf, err := p.newInformer(factory, k)
		if err != nil {
			return nil, err
		}
		// The informer has not started, so these setters cannot fail.
		_ = inf.SetTransform(toItem)
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			p.watchError(ctx, r, k, err)
		})
		reg, err := inf.AddEventHandler(p.handlers())
		if err != nil {
			return nil, fmt.Errorf("add event handler for %s: %w", k, err)
		}
		p.informers[k], p.handled[k] = inf, reg
	}
	return p, nil
}

// run reads the cluster UID, starts the informers (each initial list under the Manager's
// list semaphore), waits for them with a deadline, closes synced, then runs the dispatcher
// and the availability monitor until ctx ends. It returns once every goroutine it started
// has ended.
func (p *pipeline) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, p.cancel)
	defer stop()
	defer p.cancel()
	uid, err := p.readClusterUID(ctx)
	if err != nil {
		return // ctx ended
	}
	p.clusterUID = uid

	var wg sync.WaitGroup
	defer wg.Wait()
	var pending sync.WaitGroup
	for k, inf := range p.informers {
		pending.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.startKind(ctx, &wg, k, inf)
			pending.Done()
		}()
	}
	pending.Wait()
	if ctx.Err() != nil {
		return
	}
	close(p.synced)
	p.log.V(1).Info("cluster synced", "uid", p.clusterUID)

	wg.Add(2)
	go func() { defer wg.Done(); p.dispatch(ctx) }()
	go func() { defer wg.Done(); p.monitor(ctx) }()
	<-ctx.Done()
}

// startKind starts one informer holding a slot of the Manager's list semaphore until its
// initial list is done, it is found unavailable, or the sync deadline passes.
func (p *pipeline) startKind(ctx context.Context, wg *sync.WaitGroup, k transport.Kind, inf cache.SharedIndexInformer) {
	select {
	case p.m.listSem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-p.m.listSem }()
	wg.Add(1)
	go func() { defer wg.Done(); inf.RunWithContext(ctx) }()
	deadline := time.Now().Add(p.m.opts.SyncTimeout)
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		// The handler's sync too: it has then seen the initial list (counts are whole).
		if inf.HasSynced() && p.handled[k].HasSynced() {
			return true, nil
		}
		p.mu.Lock()
		_, un := p.unavailable[k]
		p.mu.Unlock()
		if un {
			return true, nil
		}
		if time.Now().After(deadline) {
			p.setUnavailable(k, "not synced within the deadline")
			p.log.Info("kind did not sync within the deadline", "kind", k)
			return true, nil
		}
		return false, nil
	})
	_ = err // only ctx ends the poll early
}

// watchError records a list/watch error of kind k: a forbidden or missing kind becomes
// unavailable (the reflector retries it with its own backoff). A 410 was already counted
// in Expired by the kind's expiryCounter, which sees every one, these included.
func (p *pipeline) watchError(ctx context.Context, r *cache.Reflector, k transport.Kind, err error) {
	p.watchErrors.Add(1)
	switch {
	case isExpired(err):
		p.log.V(1).Info("watch expired, relisting", "kind", k)
	case p.informers[k].HasSynced():
		// After the first sync the cache keeps its last state and the reflector retries;
		// the kind stays in snapshots (marking it unavailable now would make it flap).
	case apierrors.IsForbidden(err):
		if p.setUnavailable(k, "forbidden") {
			p.log.Info("kind is forbidden by the member", "kind", k)
		}
	case apierrors.IsNotFound(err):
		if p.setUnavailable(k, "not served") {
			p.log.Info("kind is not served by the member", "kind", k)
		}
	}
	cache.DefaultWatchErrorHandler(ctx, r, err)
}

// monitor notices a kind that became available again (its informer finally synced) and
// tells the agents to snapshot.
func (p *pipeline) monitor(ctx context.Context) {
	t := time.NewTicker(p.m.opts.AvailabilityCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		var back []transport.Kind
		for k := range p.unavailable {
			if p.informers[k].HasSynced() {
				back = append(back, k)
			}
		}
		for _, k := range back {
			delete(p.unavailable, k)
		}
		p.mu.Unlock()
		if len(back) > 0 {
			sort.Slice(back, func(i, j int) bool { return back[i] < back[j] })
			p.log.Info("kinds became available", "kind", back)
			p.kindsVersion.Add(1)
		}
	}
}

// dispatch fans each Change out to every agent bound to this cluster whose filter
// matches. Outbox.Add never blocks.
func (p *pipeline) dispatch(ctx context.Context) {
	for {
		c, err := p.ch.Next(ctx)
		if err != nil {
			return
		}
		for _, a := range p.m.agentsOf(p.name) {
			if a.wants(c) {
				a.outbox.Add(c)
			}
		}
	}
}

// readClusterUID reads the kube-system namespace UID, each try with a deadline, retrying
// with backoff until ctx ends.
func (p *pipeline) readClusterUID(ctx context.Context) (string, error) {
	backoff := 500 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, p.m.opts.RequestTimeout)
		ns, err := p.cs.CoreV1().Namespaces().Get(cctx, "kube-system", metav1.GetOptions{})
		cancel()
		if err == nil {
			return string(ns.UID), nil
		}
		p.log.Error(err, "cannot read cluster uid")
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
