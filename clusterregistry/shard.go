package clusterregistry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

// Labels of the shard Leases.
const (
	ShardLeaseLabel     = "obsyk.io/shard-lease" // "peer" or "cluster"
	ShardLeaseCluster   = "obsyk.io/cluster"     // the cluster a cluster Lease fences
	shardPeerPrefix     = "obsyk-hub-peer-"
	shardClusterPrefix  = "obsyk-hub-cluster-"
	shardLeasePeer      = "peer"
	shardLeaseClusterLV = "cluster"
)

// Defaults of ShardOptions.
const (
	DefaultShardLeaseDuration = 20 * time.Second
	DefaultShardRenewDeadline = 10 * time.Second
	DefaultShardRetryPeriod   = 2 * time.Second
)

// ShardOptions configures a ShardCoordinator. Namespace and Client are required.
type ShardOptions struct {
	// Client reads and writes Leases in Namespace (uncached). Required.
	Client client.Client
	// Namespace holds the peer and cluster Leases: the hub namespace. Required.
	Namespace string
	// Identity names this replica in Leases and in ObsykAgent status. Default: the host
	// name plus a random suffix (unique per process).
	Identity string
	// LeaseDuration is how long a Lease not renewed keeps its holder: a dead replica's
	// clusters move after about this long. Default 20s.
	LeaseDuration time.Duration
	// RenewDeadline is how long a holder keeps streaming without a successful renewal; it
	// then stops at once. RenewDeadline plus DrainTimeout must be shorter than
	// LeaseDuration, so that every send of a holder has ended before its Lease can be taken
	// over. Default 10s.
	RenewDeadline time.Duration
	// RetryPeriod is the period of renewals and assignment decisions. Default 2s.
	RetryPeriod time.Duration
	// DrainTimeout is how long sends of a stopped cluster may still run (the ingest
	// Manager's DrainTimeout); a voluntary hand-over releases the Lease only after it.
	// Default 0.
	DrainTimeout time.Duration
	// Logger. Default logr.Discard().
	Logger logr.Logger
	// Registerer receives obsyk_hub_shard_clusters_owned and
	// obsyk_hub_shard_handovers_total. Default controller-runtime's registry.
	Registerer prometheus.Registerer
}

// ShardCoordinator spreads member clusters over the live hub replicas, using
// coordination.k8s.io/v1 Leases in the hub namespace and nothing else. It is a
// multicluster-runtime manager Coordinator (mcmanager.WithCoordinator): the registry
// engages every connected member with it, and it engages its Awares (the ingest Manager)
// only for the clusters this replica owns, on a context that ends when ownership ends.
//
// Membership: each replica renews a peer Lease; a peer is live while its Lease keeps
// changing. Assignment (assign) is a pure function of the live peers, the clusters and
// their current owners: every peer gets ⌊N/P⌋ or ⌈N/P⌉ clusters, current owners keep as
// many of theirs as their share allows, and only the rest moves (to the peer with room and
// the highest rendezvous score). Ownership: one Lease per cluster. A replica streams a
// cluster only while it holds its Lease; it renews it every RetryPeriod, stops streaming
// when a renewal has not succeeded for RenewDeadline (before anyone may take the Lease
// over), and on a voluntary hand-over stops first and releases the Lease only after
// DrainTimeout, when its last send has ended. Expiry is judged by when a Lease was last
// seen changing on this replica's own clock, as client-go's leader election does, so clock
// skew between replicas does not matter.
//
// It is not multicluster-runtime's sharded coordinator: that one balances by rendezvous
// hashing alone (9 clusters over 3 replicas can land 5/2/2), releases a cluster's fence
// while its work may still be sending, and notices a lost fence only when a renewal fails
// rather than before the fence can expire.
type ShardCoordinator struct {
	opts     ShardOptions
	log      logr.Logger
	identity string
	signal   chan struct{} // size 1: recompute now
	metrics  *shardMetrics

	// mu guards every field below. It is never held across I/O or an Engage.
	mu       sync.Mutex
	awares   []multicluster.Aware
	members  map[string]*shardMember
	owned    map[string]*ownership
	observed map[string]observation // lease name → last change seen
	owners   map[string]string      // cluster → live owner, from the last look at the Leases
	peers    []string               // live peers, sorted
	subs     map[chan struct{}]struct{}
}

// shardMember is a member the registry engaged with the coordinator.
type shardMember struct {
	name string
	cl   cluster.Cluster
	ctx  context.Context // ends when the registry disengages the member
}

// ownership is a cluster whose Lease this replica holds (or is releasing).
type ownership struct {
	lease     *coordinationv1.Lease
	lastRenew time.Time
	member    *shardMember       // the member engaged with the Awares, nil while stopped
	cancel    context.CancelFunc // ends the Awares' engagement
	releaseAt time.Time          // non-zero: stopped, release the Lease at this time
}

// observation is when a Lease was last seen changing.
type observation struct {
	resourceVersion string
	at              time.Time
}

var _ interface {
	AddAware(multicluster.Aware)
	Engage(context.Context, multicluster.ClusterName, cluster.Cluster) error
	Runnable() manager.Runnable
} = (*ShardCoordinator)(nil)

// NewShardCoordinator validates opts and returns a coordinator; it starts nothing.
func NewShardCoordinator(opts ShardOptions) (*ShardCoordinator, error) {
	if opts.Client == nil || opts.Namespace == "" {
		return nil, errors.New("shard coordinator: Client and Namespace are required")
	}
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = DefaultShardLeaseDuration
	}
	if opts.RenewDeadline <= 0 {
		opts.RenewDeadline = DefaultShardRenewDeadline
	}
	if opts.RetryPeriod <= 0 {
		opts.RetryPeriod = DefaultShardRetryPeriod
	}
	if opts.RenewDeadline+opts.DrainTimeout >= opts.LeaseDuration {
		return nil, fmt.Errorf("shard coordinator: renew deadline %s plus drain timeout %s must be shorter than the lease duration %s, or two replicas could send for one cluster",
			opts.RenewDeadline, opts.DrainTimeout, opts.LeaseDuration)
	}
	if opts.RetryPeriod >= opts.RenewDeadline {
		return nil, fmt.Errorf("shard coordinator: retry period %s must be shorter than the renew deadline %s", opts.RetryPeriod, opts.RenewDeadline)
	}
	if opts.Identity == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		opts.Identity = host + "_" + hex.EncodeToString(b)
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	if opts.Registerer == nil {
		opts.Registerer = ctrlmetrics.Registry
	}
	m, err := newShardMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &ShardCoordinator{
		opts: opts, log: opts.Logger.WithValues("replica", opts.Identity), identity: opts.Identity,
		signal: make(chan struct{}, 1), metrics: m,
		members: map[string]*shardMember{}, owned: map[string]*ownership{},
		observed: map[string]observation{}, owners: map[string]string{},
		subs: map[chan struct{}]struct{}{},
	}, nil
}

// Identity returns this replica's name.
func (c *ShardCoordinator) Identity() string { return c.identity }

// AddAware registers a component engaged for the clusters this replica owns.
func (c *ShardCoordinator) AddAware(a multicluster.Aware) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.awares = append(c.awares, a)
}

// Engage records a member the registry connected; the coordinator engages its Awares with
// it once this replica owns it. ctx ends when the member goes.
func (c *ShardCoordinator) Engage(ctx context.Context, name multicluster.ClusterName, cl cluster.Cluster) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m := &shardMember{name: string(name), cl: cl, ctx: ctx}
	c.mu.Lock()
	c.members[m.name] = m
	// A member this replica streams came back (a reconnection brings a new Cluster):
	// engage the Awares again with it, under the same Lease.
	var (
		mctx   context.Context
		awares []multicluster.Aware
	)
	if o, ok := c.owned[m.name]; ok && o.releaseAt.IsZero() {
		o.cancel()
		var mcancel context.CancelFunc
		mctx, mcancel = context.WithCancel(ctx)
		o.member, o.cancel = m, mcancel
		awares = append(awares, c.awares...)
	}
	c.mu.Unlock()
	for _, a := range awares {
		if err := a.Engage(mctx, name, cl); err != nil {
			c.log.Error(err, "engage owned cluster again", "cluster", m.name)
		}
	}
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		if c.members[m.name] == m {
			delete(c.members, m.name)
		}
		c.mu.Unlock()
		c.poke()
	})
	c.poke()
	return nil
}

// Owner returns the replica that owns a cluster as last seen, or "".
func (c *ShardCoordinator) Owner(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.owned[name]; ok && o.member != nil {
		return c.identity
	}
	return c.owners[name]
}

// Owns reports whether this replica serves a cluster: it streams it now. For a name no
// replica owns (an unknown cluster), the live peer with the highest rendezvous score
// answers, so that exactly one replica reports on it.
func (c *ShardCoordinator) Owns(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.owned[name]; ok {
		return o.member != nil
	}
	if _, known := c.members[name]; known || c.owners[name] != "" {
		return false
	}
	peers := c.peers
	if len(peers) == 0 {
		peers = []string{c.identity}
	}
	best, bestScore := "", uint64(0)
	for _, p := range peers {
		if s := score(name, p); best == "" || s > bestScore {
			best, bestScore = p, s
		}
	}
	return best == c.identity
}

// Subscribe returns a size-1 channel signalled when this replica's ownership changes.
func (c *ShardCoordinator) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

func (c *ShardCoordinator) notifyLocked() {
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (c *ShardCoordinator) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Runnable returns the coordination loop.
func (c *ShardCoordinator) Runnable() manager.Runnable {
	return manager.RunnableFunc(c.Start)
}

// Start runs the coordination loop until ctx ends, then stops every engagement and
// releases this replica's Leases (after the drain), and returns nil.
func (c *ShardCoordinator) Start(ctx context.Context) error {
	c.log.Info("shard coordinator starting")
	t := time.NewTicker(c.opts.RetryPeriod)
	defer t.Stop()
	for {
		c.tick(ctx)
		select {
		case <-ctx.Done():
			c.shutdown()
			return nil
		case <-t.C:
		case <-c.signal:
		}
	}
}

// tick is one round: renew, look at the Leases, assign, hand over.
func (c *ShardCoordinator) tick(ctx context.Context) {
	now := time.Now()
	c.renewPeer(ctx, now)
	var leases coordinationv1.LeaseList
	lctx, cancel := context.WithTimeout(ctx, c.opts.RetryPeriod)
	err := c.opts.Client.List(lctx, &leases, client.InNamespace(c.opts.Namespace), client.HasLabels{ShardLeaseLabel})
	cancel()
	if err != nil {
		c.log.Error(err, "list shard leases")
		c.enforceRenewDeadline(now)
		return
	}

	c.mu.Lock()
	live := map[string]bool{c.identity: true}
	byCluster := map[string]*coordinationv1.Lease{}
	seen := map[string]bool{}
	for i := range leases.Items {
		l := &leases.Items[i]
		seen[l.Name] = true
		o, ok := c.observed[l.Name]
		if !ok || o.resourceVersion != l.ResourceVersion {
			o = observation{resourceVersion: l.ResourceVersion, at: now}
			c.observed[l.Name] = o
		}
		holder := ptr.Deref(l.Spec.HolderIdentity, "")
		fresh := holder != "" && now.Sub(o.at) < c.opts.LeaseDuration
		switch l.Labels[ShardLeaseLabel] {
		case shardLeasePeer:
			if fresh {
				live[holder] = true
			}
		case shardLeaseClusterLV:
			name := l.Labels[ShardLeaseCluster]
			if fresh {
				byCluster[name] = l
			} else { // released or expired: free to take, guarded by its resourceVersion
				byCluster[name] = &coordinationv1.Lease{ObjectMeta: l.ObjectMeta,
					Spec: coordinationv1.LeaseSpec{LeaseTransitions: l.Spec.LeaseTransitions}}
			}
		}
	}
	for name := range c.observed {
		if !seen[name] {
			delete(c.observed, name)
		}
	}
	c.peers = c.peers[:0]
	for p := range live {
		c.peers = append(c.peers, p)
	}
	sort.Strings(c.peers)

	clusters := map[string]bool{}
	for name := range c.members {
		clusters[name] = true
	}
	current := map[string]string{}
	for name, l := range byCluster {
		// A held cluster counts even where it is not connected; a free Lease of a cluster
		// nobody here knows is left alone (the member may be gone for good).
		if h := ptr.Deref(l.Spec.HolderIdentity, ""); h != "" && live[h] {
			current[name] = h
			clusters[name] = true
		}
	}
	names := make([]string, 0, len(clusters))
	for n := range clusters {
		names = append(names, n)
	}
	want := assign(names, c.peers, current)
	c.owners = current
	connected := map[string]bool{}
	for name := range c.members {
		connected[name] = true
	}
	for name := range c.owned {
		names = appendMissing(names, name) // held but gone from the view: hand it over
	}
	c.metrics.owned.Set(float64(len(c.owned)))
	c.mu.Unlock()

	// Hand over what this replica should no longer hold, renew what it keeps, take what
	// it should have and is free.
	for _, name := range names {
		switch {
		case c.holds(name) && want[name] != c.identity:
			c.stop(name, "reassigned", now)
		case c.holds(name) && !connected[name]:
			c.stop(name, "member gone", now)
		case c.holds(name):
			c.renew(ctx, name, now)
		case want[name] == c.identity:
			c.acquire(ctx, name, byCluster[name], now)
		}
	}
	c.releaseStopped(ctx, now)
	c.enforceRenewDeadline(now)
}

// holds reports whether this replica holds a cluster's Lease and streams it.
func (c *ShardCoordinator) holds(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.owned[name]
	return ok && o.releaseAt.IsZero()
}

// acquire takes a free cluster Lease and engages the Awares.
func (c *ShardCoordinator) acquire(ctx context.Context, name string, l *coordinationv1.Lease, now time.Time) {
	c.mu.Lock()
	m := c.members[name]
	_, busy := c.owned[name]
	c.mu.Unlock()
	if m == nil || busy {
		return // not connected here, or still releasing
	}
	if l != nil && ptr.Deref(l.Spec.HolderIdentity, "") != "" && ptr.Deref(l.Spec.HolderIdentity, "") != c.identity {
		return // held by a live peer: it hands over first
	}
	lease := &coordinationv1.Lease{}
	nowMicro := metav1.NewMicroTime(now)
	spec := coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(c.identity),
		LeaseDurationSeconds: ptr.To(int32(c.opts.LeaseDuration / time.Second)),
		AcquireTime:          &nowMicro,
		RenewTime:            &nowMicro,
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.RetryPeriod)
	defer cancel()
	var err error
	if l == nil || l.ResourceVersion == "" {
		lease.ObjectMeta = metav1.ObjectMeta{
			Name: shardClusterPrefix + dnsName(name), Namespace: c.opts.Namespace,
			Labels: map[string]string{ShardLeaseLabel: shardLeaseClusterLV, ShardLeaseCluster: name},
		}
		lease.Spec = spec
		err = c.opts.Client.Create(rctx, lease)
	} else {
		lease.ObjectMeta = *l.ObjectMeta.DeepCopy()
		spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
		lease.Spec = spec
		err = c.opts.Client.Update(rctx, lease)
	}
	if err != nil {
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			c.log.Error(err, "acquire cluster lease", "cluster", name)
		}
		return // someone else was quicker; next round
	}
	mctx, mcancel := context.WithCancel(m.ctx)
	c.mu.Lock()
	c.owned[name] = &ownership{lease: lease, lastRenew: now, member: m, cancel: mcancel}
	awares := append([]multicluster.Aware(nil), c.awares...)
	c.metrics.owned.Set(float64(len(c.owned)))
	c.metrics.handovers.WithLabelValues("acquired").Inc()
	c.notifyLocked()
	c.mu.Unlock()
	c.log.Info("cluster acquired", "cluster", name)
	for _, a := range awares {
		if err := a.Engage(mctx, multicluster.ClusterName(name), m.cl); err != nil {
			c.log.Error(err, "engage owned cluster", "cluster", name)
		}
	}
}

// renew renews a held cluster Lease; losing it to someone else stops streaming at once.
func (c *ShardCoordinator) renew(ctx context.Context, name string, now time.Time) {
	c.mu.Lock()
	o := c.owned[name]
	lease := o.lease.DeepCopy()
	c.mu.Unlock()
	lease.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
	rctx, cancel := context.WithTimeout(ctx, c.opts.RetryPeriod)
	defer cancel()
	if err := c.opts.Client.Update(rctx, lease); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			c.log.Info("cluster lease lost to another replica", "cluster", name)
			c.lose(name)
			return
		}
		c.log.Error(err, "renew cluster lease", "cluster", name)
		return // enforceRenewDeadline stops streaming in time
	}
	c.mu.Lock()
	if cur := c.owned[name]; cur == o {
		o.lease, o.lastRenew = lease, now
	}
	c.mu.Unlock()
}

// stop ends the Awares' engagement of a cluster and schedules the Lease's release after
// the drain.
func (c *ShardCoordinator) stop(name, why string, now time.Time) {
	c.mu.Lock()
	o, ok := c.owned[name]
	if ok && o.releaseAt.IsZero() {
		o.cancel()
		o.member = nil
		o.releaseAt = now.Add(c.opts.DrainTimeout)
		c.metrics.handovers.WithLabelValues("released").Inc()
		c.notifyLocked()
	}
	c.mu.Unlock()
	if ok {
		c.log.Info("cluster handed over", "cluster", name, "reason", why)
	}
}

// lose forgets a cluster whose Lease is no longer this replica's, stopping at once.
func (c *ShardCoordinator) lose(name string) {
	c.mu.Lock()
	if o, ok := c.owned[name]; ok {
		o.cancel()
		delete(c.owned, name)
		c.metrics.handovers.WithLabelValues("lost").Inc()
		c.metrics.owned.Set(float64(len(c.owned)))
		c.notifyLocked()
	}
	c.mu.Unlock()
}

// enforceRenewDeadline stops streaming every cluster whose Lease was not renewed within
// RenewDeadline: the Lease may soon be taken over, and every send must be over by then.
func (c *ShardCoordinator) enforceRenewDeadline(now time.Time) {
	c.mu.Lock()
	var late []string
	for name, o := range c.owned {
		if o.releaseAt.IsZero() && now.Sub(o.lastRenew) > c.opts.RenewDeadline {
			late = append(late, name)
		}
	}
	c.mu.Unlock()
	for _, name := range late {
		c.log.Info("cluster lease not renewed in time; stopping", "cluster", name)
		c.lose(name)
	}
}

// releaseStopped releases the Leases of stopped clusters whose drain is over.
func (c *ShardCoordinator) releaseStopped(ctx context.Context, now time.Time) {
	c.mu.Lock()
	var due []*ownership
	var names []string
	for name, o := range c.owned {
		if !o.releaseAt.IsZero() && !now.Before(o.releaseAt) {
			due = append(due, o)
			names = append(names, name)
		}
	}
	c.mu.Unlock()
	for i, o := range due {
		c.release(ctx, names[i], o)
	}
}

// release clears this replica as a Lease's holder, so a peer can take it at once.
func (c *ShardCoordinator) release(ctx context.Context, name string, o *ownership) {
	lease := o.lease.DeepCopy()
	lease.Spec.HolderIdentity = nil
	lease.Spec.RenewTime = nil
	lease.Spec.AcquireTime = nil
	rctx, cancel := context.WithTimeout(ctx, c.opts.RetryPeriod)
	defer cancel()
	if err := c.opts.Client.Update(rctx, lease); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		c.log.Error(err, "release cluster lease", "cluster", name)
		return // retried next round; the Lease expires anyway
	}
	c.mu.Lock()
	if c.owned[name] == o {
		delete(c.owned, name)
		c.metrics.owned.Set(float64(len(c.owned)))
	}
	c.mu.Unlock()
}

// shutdown stops every engagement, waits for the drain, and releases the Leases and the
// peer Lease so that the other replicas take over at once.
func (c *ShardCoordinator) shutdown() {
	now := time.Now()
	c.mu.Lock()
	names := make([]string, 0, len(c.owned))
	for name := range c.owned {
		names = append(names, name)
	}
	c.mu.Unlock()
	for _, name := range names {
		c.stop(name, "shutdown", now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.DrainTimeout+c.opts.RetryPeriod)
	defer cancel()
	if len(names) > 0 && c.opts.DrainTimeout > 0 {
		t := time.NewTimer(c.opts.DrainTimeout)
		<-t.C
	}
	c.releaseStopped(ctx, now.Add(c.opts.DrainTimeout))
	peer := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: shardPeerPrefix + dnsName(c.identity), Namespace: c.opts.Namespace}}
	if err := c.opts.Client.Delete(ctx, peer); err != nil && !apierrors.IsNotFound(err) {
		c.log.Error(err, "delete peer lease")
	}
	c.log.Info("shard coordinator stopped")
}

// renewPeer creates or renews this replica's peer Lease.
func (c *ShardCoordinator) renewPeer(ctx context.Context, now time.Time) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.RetryPeriod)
	defer cancel()
	key := client.ObjectKey{Namespace: c.opts.Namespace, Name: shardPeerPrefix + dnsName(c.identity)}
	l := &coordinationv1.Lease{}
	err := c.opts.Client.Get(rctx, key, l)
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace,
				Labels: map[string]string{ShardLeaseLabel: shardLeasePeer}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(c.identity),
				LeaseDurationSeconds: ptr.To(int32(c.opts.LeaseDuration / time.Second)),
				RenewTime:            ptr.To(metav1.NewMicroTime(now)),
			},
		}
		err = c.opts.Client.Create(rctx, l)
	case err == nil:
		l.Spec.HolderIdentity = ptr.To(c.identity)
		l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
		err = c.opts.Client.Update(rctx, l)
	}
	if err != nil && ctx.Err() == nil {
		c.log.Error(err, "renew peer lease")
	}
}

// assign maps every cluster to one of peers (sorted, non-empty): each peer gets ⌊N/P⌋ or
// ⌈N/P⌉ clusters; a cluster stays with its current owner while the owner's share allows,
// and the rest go, in name order, to the peer with room and the highest rendezvous score.
// The result depends only on its arguments, so every replica computes the same.
func assign(clusters, peers []string, current map[string]string) map[string]string {
	out := make(map[string]string, len(clusters))
	if len(peers) == 0 {
		return out
	}
	sort.Strings(clusters)
	load := map[string]int{}
	for _, cl := range clusters {
		if o := current[cl]; o != "" {
			load[o]++
		}
	}
	// The ⌈N/P⌉ shares go to the peers that hold the most now: fewest moves.
	order := append([]string(nil), peers...)
	sort.SliceStable(order, func(i, j int) bool {
		if load[order[i]] != load[order[j]] {
			return load[order[i]] > load[order[j]]
		}
		return order[i] < order[j]
	})
	capacity := map[string]int{}
	base, extra := len(clusters)/len(peers), len(clusters)%len(peers)
	for i, p := range order {
		capacity[p] = base
		if i < extra {
			capacity[p]++
		}
	}
	// Owners keep their best-scoring clusters up to their share.
	byOwner := map[string][]string{}
	for _, cl := range clusters {
		if o := current[cl]; o != "" {
			if _, live := capacity[o]; live {
				byOwner[o] = append(byOwner[o], cl)
			}
		}
	}
	for o, cls := range byOwner {
		sort.Slice(cls, func(i, j int) bool { return score(cls[i], o) > score(cls[j], o) })
		for _, cl := range cls[:min(len(cls), capacity[o])] {
			out[cl] = o
			capacity[o]--
		}
	}
	for _, cl := range clusters {
		if _, done := out[cl]; done {
			continue
		}
		best, bestScore := "", uint64(0)
		for _, p := range peers {
			if capacity[p] <= 0 {
				continue
			}
			if s := score(cl, p); best == "" || s > bestScore {
				best, bestScore = p, s
			}
		}
		out[cl] = best
		capacity[best]--
	}
	return out
}

// appendMissing appends s to list unless it is there.
func appendMissing(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// score is the rendezvous (highest random weight) score of a cluster on a peer.
func score(cluster, peer string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(cluster))
	h.Write([]byte{0})
	h.Write([]byte(peer))
	return h.Sum64()
}

var notDNS = regexp.MustCompile(`[^a-z0-9.-]+`)

// dnsName turns s into a valid Lease name suffix: lower case, invalid runs as "-", and a
// hash when it had to be shortened or changed, so that two names never collide.
func dnsName(s string) string {
	n := notDNS.ReplaceAllString(strings.ToLower(s), "-")
	n = strings.Trim(n, "-.")
	if n == s && len(n) <= 200 {
		return n
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	if len(n) > 180 {
		n = n[:180]
	}
	return fmt.Sprintf("%s-%08x", n, h.Sum32())
}

// shardMetrics are the coordinator's metrics.
type shardMetrics struct {
	owned     prometheus.Gauge
	handovers *prometheus.CounterVec
}

func newShardMetrics(reg prometheus.Registerer) (*shardMetrics, error) {
	owned, err := register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "obsyk_hub_shard_clusters_owned",
		Help: "Member clusters this hub replica holds the Lease of.",
	}))
	if err != nil {
		return nil, err
	}
	handovers, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "obsyk_hub_shard_handovers_total",
		Help: "Cluster ownership changes of this replica: acquired, released (handed over), lost (not renewed in time or taken).",
	}, []string{"direction"}))
	if err != nil {
		return nil, err
	}
	return &shardMetrics{owned: owned, handovers: handovers}, nil
}
