package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/ingest"
	"github.com/obsyk/obsyk-hub/transport"
)

// HubOptions is everything `obsyk-hub run` configures. The zero value is valid.
type HubOptions struct {
	// Namespace holds the member kubeconfig Secrets. Default "obsyk-system".
	Namespace string
	// WatchNamespaces limits the ObsykAgents served to these namespaces. Default: all.
	WatchNamespaces []string
	// MetricsAddr and ProbeAddr are the listen addresses of the metrics and probe servers;
	// "0" turns one off. Defaults "0" (off) for both.
	MetricsAddr, ProbeAddr string
	// PprofAddr is the listen address of Go's /debug/pprof/ endpoints; "" or "0" turns them
	// off. Default off.
	PprofAddr string
	// LeaderElect turns leader election on (a Lease named LeaderElectionID in
	// LeaderElectionNamespace, default Namespace). The lease is released on a clean stop.
	LeaderElect                  bool
	LeaderElectionNamespace      string
	LeaderElectionID             string
	LeaseDuration, RenewDeadline time.Duration
	RetryPeriod                  time.Duration
	// Sharding spreads member clusters over every replica running with it, with Leases in
	// Namespace (clusterregistry.ShardCoordinator); it excludes LeaderElect. ShardIdentity
	// names this replica (default host name plus a random suffix); ShardLeaseDuration,
	// ShardRenewDeadline and ShardRetryPeriod default to clusterregistry's (20s, 10s, 2s).
	Sharding                                                 bool
	ShardIdentity                                            string
	ShardLeaseDuration, ShardRenewDeadline, ShardRetryPeriod time.Duration
	// SourceAddress is the local IP of platform connections. Default: the system's choice.
	SourceAddress string
	// DrainTimeout bounds the shutdown: in-flight sends finish or are abandoned within it.
	// Default 10s.
	DrainTimeout time.Duration
	// KubeconfigPolicy and CAPISecrets configure the registry (see clusterregistry.Options).
	KubeconfigPolicy clusterregistry.KubeconfigPolicy
	CAPISecrets      bool
	// AllowInsecureHTTP accepts http:// platform URLs. Default false.
	AllowInsecureHTTP bool
	// PlatformCABundle is PEM trusted for platform URLs besides the system roots. Default
	// none.
	PlatformCABundle []byte
	// CollectSecrets collects Secret key names from members (agents still opt in per
	// spec.kinds). Default false.
	CollectSecrets bool
	// MemberQPS and MemberBurst limit each member client. Defaults ingest's (50, 100).
	MemberQPS   float32
	MemberBurst int
	// OutboxMaxBytes is each agent's outbox budget; SnapshotConcurrency the fleet-wide limit
	// of snapshots in flight. Defaults ingest's.
	OutboxMaxBytes      int64
	SnapshotConcurrency int
	// EventChannelCapacity is each member's event channel buffer. Default ingest's (1000).
	EventChannelCapacity int
	// AgentVersion is the hub's version. Default "dev".
	AgentVersion string
	// Logger. Default logr.Discard().
	Logger logr.Logger
	// Metrics is where the hub's metrics are registered. Default controller-runtime's
	// registry, which the metrics server serves.
	Metrics prometheus.Registerer
	// Registry and Reconciler tune the parts (tests: short probe and recheck intervals).
	// Fields set above win over the same fields here.
	Registry   clusterregistry.Options
	Reconciler ReconcilerOptions
}

// Hub is the assembled hub: the cluster registry, the ingest manager, the platform client
// pool and the ObsykAgent reconciler under one multicluster-runtime manager.
type Hub struct {
	mgr      mcmanager.Manager
	pool     *transport.Pool
	Registry *clusterregistry.Registry
	Ingest   *ingest.Manager
}

// Scheme returns the hub's scheme: client-go's types, obsyk.io/v1 and apiextensions/v1.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = obsykv1.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s) // CheckCRD reads the installed CRD
	return s
}

// NewHub checks the installed CRD and assembles the hub; it starts nothing.
func NewHub(ctx context.Context, cfg *rest.Config, opts HubOptions) (*Hub, error) {
	log := capVerbosity(opts.Logger, MaxLogVerbosity)
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	if opts.Namespace == "" {
		opts.Namespace = clusterregistry.DefaultRegistrationNamespace
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	if opts.MetricsAddr == "" {
		opts.MetricsAddr = "0"
	}
	if opts.ProbeAddr == "" {
		opts.ProbeAddr = "0"
	}
	if opts.Metrics == nil {
		opts.Metrics = ctrlmetrics.Registry
	}
	scheme := Scheme()

	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := CheckCRD(checkCtx, direct); err != nil {
		return nil, err
	}

	ropts := opts.Registry
	ropts.Namespace = opts.Namespace
	ropts.CAPISecrets = opts.CAPISecrets || ropts.CAPISecrets
	ropts.KubeconfigPolicy = opts.KubeconfigPolicy
	if ropts.Logger.GetSink() == nil {
		ropts.Logger = log.WithName("clusterregistry")
	}
	if ropts.Registerer == nil {
		ropts.Registerer = opts.Metrics
	}
	registry, err := clusterregistry.New(cfg, ropts)
	if err != nil {
		return nil, fmt.Errorf("cluster registry: %w", err)
	}

	mopts := manager.Options{
		Scheme:                  scheme,
		Logger:                  log,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  opts.ProbeAddr,
		PprofBindAddress:        opts.PprofAddr,
		GracefulShutdownTimeout: &opts.DrainTimeout,
		Client: client.Options{Cache: &client.CacheOptions{
			// Credentials Secrets are read by name, uncached: the hub may get Secrets, never
			// list or watch them.
			DisableFor: []client.Object{&corev1.Secret{}},
		}},
	}
	if len(opts.WatchNamespaces) > 0 {
		mopts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{}}
		for _, ns := range opts.WatchNamespaces {
			mopts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if opts.LeaderElect {
		mopts.LeaderElection = true
		mopts.LeaderElectionID = opts.LeaderElectionID
		mopts.LeaderElectionNamespace = cmpOr(opts.LeaderElectionNamespace, opts.Namespace)
		mopts.LeaderElectionReleaseOnCancel = true
		if opts.LeaseDuration > 0 {
			mopts.LeaseDuration = &opts.LeaseDuration
		}
		if opts.RenewDeadline > 0 {
			mopts.RenewDeadline = &opts.RenewDeadline
		}
		if opts.RetryPeriod > 0 {
			mopts.RetryPeriod = &opts.RetryPeriod
		}
	}
	var (
		coord  *clusterregistry.ShardCoordinator
		mcOpts []mcmanager.Option
		drain  = opts.DrainTimeout * 8 / 10 // in-flight sends may finish within most of the drain
	)
	if opts.Sharding {
		if opts.LeaderElect {
			return nil, errors.New("sharding and leader election exclude each other: with sharding every replica works")
		}
		coord, err = clusterregistry.NewShardCoordinator(clusterregistry.ShardOptions{
			Client: direct, Namespace: opts.Namespace, Identity: opts.ShardIdentity,
			LeaseDuration: opts.ShardLeaseDuration, RenewDeadline: opts.ShardRenewDeadline,
			RetryPeriod: opts.ShardRetryPeriod, DrainTimeout: drain,
			Logger: log.WithName("shard"), Registerer: opts.Metrics,
		})
		if err != nil {
			return nil, err
		}
		mcOpts = append(mcOpts, mcmanager.WithCoordinator(coord))
	}
	mgr, err := mcmanager.New(cfg, registry, mopts, mcOpts...)
	if err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("healthz: %w", err)
	}
	// Readiness does not depend on the platform or the members: a platform outage must not
	// restart or unready the hub (the reference operator restarted during outages).
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("readyz: %w", err)
	}

	kinds := ingest.DefaultKinds
	if opts.CollectSecrets {
		kinds = transport.Kinds[:]
	}
	im := ingest.NewManager(ingest.Options{
		Logger: log.WithName("ingest"), Kinds: kinds, SnapshotConcurrency: opts.SnapshotConcurrency,
		QPS: opts.MemberQPS, Burst: opts.MemberBurst, Metrics: ingest.NewMetrics(opts.Metrics),
		DrainTimeout:         drain,
		EventChannelCapacity: opts.EventChannelCapacity,
	})
	if err := mgr.Add(im); err != nil {
		return nil, fmt.Errorf("add ingest: %w", err)
	}

	tm := transport.NewMetrics(opts.Metrics)
	pool := transport.NewPool(transport.PoolOptions{Metrics: tm, Logger: log.WithName("transport")})
	recOpts := opts.Reconciler
	recOpts.HubNamespace = opts.Namespace
	recOpts.AllowInsecureHTTP = opts.AllowInsecureHTTP
	recOpts.AgentVersion = cmpOr(opts.AgentVersion, recOpts.AgentVersion)
	recOpts.TransportMetrics = tm
	if len(opts.PlatformCABundle) > 0 {
		recOpts.PlatformCABundle = opts.PlatformCABundle
	}
	if opts.OutboxMaxBytes > 0 {
		recOpts.OutboxMaxBytes = opts.OutboxMaxBytes
	}
	if opts.LeaderElect {
		// A send must end before another replica could take the lease over.
		lease := opts.LeaseDuration
		if lease <= 0 {
			lease = 15 * time.Second
		}
		recOpts.EventSendTimeout = capDuration(recOpts.EventSendTimeout, DefaultEventSendTimeout, lease)
		recOpts.HeartbeatTimeout = capDuration(recOpts.HeartbeatTimeout, DefaultHeartbeatTimeout, lease)
		recOpts.RequestTimeout = capDuration(recOpts.RequestTimeout, 30*time.Second, lease)
	}
	recOpts.SourceAddress = opts.SourceAddress
	local := mgr.GetLocalManager()
	var ownership Ownership
	if coord != nil {
		ownership = coord
	}
	rec, err := NewReconciler(ReconcilerDeps{
		Ownership: ownership,
		Client:    local.GetClient(), APIReader: local.GetAPIReader(), Registry: registry,
		Ingest: im, Pool: pool, Local: local, Recorder: local.GetEventRecorder("obsyk-hub"),
		Logger: log.WithName("obsykagent"), Collected: kinds,
	}, recOpts)
	if err != nil {
		return nil, err
	}
	if err := rec.SetupWithManager(local); err != nil {
		return nil, fmt.Errorf("obsykagent controller: %w", err)
	}
	return &Hub{mgr: mgr, pool: pool, Registry: registry, Ingest: im}, nil
}

// Start runs the hub until ctx ends, then drains within the drain timeout and returns; nil
// after a clean stop.
func (h *Hub) Start(ctx context.Context) error {
	defer h.pool.Close()
	if err := h.mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// capDuration returns v (or def when v is zero) capped at limit.
func capDuration(v, def, limit time.Duration) time.Duration {
	if v <= 0 {
		v = def
	}
	return min(v, limit)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
