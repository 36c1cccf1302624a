package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/config"
	"github.com/obsyk/obsyk-hub/controllers"
)

// runManager runs the hub until SIGTERM or SIGINT, then drains and exits 0. A second signal
// exits at once.
func runManager(args []string, stdout, stderr io.Writer) int {
	const name = "obsyk-hub run"
	cfg := config.Default()
	fs := newFlagSet(name)
	cfg.AddFlags(fs)
	if code, done := parseFlags(fs, name, "Run the hub: serve every ObsykAgent of the hub cluster.", args, stdout, stderr); done {
		return code
	}
	if err := config.ApplyEnv(fs, os.LookupEnv); err != nil {
		return usageError(stderr, name, oneLine(err))
	}
	if err := cfg.Validate(); err != nil {
		return usageError(stderr, name, oneLine(err))
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return usageError(stderr, name, err.Error())
	}
	ctrl.SetLogger(log)
	// client-go logs through klog: the same format, the same (capped) verbosity.
	klog.SetLogger(log)
	if _, err := config.ApplyMemoryLimit(cfg, log); err != nil {
		log.Error(err, "memory limit not applied; the Go runtime runs without a soft limit")
	}
	restCfg, err := hubConfig(cfg.HubKubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err))
		return exitError
	}
	restCfg.UserAgent = "obsyk-hub/" + version
	hopts := hubOptions(cfg, log)
	if cfg.PlatformCAFile != "" {
		if hopts.PlatformCABundle, err = os.ReadFile(cfg.PlatformCAFile); err != nil {
			fmt.Fprintf(stderr, "%s: --platform-ca-file: %s\n", name, oneLine(err))
			return exitError
		}
	}

	ctx, stop := signalContext()
	defer stop()
	hub, err := controllers.NewHub(ctx, restCfg, hopts)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err))
		return exitError
	}
	log.Info("hub starting", "version", version, "namespace", cfg.ClusterSecretNamespace, "leaderElection", cfg.LeaderElect)
	if err := hub.Start(ctx); err != nil {
		log.Error(err, "hub stopped with an error")
		return exitError
	}
	log.Info("hub stopped")
	return exitOK
}

// hubOptions maps the configuration to the hub's options.
func hubOptions(cfg config.Config, log logr.Logger) controllers.HubOptions {
	return controllers.HubOptions{
		Namespace:               cfg.ClusterSecretNamespace,
		WatchNamespaces:         cfg.WatchNamespaces,
		MetricsAddr:             cfg.MetricsAddr,
		ProbeAddr:               cfg.ProbeAddr,
		PprofAddr:               cfg.PprofAddr,
		LeaderElect:             cfg.LeaderElect,
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		LeaderElectionID:        cfg.LeaderElectionID,
		LeaseDuration:           cfg.LeaseDuration,
		RenewDeadline:           cfg.RenewDeadline,
		RetryPeriod:             cfg.RetryPeriod,
		DrainTimeout:            cfg.ShutdownDrainTimeout,
		Sharding:                cfg.Sharding,
		ShardIdentity:           cfg.ReplicaIdentity,
		ShardLeaseDuration:      cfg.ShardLeaseDuration,
		ShardRenewDeadline:      cfg.ShardRenewDeadline,
		ShardRetryPeriod:        cfg.ShardRetryPeriod,
		SourceAddress:           cfg.PlatformSourceAddress,
		KubeconfigPolicy: clusterregistry.KubeconfigPolicy{
			AllowExec:         cfg.AllowExecKubeconfigs,
			AllowAuthProvider: cfg.AllowAuthProviderKubeconfigs,
			AllowHubFiles:     cfg.AllowHubFileReferences,
			AllowInsecureTLS:  cfg.AllowInsecureMemberTLS,
		},
		CAPISecrets:          cfg.CAPIKubeconfigSecrets,
		AllowInsecureHTTP:    cfg.AllowInsecurePlatformHTTP,
		CollectSecrets:       cfg.CollectSecrets,
		MemberQPS:            cfg.MemberQPS,
		MemberBurst:          cfg.MemberBurst,
		OutboxMaxBytes:       cfg.OutboxMaxBytes,
		SnapshotConcurrency:  cfg.SnapshotConcurrency,
		EventChannelCapacity: cfg.EventChannelCapacity,
		AgentVersion:         version,
		Logger:               log,
	}
}

// newLogger returns a logr.Logger writing JSON or text lines at the configured verbosity.
func newLogger(cfg config.Config, w io.Writer) (logr.Logger, error) {
	v, err := config.ParseLogLevel(cfg.LogLevel)
	if err != nil {
		return logr.Logger{}, fmt.Errorf("--log-level: %w", err)
	}
	// client-go logs request and response bodies (Secret data among them) at V(8): the hub
	// never goes that far.
	v = min(v, controllers.MaxLogVerbosity)
	opts := &slog.HandlerOptions{Level: slog.Level(-v)} // logr's V(n) is slog level -n
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return logr.FromSlogHandler(h), nil
}

// hubConfig loads the hub cluster's rest config: the file given, else KUBECONFIG or
// ~/.kube/config, else the in-cluster service account.
func hubConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err == nil {
		return cfg, nil
	}
	if path == "" {
		if in, inErr := rest.InClusterConfig(); inErr == nil {
			return in, nil
		}
	}
	if clientcmd.IsEmptyConfig(err) {
		err = errors.New("no kubeconfig found: pass --hub-kubeconfig, set KUBECONFIG, or run in a pod with a service account")
	}
	return nil, fmt.Errorf("hub cluster configuration: %w", err)
}

// signalContext is cancelled by the first SIGTERM or SIGINT; a second one exits at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
			return
		}
		<-ch
		os.Exit(1)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
