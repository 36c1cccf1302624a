package clusterregistry

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

const (
	// CAPIClusterNameLabel is the label Cluster API puts on a cluster's kubeconfig Secret.
	CAPIClusterNameLabel = "cluster.x-k8s.io/cluster-name"
	// CAPISecretType is the type of Cluster API's Secrets.
	CAPISecretType corev1.SecretType = "cluster.x-k8s.io/secret"
	// CAPIKubeconfigSecretKey is the data key of the kubeconfig in a Cluster API Secret.
	CAPIKubeconfigSecretKey = "value"
	// CAPIKubeconfigSecretSuffix ends the name of a Cluster API kubeconfig Secret,
	// "<cluster>-kubeconfig".
	CAPIKubeconfigSecretSuffix = "-kubeconfig"

	// DefaultProbeInterval is how often a connected member is probed by default.
	DefaultProbeInterval = 10 * time.Second
	// DefaultProbeTimeout bounds one probe by default.
	DefaultProbeTimeout = 5 * time.Second
	// DefaultFailureThreshold is how many consecutive failed probes disconnect a member.
	DefaultFailureThreshold = 2
	// DefaultConnectTimeout bounds a connection attempt's first cache sync by default.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultEngageTimeout bounds the engagement of the Aware by default.
	DefaultEngageTimeout = 30 * time.Second
	// DefaultReconnectBackoff is the first wait before reconnecting by default.
	DefaultReconnectBackoff = time.Second
	// DefaultReconnectBackoffMax caps the wait before reconnecting by default.
	DefaultReconnectBackoffMax = 2 * time.Minute
	// DefaultHubSyncTimeout bounds the first sync of the hub's Secret informers.
	DefaultHubSyncTimeout = 2 * time.Minute

	backoffJitter = 0.2
	sourceLabel   = "kubeconfig"
	sourceCAPI    = "capi"
)

// Member states, MemberStatus.State.
const (
	// StateConnecting: the kubeconfig is valid and the registry is (re)connecting.
	StateConnecting = "Connecting"
	// StateConnected: the member answered, its cache runs and Get returns it.
	StateConnected = "Connected"
	// StateDisconnected: the member failed; the registry reconnects with backoff.
	StateDisconnected = "Disconnected"
	// StateInvalid: the Secret is unusable (Reason says why); fixing the Secret recovers.
	StateInvalid = "Invalid"
)

// Reasons of a disconnected member, MemberStatus.Reason (an invalid member carries one of
// the kubeconfig Reason* constants).
const (
	// ReasonUnreachable: the member did not answer in time or refused the connection.
	ReasonUnreachable = "Unreachable"
	// ReasonCredentialsRejected: the member answered 401: the credentials were rotated or
	// revoked. The registry re-reads the Secret.
	ReasonCredentialsRejected = "CredentialsRejected"
	// ReasonForbidden: the member answered 403 to the identity probe.
	ReasonForbidden = "Forbidden"
	// ReasonCacheSyncFailed: the member's cache did not start within ConnectTimeout.
	ReasonCacheSyncFailed = "CacheSyncFailed"
	// ReasonEngageFailed: the Aware refused the member or did not return within EngageTimeout.
	ReasonEngageFailed = "EngageFailed"
	// ReasonNameConflict: another Secret already provides a cluster of this name.
	ReasonNameConflict = "NameConflict"
)

// ErrClusterNotConnected is returned by Get for a known member that is not connected. It
// wraps multicluster.ErrClusterNotFound, so callers of the Provider see "not found".
var ErrClusterNotConnected = fmt.Errorf("cluster not connected: %w", multicluster.ErrClusterNotFound)

// Options configures a Registry. The zero value is valid.
type Options struct {
	// Namespace is the hub namespace whose Secrets the registry watches. Default
	// "obsyk-system".
	Namespace string
	// CAPISecrets also watches Cluster API kubeconfig Secrets ("<cluster>-kubeconfig", type
	// cluster.x-k8s.io/secret, key "value") in Namespace; the cluster is named after the
	// Secret without the suffix. Default false.
	CAPISecrets bool
	// KubeconfigPolicy lists the risky kubeconfig features the hub accepts. Default none:
	// exec and auth-provider plugins, file references and disabled TLS verification are
	// rejected.
	KubeconfigPolicy

	// ProbeInterval is how often each connected member is probed. Default 10s.
	ProbeInterval time.Duration
	// ProbeTimeout bounds each probe. Default 5s.
	ProbeTimeout time.Duration
	// FailureThreshold is how many consecutive failed probes disconnect a member. Default 2.
	FailureThreshold int
	// ConnectTimeout bounds the start of a member's cache on each connection. Default 30s.
	ConnectTimeout time.Duration
	// EngageTimeout bounds the engagement of the Aware passed to Start. Default 30s.
	EngageTimeout time.Duration
	// ReconnectBackoff is the first wait before reconnecting a failed member; it doubles
	// (with ±20% jitter) up to ReconnectBackoffMax and resets after a connection. Default 1s.
	ReconnectBackoff time.Duration
	// ReconnectBackoffMax caps the wait between reconnections. Default 2m.
	ReconnectBackoffMax time.Duration

	// QPS of each member client (client-go's rate limit). Default client-go's (5).
	QPS float32
	// Burst of each member client. Default client-go's (10).
	Burst int
	// RequestTimeout bounds each request of member clients other than watches' streams; it
	// is http.Client.Timeout, so it also ends long watches: keep it zero unless needed.
	// Default 0 (none; probes have ProbeTimeout).
	RequestTimeout time.Duration

	// Scheme of the member clusters. Default client-go's scheme.Scheme.
	Scheme *runtime.Scheme
	// Logger. Default logr.Discard().
	Logger logr.Logger
	// Registerer receives the registry's metrics. Default controller-runtime's registry.
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultRegistrationNamespace
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = DefaultFailureThreshold
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.EngageTimeout <= 0 {
		o.EngageTimeout = DefaultEngageTimeout
	}
	if o.ReconnectBackoff <= 0 {
		o.ReconnectBackoff = DefaultReconnectBackoff
	}
	if o.ReconnectBackoffMax < o.ReconnectBackoff {
		o.ReconnectBackoffMax = max(DefaultReconnectBackoffMax, o.ReconnectBackoff)
	}
	if o.Scheme == nil {
		o.Scheme = scheme.Scheme
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.Registerer == nil {
		o.Registerer = ctrlmetrics.Registry
	}
	return o
}

// MemberStatus is what the registry knows of one member. It holds no credential.
type MemberStatus struct {
	// Name is the cluster's name.
	Name string
	// SecretNamespace and SecretName locate the kubeconfig Secret.
	SecretNamespace, SecretName string
	// SecretUID identifies the Secret the status belongs to.
	SecretUID types.UID
	// State is one of the State* constants.
	State string
	// Reason says why the member is Invalid or Disconnected; empty when Connected.
	Reason string
	// LastError is the last error, without credentials; empty after a successful probe.
	LastError string
	// UID is the member's identity: the UID of its kube-system namespace. Empty until the
	// first successful connection.
	UID types.UID
	// ServerVersion is the member's Kubernetes version (gitVersion).
	ServerVersion string
	// LastProbe is when the member last answered a probe.
	LastProbe time.Time
	// TokenExpiry is when the kubeconfig's bearer token expires, when it is a JWT with an
	// expiry; nil otherwise.
	TokenExpiry *time.Time
	// UnavailableKinds are the kinds asked of the member's cache that the member refuses
	// (KindForbidden) or does not serve (KindNotServed), by "group/version/Kind" ("v1/Secret"
	// for the core group). Their informers keep retrying; a kind leaves this map once its
	// informer synced. Nil when every kind asked for is available.
	UnavailableKinds map[string]string
	// Annotations are the Secret's obsyk.io annotations (AllowedNamespacesAnnotation), for
	// Entitled.
	Annotations map[string]string
}

// fieldIndex is one IndexField call, applied to every member's cache.
type fieldIndex struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
}

// Registry discovers member clusters from kubeconfig Secrets, connects to them, watches
// their health and engages them with a multicluster.Aware. It is a multicluster-runtime
// Provider and ProviderRunnable. Create it with New, run it with Start.
type Registry struct {
	opts    Options
	hub     kubernetes.Interface
	metrics *registryMetrics
	log     logr.Logger

	// mu guards started, ctx, aware, members, every member's status, cluster and published
	// fields, indexers and subscribers. It is never held across I/O, a cache sync, an Engage
	// or a channel send that could block.
	mu          sync.Mutex
	started     bool
	ctx         context.Context // Start's context: the parent of every member's context
	aware       multicluster.Aware
	members     map[string]*member
	indexers    []fieldIndex
	subscribers map[chan struct{}]struct{}

	// Set by Start before its goroutines run; read-only afterwards.
	queue      workqueue.TypedRateLimitingInterface[string]
	labelled   listerscorev1.SecretLister
	capiLister listerscorev1.SecretLister

	// members' goroutines, waited for by Start before it returns.
	wg sync.WaitGroup
}

// member is one cluster. Its immutable fields are set before it is shared; the others are
// guarded by Registry.mu.
type member struct {
	name   string
	key    string // queue key of its Secret
	hash   string // sha256 of the kubeconfig bytes
	config *rest.Config
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when its goroutine ends; nil when none runs (Invalid)

	// Guarded by Registry.mu.
	status    MemberStatus
	cluster   cluster.Cluster // the current connection's cluster, from creation to teardown
	published *memberCluster  // what Get returns: set once the cache started, until teardown
}

// New returns a Registry reading Secrets through hub. It starts nothing.
func New(hub *rest.Config, opts Options) (*Registry, error) {
	if hub == nil {
		return nil, errors.New("new cluster registry: hub rest config is required")
	}
	opts = opts.withDefaults()
	kube, err := kubernetes.NewForConfig(hub)
	if err != nil {
		return nil, fmt.Errorf("new cluster registry: build hub client: %w", err)
	}
	m, err := newRegistryMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new cluster registry: %w", err)
	}
	return &Registry{
		opts:        opts,
		hub:         kube,
		metrics:     m,
		log:         opts.Logger,
		members:     map[string]*member{},
		subscribers: map[chan struct{}]struct{}{},
	}, nil
}

var (
	_ multicluster.Provider         = &Registry{}
	_ multicluster.ProviderRunnable = &Registry{}
)

// Namespace returns the hub namespace the registry watches.
func (r *Registry) Namespace() string { return r.opts.Namespace }

// Start runs the registry until ctx is done: it watches the Secrets, connects members and
// engages each connected member with aware (which may be nil). It blocks, and returns nil
// after a clean stop, once every member was disconnected and all goroutines ended. It
// implements multicluster.ProviderRunnable, so a multicluster-runtime manager calls it with
// itself as aware. ctx is the parent of every member's context.
func (r *Registry) Start(ctx context.Context, aware multicluster.Aware) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("cluster registry already started")
	}
	r.started = true
	r.ctx = ctx
	r.aware = aware
	r.mu.Unlock()

	r.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "obsyk-clusterregistry"})
	defer r.queue.ShutDown()

	// The hub's Secret caches are scoped to the namespace and the label: the hub never
	// caches every Secret of its cluster.
	labelled := informers.NewSharedInformerFactoryWithOptions(r.hub, 0,
		informers.WithNamespace(r.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{KubeconfigSecretLabel: "true"}.String()
		}))
	defer labelled.Shutdown()
	inf := labelled.Core().V1().Secrets()
	r.labelled = inf.Lister()
	if _, err := inf.Informer().AddEventHandler(r.handler(sourceLabel)); err != nil {
		return fmt.Errorf("watch kubeconfig secrets: %w", err)
	}
	synced := []cache.InformerSynced{inf.Informer().HasSynced}
	factories := []informers.SharedInformerFactory{labelled}
	if r.opts.CAPISecrets {
		capi := informers.NewSharedInformerFactoryWithOptions(r.hub, 0,
			informers.WithNamespace(r.opts.Namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.LabelSelector = CAPIClusterNameLabel
				o.FieldSelector = fields.OneTermEqualSelector("type", string(CAPISecretType)).String()
			}))
		defer capi.Shutdown()
		cinf := capi.Core().V1().Secrets()
		r.capiLister = cinf.Lister()
		if _, err := cinf.Informer().AddEventHandler(r.handler(sourceCAPI)); err != nil {
			return fmt.Errorf("watch cluster api secrets: %w", err)
		}
		synced = append(synced, cinf.Informer().HasSynced)
		factories = append(factories, capi)
	}
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	syncCtx, cancel := context.WithTimeout(ctx, DefaultHubSyncTimeout)
	ok := cache.WaitForCacheSync(syncCtx.Done(), synced...)
	cancel()
	if !ok {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("hub secret informers did not sync within %s", DefaultHubSyncTimeout)
	}
	r.log.Info("cluster registry started", "namespace", r.opts.Namespace)

	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		for r.processNext() {
		}
	}()
	<-ctx.Done()
	r.queue.ShutDown()
	<-workerDone

	r.mu.Lock()
	all := slices.Collect(maps.Values(r.members))
	r.mu.Unlock()
	for _, m := range all {
		r.stopMember(m)
	}
	r.wg.Wait()
	r.log.Info("cluster registry stopped")
	return nil
}

func (r *Registry) handler(source string) cache.ResourceEventHandler {
	enqueue := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if s, ok := obj.(*corev1.Secret); ok {
			r.queue.Add(source + "/" + s.Name)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}
}

func (r *Registry) processNext() bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	if err := r.sync(key); err != nil {
		r.log.Error(err, "sync kubeconfig secret failed", "secret", key)
		r.queue.AddRateLimited(key)
		return true
	}
	r.queue.Forget(key)
	return true
}

// secretFor returns the Secret behind key (nil when gone), the cluster name and the
// kubeconfig bytes.
func (r *Registry) secretFor(key string) (*corev1.Secret, string, []byte, error) {
	source, name, _ := strings.Cut(key, "/")
	lister, dataKey, cluster := r.labelled, KubeconfigSecretKey, name
	if source == sourceCAPI {
		lister, dataKey, cluster = r.capiLister, CAPIKubeconfigSecretKey, strings.TrimSuffix(name, CAPIKubeconfigSecretSuffix)
	}
	if lister == nil {
		return nil, cluster, nil, nil
	}
	s, err := lister.Secrets(r.opts.Namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, cluster, nil, nil
	}
	if err != nil {
		return nil, cluster, nil, fmt.Errorf("get secret %s: %w", key, err)
	}
	if source == sourceCAPI && (!strings.HasSuffix(name, CAPIKubeconfigSecretSuffix) || s.Type != CAPISecretType) {
		return nil, cluster, nil, nil // another Cluster API Secret of the cluster
	}
	return s, cluster, s.Data[dataKey], nil
}

// otherKey is the queue key of the other source that could name the same cluster.
func otherKey(key, cluster string) string {
	if strings.HasPrefix(key, sourceCAPI+"/") {
		return sourceLabel + "/" + cluster
	}
	return sourceCAPI + "/" + cluster + CAPIKubeconfigSecretSuffix
}

// sync brings the member of one Secret in line with it. It does no I/O except waiting for
// a replaced or removed member to stop, which is bounded by that member's deadlines.
func (r *Registry) sync(key string) error {
	secret, name, data, err := r.secretFor(key)
	if err != nil {
		return err
	}
	r.mu.Lock()
	cur := r.members[name]
	var curSecretUID types.UID
	if cur != nil {
		curSecretUID = cur.status.SecretUID
	}
	r.mu.Unlock()

	if secret == nil {
		if cur != nil && cur.key == key {
			r.stopMember(cur)
			r.log.Info("cluster removed", "cluster", name)
			if r.opts.CAPISecrets {
				r.queue.Add(otherKey(key, name)) // a Secret of the other kind may claim the name
			}
		}
		return nil
	}
	if cur != nil && cur.key != key {
		r.log.Info("cluster name already provided by another secret; ignoring this one", "cluster", name, "secret", key, "reason", ReasonNameConflict)
		return nil
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	annotations := obsykAnnotations(secret.Annotations)
	if cur != nil && cur.hash == hash && curSecretUID == secret.UID {
		r.mu.Lock()
		changed := !maps.Equal(cur.status.Annotations, annotations)
		cur.status.Annotations = annotations
		r.mu.Unlock()
		if changed {
			r.notify()
		}
		return nil
	}
	if cur != nil {
		r.stopMember(cur)
		r.log.Info("cluster kubeconfig changed; reconnecting", "cluster", name)
	}

	m := &member{name: name, key: key, hash: hash}
	m.status = MemberStatus{
		Name: name, SecretNamespace: secret.Namespace, SecretName: secret.Name, SecretUID: secret.UID,
		Annotations: annotations,
	}
	cfg, verr := ValidateKubeconfig(data, r.opts.KubeconfigPolicy)
	if verr != nil {
		var kerr *KubeconfigError
		reason := ReasonParseError
		if errors.As(verr, &kerr) {
			reason = kerr.Reason
		}
		m.status.State, m.status.Reason, m.status.LastError = StateInvalid, reason, verr.Error()
		r.mu.Lock()
		r.members[name] = m
		r.mu.Unlock()
		r.metrics.setInvalid(name, reason)
		r.log.Info("cluster kubeconfig rejected", "cluster", name, "reason", reason)
		r.notify()
		return nil
	}
	m.config = cfg
	m.status.State = StateConnecting
	m.status.TokenExpiry = tokenExpiry(cfg.BearerToken)
	m.done = make(chan struct{})

	r.mu.Lock()
	if r.ctx.Err() != nil {
		r.mu.Unlock()
		return nil
	}
	m.ctx, m.cancel = context.WithCancel(r.ctx)
	r.members[name] = m
	r.wg.Add(1)
	r.mu.Unlock()
	r.metrics.setConnected(name, false)
	r.notify()
	go func() {
		defer r.wg.Done()
		defer close(m.done)
		r.runMember(m)
	}()
	return nil
}

// stopMember cancels m's context, waits for its goroutine (which waits for its cache) and
// removes it — by identity, so that a replacement under the same name stays.
func (r *Registry) stopMember(m *member) {
	if m.cancel != nil {
		m.cancel()
	}
	if m.done != nil {
		<-m.done
	}
	r.mu.Lock()
	removed := r.members[m.name] == m
	if removed {
		delete(r.members, m.name)
	}
	r.mu.Unlock()
	if removed {
		r.metrics.delete(m.name)
		r.notify()
	}
}

func obsykAnnotations(in map[string]string) map[string]string {
	out := map[string]string{}
	if v, ok := in[AllowedNamespacesAnnotation]; ok {
		out[AllowedNamespacesAnnotation] = v
	}
	return out
}

// tokenExpiry reads the exp claim of a JWT bearer token without verifying it (the member
// does that); nil when the token is not a JWT or has no expiry. The token is never logged.
func tokenExpiry(token string) *time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var claims struct {
		Exp *int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil {
		return nil
	}
	t := time.Unix(*claims.Exp, 0)
	return &t
}

// Get returns the member cluster name when it is connected. It returns an error wrapping
// multicluster.ErrClusterNotFound otherwise: ErrClusterNotConnected for a known member.
func (r *Registry) Get(_ context.Context, name multicluster.ClusterName) (cluster.Cluster, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[string(name)]
	if !ok {
		return nil, fmt.Errorf("cluster %s: %w", name, multicluster.ErrClusterNotFound)
	}
	if m.published == nil {
		return nil, fmt.Errorf("cluster %s: %w", name, ErrClusterNotConnected)
	}
	return m.published, nil
}

// IndexField adds an index to the cache of every member, current and future. On a running
// cache it waits for the kind's informer to sync, bounded by ctx.
func (r *Registry) IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	r.mu.Lock()
	r.indexers = append(r.indexers, fieldIndex{obj: obj, field: field, extract: extract})
	var clusters []cluster.Cluster
	for _, m := range r.members {
		if m.cluster != nil {
			clusters = append(clusters, m.cluster)
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, cl := range clusters {
		if err := cl.GetFieldIndexer().IndexField(ctx, obj, field, extract); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("index field %s: %w", field, err)
	}
	return nil
}

// Members returns the status of every member, by name.
func (r *Registry) Members() []MemberStatus {
	r.mu.Lock()
	out := make([]MemberStatus, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, m.status.clone())
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b MemberStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Member returns the status of one member.
func (r *Registry) Member(name string) (MemberStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[name]
	if !ok {
		return MemberStatus{}, false
	}
	return m.status.clone(), true
}

// Entitled reports whether an ObsykAgent in agentNamespace may target the cluster name (see
// the function Entitled). An unknown cluster entitles nobody.
func (r *Registry) Entitled(name, agentNamespace string) bool {
	st, ok := r.Member(name)
	return ok && Entitled(agentNamespace, r.opts.Namespace, st.Annotations)
}

// Subscribe returns a channel that receives a value after members change (added, removed,
// state, identity), coalesced: one pending value at most. Call the returned function to
// unsubscribe; the channel is never closed.
func (r *Registry) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	r.subscribers[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subscribers, ch)
		r.mu.Unlock()
	}
}

func (r *Registry) notify() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.subscribers {
		select { // non-blocking: the lock is never held across a blocking send
		case ch <- struct{}{}:
		default:
		}
	}
}

func (s MemberStatus) clone() MemberStatus {
	s.Annotations = maps.Clone(s.Annotations)
	s.UnavailableKinds = maps.Clone(s.UnavailableKinds)
	if s.TokenExpiry != nil {
		t := *s.TokenExpiry
		s.TokenExpiry = &t
	}
	return s
}
