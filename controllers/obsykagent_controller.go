package controllers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/auth"
	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/ingest"
	"github.com/obsyk/obsyk-hub/transport"
)

// LocalClusterName is the ingest name of the hub's own cluster, streamed by agents without
// spec.clusterRef. It is not a valid Secret name, so no member can take it.
const LocalClusterName = "~hub"

// Finalizer is set on every ObsykAgent the hub serves; it stops the agent's binding and
// releases its client before the agent goes.
const Finalizer = "obsyk.io/hub"

// Credentials Secret keys (contract §2.1).
const (
	SecretKeyClientID   = "client_id"
	SecretKeyPrivateKey = "private_key"
)

// Defaults of ReconcilerOptions.
const (
	DefaultStatusInterval     = 30 * time.Second
	DefaultCredentialsRecheck = time.Minute
	DefaultEventSendTimeout   = 30 * time.Second
	DefaultSnapshotTimeout    = 5 * time.Minute
)

// ReconcilerOptions configures a Reconciler. The zero value is valid except where a field
// says it is required.
type ReconcilerOptions struct {
	// HubNamespace is the namespace of the member kubeconfig Secrets; agents in it may target
	// every member, and only agents in it may stream the hub's own cluster. Required.
	HubNamespace string
	// AllowInsecureHTTP accepts http:// platform URLs (tests, the local demo). Default false.
	AllowInsecureHTTP bool
	// AgentVersion is the hub's version, sent as agent_version. Default "dev".
	AgentVersion string
	// StatusInterval is how often a bound agent's status is refreshed (counts, outbox
	// depth); transitions are written at once. Default 30s.
	StatusInterval time.Duration
	// CredentialsRecheck is how often an agent's credentials Secret is read again to pick up
	// a rotation (the hub may only get Secrets, never list or watch them). A refusal by the
	// token endpoint re-reads it at once. Default 1m.
	CredentialsRecheck time.Duration
	// EventSendTimeout bounds one event send, retries included; HeartbeatTimeout one
	// heartbeat; SnapshotTimeout one snapshot; RequestTimeout one HTTP attempt. With leader
	// election, keep them below the lease duration. Defaults 30s, 10s, 5m and 30s.
	EventSendTimeout, HeartbeatTimeout, SnapshotTimeout, RequestTimeout time.Duration
	// OutboxMaxBytes is each agent's outbox budget. Default ingest's (64 MiB).
	OutboxMaxBytes int64
	// SourceAddress is the local IP of platform connections. Default: the system's choice.
	SourceAddress string
	// PlatformCABundle is PEM trusted for platform URLs in addition to the system roots
	// (a private platform, the simulator). Default none.
	PlatformCABundle []byte
	// TransportMetrics receives the platform clients' metrics. Default nil: none.
	TransportMetrics *transport.Metrics
	// MaxConcurrentReconciles. Default 4.
	MaxConcurrentReconciles int
}

func (o ReconcilerOptions) withDefaults() ReconcilerOptions {
	if o.AgentVersion == "" {
		o.AgentVersion = "dev"
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = DefaultStatusInterval
	}
	if o.CredentialsRecheck <= 0 {
		o.CredentialsRecheck = DefaultCredentialsRecheck
	}
	if o.EventSendTimeout <= 0 {
		o.EventSendTimeout = DefaultEventSendTimeout
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if o.SnapshotTimeout <= 0 {
		o.SnapshotTimeout = DefaultSnapshotTimeout
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 4
	}
	return o
}

// Reconciler serves ObsykAgents: it binds each one to its cluster's ingest pipeline and a
// pooled platform client, runs its heartbeat lane, keeps its status and conditions true,
// and releases everything through a finalizer. It is also a manager Runnable (Start): the
// heartbeat lanes and the watch on the registry run under it.
type Reconciler struct {
	client    client.Client // the hub's cached client (ObsykAgents)
	apiReader client.Reader // uncached reads (credentials Secrets: get only)
	registry  *clusterregistry.Registry
	ingest    *ingest.Manager
	pool      *transport.Pool
	local     cluster.Cluster // the hub's own cluster, engaged into ingest on first use
	ownership Ownership       // nil: this replica serves every agent
	recorder  events.EventRecorder
	opts      ReconcilerOptions
	collected map[transport.Kind]bool
	log       logr.Logger

	wake chan event.GenericEvent // agents whose status must be rewritten now

	// mu guards ctx, bindings, localEngaged and wg's Add. It is never held across I/O.
	mu           sync.Mutex
	ctx          context.Context // Start's context; nil before Start
	bindings     map[types.NamespacedName]*binding
	localEngaged bool
	wg           sync.WaitGroup // heartbeat lanes
}

// Ownership decides which hub replica serves a cluster when the hub shards clusters across
// replicas; *clusterregistry.ShardCoordinator implements it.
type Ownership interface {
	// Owns reports whether this replica serves the cluster (or, for a name no replica
	// owns, whether it is the one that reports on it).
	Owns(cluster string) bool
	// Identity is this replica's name, written to status.servedBy.
	Identity() string
	// Subscribe signals ownership changes.
	Subscribe() (<-chan struct{}, func())
	// Engage hands a cluster (the hub's own) to the coordinator, which engages the ingest
	// Manager with it while this replica owns it.
	Engage(ctx context.Context, name multicluster.ClusterName, cl cluster.Cluster) error
}

// ReconcilerDeps are the parts a Reconciler works with. All are required except Local (no
// agent may then stream the hub's own cluster) and Recorder.
type ReconcilerDeps struct {
	Client    client.Client
	APIReader client.Reader
	Registry  *clusterregistry.Registry
	Ingest    *ingest.Manager
	Pool      *transport.Pool
	Local     cluster.Cluster
	Recorder  events.EventRecorder
	Logger    logr.Logger
	// Ownership, when set, limits this replica to the clusters it owns. Default nil: one
	// replica serves every agent.
	Ownership Ownership
	// Collected are the kinds the ingest Manager collects.
	Collected []transport.Kind
}

// NewReconciler returns a Reconciler; it starts nothing.
func NewReconciler(deps ReconcilerDeps, opts ReconcilerOptions) (*Reconciler, error) {
	if deps.Client == nil || deps.APIReader == nil || deps.Registry == nil || deps.Ingest == nil || deps.Pool == nil {
		return nil, errors.New("new reconciler: Client, APIReader, Registry, Ingest and Pool are required")
	}
	if opts.HubNamespace == "" {
		return nil, errors.New("new reconciler: HubNamespace is required")
	}
	if deps.Logger.GetSink() == nil {
		deps.Logger = logr.Discard()
	}
	collected := map[transport.Kind]bool{}
	for _, k := range deps.Collected {
		collected[k] = true
	}
	if len(collected) == 0 {
		for _, k := range ingest.DefaultKinds {
			collected[k] = true
		}
	}
	return &Reconciler{
		client: deps.Client, apiReader: deps.APIReader, registry: deps.Registry,
		ingest: deps.Ingest, pool: deps.Pool, local: deps.Local, recorder: deps.Recorder, ownership: deps.Ownership,
		opts: opts.withDefaults(), collected: collected, log: deps.Logger,
		wake:     make(chan event.GenericEvent, 1024),
		bindings: map[types.NamespacedName]*binding{},
	}, nil
}

// SetupWithManager registers the controller and the Reconciler's own runnable with mgr
// (the hub's local manager).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.Add(r); err != nil {
		return fmt.Errorf("add obsykagent runnable: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("obsykagent").
		// Status writes (ours) change neither generation, labels, annotations nor
		// finalizers: they do not come back as reconciles.
		For(&obsykv1.ObsykAgent{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{},
			predicate.LabelChangedPredicate{}, deletingPredicate()))).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		// One hub per process in production; tests and the demo start a second one after
		// the first stopped, which the name check would refuse.
		WithOptions(controller.Options{MaxConcurrentReconciles: r.opts.MaxConcurrentReconciles, SkipNameValidation: ptr.To(true)}).
		Complete(r)
}

// deletingPredicate passes updates of an agent being deleted or whose finalizers changed.
func deletingPredicate() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !e.ObjectNew.GetDeletionTimestamp().IsZero() ||
			!slices.Equal(e.ObjectOld.GetFinalizers(), e.ObjectNew.GetFinalizers())
	}}
}

// Start runs until ctx ends: it wakes every agent when the registry's members change, and
// owns the heartbeat lanes, which it waits for before returning nil.
func (r *Reconciler) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.ctx != nil {
		r.mu.Unlock()
		return errors.New("obsykagent reconciler already started")
	}
	r.ctx = ctx
	r.mu.Unlock()

	changes, unsubscribe := r.registry.Subscribe()
	defer unsubscribe()
	var owned <-chan struct{} // nil without sharding: never ready
	if r.ownership != nil {
		var stop func()
		owned, stop = r.ownership.Subscribe()
		defer stop()
	}
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			for _, b := range r.bindings {
				b.stopHeartbeat()
			}
			r.mu.Unlock()
			r.wg.Wait()
			return nil
		case <-changes:
			r.wakeAll(ctx)
		case <-owned:
			r.wakeAll(ctx)
		}
	}
}

// wakeAll queues every agent for a reconcile.
func (r *Reconciler) wakeAll(ctx context.Context) {
	var list obsykv1.ObsykAgentList
	if err := r.client.List(ctx, &list); err != nil {
		r.log.Error(err, "list obsykagents to wake them")
		return
	}
	for i := range list.Items {
		select {
		case r.wake <- event.GenericEvent{Object: &list.Items[i]}:
		case <-ctx.Done():
			return
		}
	}
}

// wakeOne queues an agent without blocking; the periodic refresh covers a full queue.
func (r *Reconciler) wakeOne(key types.NamespacedName) {
	a := &obsykv1.ObsykAgent{}
	a.Namespace, a.Name = key.Namespace, key.Name
	select {
	case r.wake <- event.GenericEvent{Object: a}:
	default:
	}
}

// Reconcile brings one agent's binding and status in line with its spec and the world.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("agent", req.String())
	r.mu.Lock()
	started := r.ctx != nil
	r.mu.Unlock()
	if !started {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}

	agent := &obsykv1.ObsykAgent{}
	if err := r.client.Get(ctx, req.NamespacedName, agent); err != nil {
		if apierrors.IsNotFound(err) {
			r.release(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get obsykagent: %w", err)
	}
	if !agent.DeletionTimestamp.IsZero() {
		r.release(req.NamespacedName)
		r.wakeSameTarget(ctx, agent)
		if controllerutil.RemoveFinalizer(agent, Finalizer) {
			if err := r.client.Update(ctx, agent); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
			}
			log.V(1).Info("agent released")
		}
		return ctrl.Result{}, nil
	}
	if controllerutil.AddFinalizer(agent, Finalizer) {
		if err := r.client.Update(ctx, agent); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	if !r.serves(agent) {
		// Another replica owns the agent's cluster: it streams it and writes the status.
		r.release(req.NamespacedName)
		return ctrl.Result{RequeueAfter: r.opts.StatusInterval}, nil
	}
	orig := agent.DeepCopy()
	conds := newConditionSet(agent.Status.Conditions, agent.Generation)
	result, b := r.bind(ctx, agent, conds, log)
	r.fillStatus(agent, conds, b)
	agent.Status.Conditions = conds.conds
	agent.Status.ObservedGeneration = agent.Generation
	r.recordTransitions(agent, &orig.Status, &agent.Status)
	if !equality.Semantic.DeepEqual(orig.Status, agent.Status) {
		if err := r.client.Status().Patch(ctx, agent, client.MergeFrom(orig)); err != nil {
			if apierrors.IsNotFound(err) {
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, fmt.Errorf("patch obsykagent status: %w", err)
		}
	}
	return result, nil
}

// serves reports whether this replica serves the agent: always without sharding,
// otherwise when it owns the agent's cluster. An agent streaming the hub's own cluster
// hands that cluster to the coordinator first, on every replica, so that its owner has it.
func (r *Reconciler) serves(agent *obsykv1.ObsykAgent) bool {
	if r.ownership == nil {
		return true
	}
	s, err := parseSpec(agent, true, r.collected)
	if err != nil {
		return r.ownership.Owns("agent/" + agent.Namespace + "/" + agent.Name)
	}
	if s.local && r.local != nil && agent.Namespace == r.opts.HubNamespace {
		if err := r.engageLocal(); err != nil {
			r.log.Error(err, "hand the hub's own cluster to the coordinator")
		}
	}
	return r.ownership.Owns(s.cluster)
}

// bind checks the agent and makes its binding match. On a refusal it releases any binding,
// sets the refusing condition and returns a nil binding.
func (r *Reconciler) bind(ctx context.Context, agent *obsykv1.ObsykAgent, conds *conditionSet, log logr.Logger) (ctrl.Result, *binding) {
	key := client.ObjectKeyFromObject(agent)
	reject := func(failed, reason, message string, after time.Duration) (ctrl.Result, *binding) {
		r.release(key)
		conds.reject(failed, reason, message)
		return ctrl.Result{RequeueAfter: after}, nil
	}

	s, serr := parseSpec(agent, r.opts.AllowInsecureHTTP, r.collected)
	if serr != nil {
		failed := ""
		if serr.reason == ReasonInsecurePlatformURL {
			failed = ConditionPlatformReachable
		}
		return reject(failed, serr.reason, serr.message, 0) // a spec edit brings it back
	}

	// The target cluster: known, entitled, usable.
	var member clusterregistry.MemberStatus
	if s.local {
		switch {
		case r.local == nil:
			return reject(ConditionClusterConnected, ReasonClusterNotFound,
				"spec.clusterRef is not set and this hub does not stream its own cluster; set spec.clusterRef.name to a registered member", 0)
		case agent.Namespace != r.opts.HubNamespace:
			return reject(ConditionClusterConnected, ReasonNotEntitled, fmt.Sprintf(
				"spec.clusterRef is not set, so the agent would stream the hub's own cluster; only agents in namespace %s may do that", r.opts.HubNamespace), 0)
		}
		if err := r.engageLocal(); err != nil {
			return reject(ConditionClusterConnected, ReasonClusterUnreachable, err.Error(), r.opts.StatusInterval)
		}
	} else {
		m, ok := r.registry.Member(s.cluster)
		switch {
		case !ok:
			return reject(ConditionClusterConnected, ReasonClusterNotFound, fmt.Sprintf(
				"no member cluster %q is registered: create its kubeconfig Secret in namespace %s (obsyk-hub cluster add --name %s)",
				s.cluster, r.opts.HubNamespace, s.cluster), 0) // the registry wakes us when it appears
		case !r.registry.Entitled(s.cluster, agent.Namespace):
			return reject(ConditionClusterConnected, ReasonNotEntitled, fmt.Sprintf(
				"namespace %s may not target cluster %q: list it in the %s annotation of the cluster's Secret, or create the agent in namespace %s",
				agent.Namespace, s.cluster, clusterregistry.AllowedNamespacesAnnotation, r.opts.HubNamespace), 0)
		case m.State == clusterregistry.StateInvalid:
			return reject(ConditionClusterConnected, ReasonKubeconfigRejected, fmt.Sprintf(
				"the kubeconfig Secret of cluster %q was rejected (%s): %s", s.cluster, m.Reason, m.LastError), 0)
		}
		member = m
	}

	// One agent per cluster and platform: the oldest keeps it.
	if other, err := r.olderDuplicate(ctx, agent, s); err != nil {
		log.Error(err, "duplicate check failed; keeping the current binding")
		return ctrl.Result{RequeueAfter: time.Second}, r.current(key)
	} else if other != "" {
		return reject("", ReasonDuplicateTarget, fmt.Sprintf(
			"agent %s already sends cluster %q to %s; delete one of the two", other, s.cluster, s.platformURL), 0)
	}

	// Credentials, read by name (the hub may get, never list, Secrets).
	b := r.current(key)
	creds, cerr := r.credentials(ctx, agent, s, b)
	if cerr != nil {
		return reject(ConditionCredentialsValid, cerr.reason, cerr.message, r.opts.CredentialsRecheck)
	}
	c, err := r.pool.Get(key.String(), transport.Options{
		PlatformURL: s.platformURL, ClientID: creds.clientID, PrivateKeyPEM: creds.key,
		AgentVersion: r.opts.AgentVersion, AllowInsecureHTTP: r.opts.AllowInsecureHTTP,
		RequestTimeout: r.opts.RequestTimeout, Metrics: r.opts.TransportMetrics, CABundle: r.opts.PlatformCABundle,
		SourceAddress: r.opts.SourceAddress,
		Logger:        r.log.WithValues("agent", key.String()),
	})
	if err != nil {
		reason, msg := ReasonInvalidCredentials, "the credentials cannot be used: "+err.Error()
		var ce *auth.CredentialError
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		return reject(ConditionCredentialsValid, reason, msg, r.opts.CredentialsRecheck)
	}

	fp := s.fingerprint(creds.hash, string(member.UID))
	if b == nil || b.fingerprint != fp || b.client != c {
		b = r.newBinding(key, s, c, creds, fp)
		opts := ingest.AgentOptions{
			Sender: b.obs, ClusterName: s.clusterName, AgentVersion: r.opts.AgentVersion,
			Kinds: s.kinds, IncludeNamespaces: s.include, ExcludeNamespaces: s.exclude,
			RateLimit: s.eventsPerSec, RateBurst: s.burst, AntiEntropyInterval: s.resync,
			SendTimeout: r.opts.EventSendTimeout, SnapshotTimeout: r.opts.SnapshotTimeout,
			OutboxMaxBytes: r.opts.OutboxMaxBytes,
		}
		if err := r.ingest.Bind(key.String(), s.cluster, opts); err != nil {
			r.release(key)
			conds.reject("", ReasonNotBound, "the hub is stopping: "+err.Error())
			return ctrl.Result{}, nil
		}
		r.install(key, b)
		log.Info("agent bound", "cluster", s.cluster)
	}
	b.credsChecked = creds.checked
	r.ensureHeartbeat(b, s.heartbeat)
	if s.secretsIgnored && !b.warnedSecrets {
		b.warnedSecrets = true
		r.event(agent, corev1.EventTypeWarning, "SecretsNotCollected", "Configure",
			"spec.kinds lists Secret but this hub does not collect Secrets (start it with --collect-secrets); Secrets are not sent")
	}
	return ctrl.Result{RequeueAfter: r.opts.StatusInterval}, b
}

// credentials are an agent's client_id and private key, with a hash to notice rotation.
type credentials struct {
	clientID string
	key      []byte
	hash     string
	checked  time.Time
}

// credentials returns the agent's credentials: the binding's while they were checked
// recently and the platform has not refused them, otherwise read from the Secret again.
func (r *Reconciler) credentials(ctx context.Context, agent *obsykv1.ObsykAgent, s *spec, b *binding) (credentials, *specError) {
	if b != nil && b.secretName == s.secretName && time.Since(b.credsChecked) < r.opts.CredentialsRecheck &&
		b.obs.get().credErr == nil {
		return b.creds, nil
	}
	sec := &corev1.Secret{}
	// The request's logger would print the response body (the key) at V(8): read it with
	// none at all.
	err := r.apiReader.Get(logr.NewContext(ctx, logr.Discard()), types.NamespacedName{Namespace: agent.Namespace, Name: s.secretName}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return credentials{}, &specError{ReasonSecretNotFound, fmt.Sprintf(
			"the credentials Secret %s/%s does not exist; create it with keys %s and %s (obsyk-hub keygen writes one)",
			agent.Namespace, s.secretName, SecretKeyClientID, SecretKeyPrivateKey)}
	case err != nil:
		return credentials{}, &specError{ReasonInvalidCredentials, fmt.Sprintf(
			"read the credentials Secret %s/%s: %s", agent.Namespace, s.secretName, apiErrorText(err))}
	}
	var missing []string
	for _, k := range []string{SecretKeyClientID, SecretKeyPrivateKey} {
		if len(sec.Data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return credentials{}, &specError{ReasonSecretMissingKeys, fmt.Sprintf(
			"the credentials Secret %s/%s lacks the key(s) %s", agent.Namespace, s.secretName, strings.Join(missing, ", "))}
	}
	h := sha256.New()
	h.Write(sec.Data[SecretKeyClientID])
	h.Write([]byte{0})
	h.Write(sec.Data[SecretKeyPrivateKey])
	return credentials{
		clientID: strings.TrimSpace(string(sec.Data[SecretKeyClientID])),
		key:      sec.Data[SecretKeyPrivateKey],
		hash:     hex.EncodeToString(h.Sum(nil)),
		checked:  time.Now(),
	}, nil
}

// apiErrorText is an API error's reason and code, never a body that might quote data.
func apiErrorText(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return fmt.Sprintf("%s (HTTP %d)", st.Status().Reason, st.Status().Code)
	}
	return err.Error()
}

// olderDuplicate returns the key of an older agent with the same target, or "".
func (r *Reconciler) olderDuplicate(ctx context.Context, agent *obsykv1.ObsykAgent, s *spec) (string, error) {
	var list obsykv1.ObsykAgentList
	if err := r.client.List(ctx, &list); err != nil {
		return "", fmt.Errorf("list obsykagents: %w", err)
	}
	mine := s.target()
	var older []*obsykv1.ObsykAgent
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID == agent.UID || !o.DeletionTimestamp.IsZero() {
			continue
		}
		os, err := parseSpec(o, true, r.collected)
		if err != nil || os.target() != mine {
			continue
		}
		if agentOrder(o, agent) < 0 {
			older = append(older, o)
		}
	}
	if len(older) == 0 {
		return "", nil
	}
	sort.Slice(older, func(i, j int) bool { return agentOrder(older[i], older[j]) < 0 })
	return client.ObjectKeyFromObject(older[0]).String(), nil
}

// agentOrder orders agents by creation time, then namespace/name.
func agentOrder(a, b *obsykv1.ObsykAgent) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
}

// wakeSameTarget wakes the agents that a deleted agent may have been blocking.
func (r *Reconciler) wakeSameTarget(ctx context.Context, agent *obsykv1.ObsykAgent) {
	s, err := parseSpec(agent, true, r.collected)
	if err != nil {
		return
	}
	var list obsykv1.ObsykAgentList
	if err := r.client.List(ctx, &list); err != nil {
		return
	}
	for i := range list.Items {
		o := &list.Items[i]
		if os, err := parseSpec(o, true, r.collected); err == nil && o.UID != agent.UID && os.target() == s.target() {
			r.wakeOne(client.ObjectKeyFromObject(o))
		}
	}
}

// engageLocal engages the hub's own cluster into ingest once.
func (r *Reconciler) engageLocal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.localEngaged {
		return nil
	}
	engage := r.ingest.Engage
	if r.ownership != nil {
		engage = r.ownership.Engage
	}
	if err := engage(r.ctx, LocalClusterName, r.local); err != nil {
		return fmt.Errorf("collect the hub's own cluster: %w", err)
	}
	r.localEngaged = true
	return nil
}

// event records a Kubernetes Event on the agent, when a recorder is set.
func (r *Reconciler) event(agent *obsykv1.ObsykAgent, typ, reason, action, note string) {
	if r.recorder != nil {
		r.recorder.Eventf(agent, nil, typ, reason, action, "%s", note)
	}
}

// recordTransitions emits Events for the transitions users care about: connected,
// cluster lost, credentials rejected, snapshot accepted or failed.
func (r *Reconciler) recordTransitions(agent *obsykv1.ObsykAgent, before, after *obsykv1.ObsykAgentStatus) {
	find := func(st *obsykv1.ObsykAgentStatus, typ string) metav1.Condition {
		for _, c := range st.Conditions {
			if c.Type == typ {
				return c
			}
		}
		return metav1.Condition{}
	}
	was, now := find(before, ConditionClusterConnected), find(after, ConditionClusterConnected)
	switch {
	case now.Status == metav1.ConditionTrue && was.Status != metav1.ConditionTrue:
		r.event(agent, corev1.EventTypeNormal, "ClusterConnected", "Connect", now.Message)
	case was.Status == metav1.ConditionTrue && now.Status == metav1.ConditionFalse:
		r.event(agent, corev1.EventTypeWarning, "ClusterLost", "Connect", now.Reason+": "+now.Message)
	}
	was, now = find(before, ConditionCredentialsValid), find(after, ConditionCredentialsValid)
	if now.Status == metav1.ConditionFalse && (was.Status != metav1.ConditionFalse || was.Reason != now.Reason) {
		r.event(agent, corev1.EventTypeWarning, "CredentialsRejected", "Authenticate", now.Reason+": "+now.Message)
	}
	was, now = find(before, ConditionSnapshotAccepted), find(after, ConditionSnapshotAccepted)
	if after.LastSnapshotTime != nil && (before.LastSnapshotTime == nil || after.LastSnapshotTime.After(before.LastSnapshotTime.Time)) {
		r.event(agent, corev1.EventTypeNormal, "SnapshotAccepted", "SendSnapshot", now.Message)
	}
	if now.Reason == ReasonSnapshotFailed && was.Reason != ReasonSnapshotFailed {
		r.event(agent, corev1.EventTypeWarning, "SnapshotFailed", "SendSnapshot", now.Message)
	}
}
