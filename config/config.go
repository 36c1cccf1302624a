package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// EnvPrefix starts the name of every environment fallback: flag --cluster-secret-namespace
// falls back to OBSYK_HUB_CLUSTER_SECRET_NAMESPACE (see EnvName).
const EnvPrefix = "OBSYK_HUB_"

// Defaults of Config, as Default returns them.
const (
	DefaultClusterSecretNamespace = "obsyk-system"
	DefaultMetricsAddr            = ":8080"
	DefaultProbeAddr              = ":8081"
	DefaultPprofAddr              = "0"
	DefaultLeaderElectionID       = "obsyk-hub.obsyk.io"
	DefaultLogLevel               = "info"
	DefaultLogFormat              = "json"
	DefaultMemberQPS              = 50
	DefaultMemberBurst            = 100
	DefaultOutboxMaxBytes         = 64 << 20
	DefaultSnapshotConcurrency    = 2
	DefaultEventChannelCapacity   = 1000
	DefaultShutdownDrainTimeout   = 10 * time.Second
	DefaultLeaseDuration          = 15 * time.Second
	DefaultRenewDeadline          = 10 * time.Second
	DefaultRetryPeriod            = 2 * time.Second
	DefaultMemoryLimitRatio       = 0.9
	DefaultShardLeaseDuration     = 20 * time.Second
	DefaultShardRenewDeadline     = 10 * time.Second
	DefaultShardRetryPeriod       = 2 * time.Second
)

// leaderElectionJitter is client-go's leaderelection.JitterFactor: the renew deadline must
// exceed the retry period times this factor.
const leaderElectionJitter = 1.2

// Config is everything `obsyk-hub run` needs. Default returns it with every default filled
// in; AddFlags binds it to flags, ApplyEnv fills what the command line left unset from the
// environment, and Validate rejects what cannot work.
//
// The Allow* fields and CAPIKubeconfigSecrets are security allowances. Each is off by
// default; its comment says what turning it on risks.
type Config struct {
	// HubKubeconfig is the kubeconfig file of the hub cluster itself. Default "": the
	// KUBECONFIG environment variable or ~/.kube/config when present, else the in-cluster
	// service account.
	HubKubeconfig string
	// ClusterSecretNamespace is the hub namespace holding member kubeconfig Secrets (what
	// `obsyk-hub cluster add` writes). Default "obsyk-system".
	ClusterSecretNamespace string
	// WatchNamespaces are the hub namespaces whose ObsykAgents the hub reconciles.
	// Default empty: all namespaces.
	WatchNamespaces []string

	// MetricsAddr is the listen address of the Prometheus /metrics endpoint; "0" disables it.
	// Default ":8080".
	MetricsAddr string
	// ProbeAddr is the listen address of /healthz and /readyz; "0" disables them.
	// Default ":8081".
	ProbeAddr string
	// PprofAddr is the listen address of Go's /debug/pprof/ profiling endpoints; "0"
	// disables them. Default "0" (off): a profile exposes memory contents and costs CPU, so
	// turn it on only while profiling, bound to a loopback address such as "127.0.0.1:8082".
	PprofAddr string

	// LeaderElect makes the hub take a Lease before it reconciles, so that only one replica is
	// active. Default false (the Helm chart turns it on).
	LeaderElect bool
	// Sharding spreads member clusters over every replica running with it: each cluster is
	// streamed by exactly one live replica, fenced by a Lease per cluster in the cluster
	// Secret namespace. Excludes LeaderElect. Default false.
	Sharding bool
	// ReplicaIdentity names this replica in shard Leases and ObsykAgent status. Default:
	// the host name (the pod name) plus a random suffix.
	ReplicaIdentity string
	// ShardLeaseDuration, ShardRenewDeadline and ShardRetryPeriod time the shard Leases: a
	// dead replica's clusters move after about ShardLeaseDuration; a replica that could not
	// renew for ShardRenewDeadline stops streaming. Defaults 20s, 10s, 2s.
	ShardLeaseDuration, ShardRenewDeadline, ShardRetryPeriod time.Duration
	// PlatformSourceAddress is the local IP of platform connections (multi-homed hosts).
	// Default: the system's choice.
	PlatformSourceAddress string
	// LeaderElectionNamespace is the namespace of the Lease. Default "": the namespace the hub
	// runs in (required when leader election is on outside a cluster).
	LeaderElectionNamespace string
	// LeaderElectionID is the Lease's name. Default "obsyk-hub.obsyk.io".
	LeaderElectionID string
	// LeaseDuration is how long a non-leader waits before it takes over an un-renewed Lease.
	// Default 15s.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps retrying to renew before it gives up
	// leadership; shorter than LeaseDuration. Default 10s.
	RenewDeadline time.Duration
	// RetryPeriod is the interval between attempts to take or renew the Lease. Default 2s.
	RetryPeriod time.Duration
	// ShutdownDrainTimeout bounds how long a stopping hub keeps delivering queued changes
	// before it exits. It must be shorter than LeaseDuration, so that a successor never runs
	// while the old leader is still sending. Default 10s.
	ShutdownDrainTimeout time.Duration

	// LogLevel is "error", "info", "debug" or a verbosity number (0 = info, 1 = debug, higher
	// is more detailed). Default "info".
	LogLevel string
	// LogFormat is "json" or "text". Default "json".
	LogFormat string

	// AllowExecKubeconfigs accepts member kubeconfigs with exec credential plugins. Risk:
	// whoever can write a kubeconfig Secret in ClusterSecretNamespace can make the hub run any
	// program in its container. Default false.
	AllowExecKubeconfigs bool
	// AllowAuthProviderKubeconfigs accepts member kubeconfigs with auth-provider plugins
	// (legacy gcp/azure/oidc). Risk: plugin code runs in the hub and may read its files or
	// cloud metadata credentials. Default false.
	AllowAuthProviderKubeconfigs bool
	// AllowHubFileReferences accepts member kubeconfigs naming files (tokenFile,
	// client-certificate, client-key, certificate-authority). Risk: a Secret writer can point
	// the hub at its own files, such as its ServiceAccount token, and have them sent to a
	// server of their choice. Default false.
	AllowHubFileReferences bool
	// AllowInsecureMemberTLS accepts member kubeconfigs that disable TLS verification or use
	// plain http. Risk: anyone on the network path can impersonate the member API server and
	// capture the member token. Default false.
	AllowInsecureMemberTLS bool
	// AllowInsecurePlatformHTTP accepts http:// platform URLs in ObsykAgents. Risk: platform
	// tokens and cluster metadata travel in clear text. Only for tests and the local demo.
	// Default false.
	AllowInsecurePlatformHTTP bool
	// CAPIKubeconfigSecrets also reads Cluster API kubeconfig Secrets ("<cluster>-kubeconfig",
	// type cluster.x-k8s.io/secret) in ClusterSecretNamespace. Risk: those kubeconfigs are
	// usually cluster-admin, so the hub holds admin credentials of those members instead of
	// the read-only identity `cluster add` creates. Default false.
	CAPIKubeconfigSecrets bool

	// MemberQPS is the client-side request rate limit of each member client. Default 50.
	MemberQPS float32
	// MemberBurst is the client-side burst of each member client; at least MemberQPS.
	// Default 100.
	MemberBurst int
	// OutboxMaxBytes bounds the memory of each ObsykAgent's outbox; beyond it the agent is
	// resynced with a snapshot. Flags and environment accept quantities such as "64Mi".
	// Default 64Mi.
	OutboxMaxBytes int64
	// SnapshotConcurrency caps how many snapshots the whole hub sends at once. Default 2.
	SnapshotConcurrency int
	// EventChannelCapacity is the buffer of each member cluster's event channel. Default 1000.
	EventChannelCapacity int
	// PlatformCAFile is a PEM file of CA certificates trusted for platform URLs in addition
	// to the system roots (a platform behind a private CA). Default none.
	PlatformCAFile string
	// CollectSecrets collects Secret key names (never values) from members, for agents
	// that list Secret in spec.kinds. It needs cluster-wide Secret read in every member
	// (`obsyk-hub cluster add --collect-secrets`), the keys to every ServiceAccount token
	// there. Default false.
	CollectSecrets bool
	// MemoryLimitRatio is the share of the container memory limit given to the Go runtime
	// as its soft limit when GOMEMLIMIT is not set (see ApplyMemoryLimit); in (0, 1].
	// Default 0.9.
	MemoryLimitRatio float64
}

// Default returns a Config with every default filled in.
func Default() Config {
	return Config{
		ClusterSecretNamespace: DefaultClusterSecretNamespace,
		MetricsAddr:            DefaultMetricsAddr,
		ProbeAddr:              DefaultProbeAddr,
		PprofAddr:              DefaultPprofAddr,
		LeaderElectionID:       DefaultLeaderElectionID,
		LeaseDuration:          DefaultLeaseDuration,
		RenewDeadline:          DefaultRenewDeadline,
		RetryPeriod:            DefaultRetryPeriod,
		ShutdownDrainTimeout:   DefaultShutdownDrainTimeout,
		ShardLeaseDuration:     DefaultShardLeaseDuration,
		ShardRenewDeadline:     DefaultShardRenewDeadline,
		ShardRetryPeriod:       DefaultShardRetryPeriod,
		LogLevel:               DefaultLogLevel,
		LogFormat:              DefaultLogFormat,
		MemberQPS:              DefaultMemberQPS,
		MemberBurst:            DefaultMemberBurst,
		OutboxMaxBytes:         DefaultOutboxMaxBytes,
		SnapshotConcurrency:    DefaultSnapshotConcurrency,
		EventChannelCapacity:   DefaultEventChannelCapacity,
		MemoryLimitRatio:       DefaultMemoryLimitRatio,
	}
}

// AddFlags binds every field of c to a flag of fs; the flags' defaults are c's current
// values, so call it on Default(). Each flag's environment fallback is EnvName(flag name),
// applied by ApplyEnv after fs.Parse.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.HubKubeconfig, "hub-kubeconfig", c.HubKubeconfig,
		"kubeconfig file of the hub cluster; empty uses KUBECONFIG, ~/.kube/config or the in-cluster service account")
	fs.StringVar(&c.ClusterSecretNamespace, "cluster-secret-namespace", c.ClusterSecretNamespace,
		"hub namespace of the member kubeconfig Secrets")
	fs.StringSliceVar(&c.WatchNamespaces, "watch-namespaces", c.WatchNamespaces,
		"comma-separated namespaces whose ObsykAgents are reconciled; empty means all")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr,
		`listen address of /metrics; "0" disables it`)
	fs.StringVar(&c.ProbeAddr, "probe-addr", c.ProbeAddr,
		`listen address of /healthz and /readyz; "0" disables them`)
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr,
		`listen address of /debug/pprof/ (profiling; bind it to loopback); "0" disables it`)
	fs.BoolVar(&c.LeaderElect, "leader-elect", c.LeaderElect,
		"take a Lease before reconciling, so that one replica is active")
	fs.StringVar(&c.LeaderElectionNamespace, "leader-election-namespace", c.LeaderElectionNamespace,
		"namespace of the leader election Lease; empty means the hub's own namespace")
	fs.StringVar(&c.LeaderElectionID, "leader-election-id", c.LeaderElectionID,
		"name of the leader election Lease")
	fs.DurationVar(&c.LeaseDuration, "lease-duration", c.LeaseDuration,
		"how long a candidate waits before taking over an un-renewed Lease")
	fs.BoolVar(&c.Sharding, "sharding", c.Sharding,
		"spread member clusters over every replica running with --sharding (Leases per cluster); excludes --leader-elect")
	fs.StringVar(&c.ReplicaIdentity, "replica-identity", c.ReplicaIdentity,
		"name of this replica in shard Leases and ObsykAgent status; empty: host name plus a random suffix")
	fs.DurationVar(&c.ShardLeaseDuration, "shard-lease-duration", c.ShardLeaseDuration,
		"how long a shard Lease not renewed keeps its holder: a dead replica's clusters move after about this long")
	fs.DurationVar(&c.ShardRenewDeadline, "shard-renew-deadline", c.ShardRenewDeadline,
		"a replica that could not renew a cluster's Lease for this long stops streaming it")
	fs.DurationVar(&c.ShardRetryPeriod, "shard-retry-period", c.ShardRetryPeriod,
		"period of shard Lease renewals and assignment decisions")
	fs.StringVar(&c.PlatformSourceAddress, "platform-source-address", c.PlatformSourceAddress,
		"local IP address platform connections are made from; empty: the system's choice")
	fs.DurationVar(&c.RenewDeadline, "renew-deadline", c.RenewDeadline,
		"how long the leader retries renewing before it gives up leadership")
	fs.DurationVar(&c.RetryPeriod, "retry-period", c.RetryPeriod,
		"interval between attempts to take or renew the Lease")
	fs.DurationVar(&c.ShutdownDrainTimeout, "shutdown-drain-timeout", c.ShutdownDrainTimeout,
		"how long a stopping hub keeps delivering queued changes; shorter than --lease-duration")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel,
		"error, info, debug, or a verbosity number (0 = info, 1 = debug, more is more detailed)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or text")
	fs.BoolVar(&c.AllowExecKubeconfigs, "allow-exec-kubeconfigs", c.AllowExecKubeconfigs,
		"RISK: accept member kubeconfigs with exec plugins, letting Secret writers run programs in the hub")
	fs.BoolVar(&c.AllowAuthProviderKubeconfigs, "allow-auth-provider-kubeconfigs", c.AllowAuthProviderKubeconfigs,
		"RISK: accept member kubeconfigs with auth-provider plugins")
	fs.BoolVar(&c.AllowHubFileReferences, "allow-hub-file-references", c.AllowHubFileReferences,
		"RISK: accept member kubeconfigs that name files, letting Secret writers make the hub read its own files")
	fs.BoolVar(&c.AllowInsecureMemberTLS, "allow-insecure-member-tls", c.AllowInsecureMemberTLS,
		"RISK: accept member kubeconfigs that disable TLS verification or use plain http")
	fs.BoolVar(&c.AllowInsecurePlatformHTTP, "allow-insecure-platform-http", c.AllowInsecurePlatformHTTP,
		"RISK: accept http:// platform URLs (tests and local demos only)")
	fs.BoolVar(&c.CAPIKubeconfigSecrets, "capi-kubeconfig-secrets", c.CAPIKubeconfigSecrets,
		"RISK: also read Cluster API kubeconfig Secrets, which usually hold cluster-admin credentials")
	fs.Float32Var(&c.MemberQPS, "member-qps", c.MemberQPS, "request rate limit of each member client")
	fs.IntVar(&c.MemberBurst, "member-burst", c.MemberBurst, "request burst of each member client; at least --member-qps")
	fs.Var(&byteQuantity{v: &c.OutboxMaxBytes}, "outbox-max-bytes",
		`memory bound of each ObsykAgent's outbox, a quantity such as "64Mi" or a byte count`)
	fs.IntVar(&c.SnapshotConcurrency, "snapshot-concurrency", c.SnapshotConcurrency,
		"how many snapshots the hub sends at once")
	fs.IntVar(&c.EventChannelCapacity, "event-channel-capacity", c.EventChannelCapacity,
		"buffer of each member cluster's event channel")
	fs.StringVar(&c.PlatformCAFile, "platform-ca-file", c.PlatformCAFile,
		"PEM file of CA certificates trusted for platform URLs besides the system roots")
	fs.BoolVar(&c.CollectSecrets, "collect-secrets", c.CollectSecrets,
		"collect Secret key names (never values) for agents that list Secret; needs cluster-wide Secret read in members")
	fs.Float64Var(&c.MemoryLimitRatio, "memory-limit-ratio", c.MemoryLimitRatio,
		"share of the container memory limit used as GOMEMLIMIT when GOMEMLIMIT is not set")
}

// EnvName returns the environment variable that ApplyEnv reads for a flag: EnvPrefix
// followed by the flag name in upper case with dashes as underscores, e.g. "member-qps" →
// "OBSYK_HUB_MEMBER_QPS" and "hub-kubeconfig" → "OBSYK_HUB_HUB_KUBECONFIG".
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ApplyEnv sets each flag of fs that the command line did not set from its environment
// variable (EnvName), when lookup finds one; a flag given on the command line always wins.
// Call it after fs.Parse; lookup is os.LookupEnv outside tests. A value the flag does not
// accept is an error naming the variable; all such errors are returned together.
func ApplyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := EnvName(f.Name)
		value, ok := lookup(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, value); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s=%q (flag --%s): %w", name, value, f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// Validate returns every problem of c at once, each naming its flag, or nil.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := dnsLabel(c.ClusterSecretNamespace); err != nil {
		add("--cluster-secret-namespace: %w", err)
	}
	for _, ns := range c.WatchNamespaces {
		if err := dnsLabel(ns); err != nil {
			add("--watch-namespaces: %w", err)
		}
	}
	if err := listenAddr(c.MetricsAddr); err != nil {
		add("--metrics-addr: %w", err)
	}
	if err := listenAddr(c.ProbeAddr); err != nil {
		add("--probe-addr: %w", err)
	}
	if err := listenAddr(c.PprofAddr); err != nil {
		add("--pprof-addr: %w", err)
	}
	listeners := []struct{ flag, addr string }{
		{"--metrics-addr", c.MetricsAddr}, {"--probe-addr", c.ProbeAddr}, {"--pprof-addr", c.PprofAddr},
	}
	for i, a := range listeners {
		for _, b := range listeners[i+1:] {
			if sameListener(a.addr, b.addr) {
				add("%s (%q) and %s (%q) would listen on the same port; give them different ports", a.flag, a.addr, b.flag, b.addr)
			}
		}
	}

	if c.LeaderElectionNamespace != "" {
		if err := dnsLabel(c.LeaderElectionNamespace); err != nil {
			add("--leader-election-namespace: %w", err)
		}
	}
	if errs := validation.IsDNS1123Subdomain(c.LeaderElectionID); len(errs) > 0 {
		add("--leader-election-id: %q is not a valid Lease name: %s", c.LeaderElectionID, strings.Join(errs, "; "))
	}
	positive := []struct {
		flag string
		d    time.Duration
	}{
		{"--lease-duration", c.LeaseDuration},
		{"--renew-deadline", c.RenewDeadline},
		{"--retry-period", c.RetryPeriod},
		{"--shutdown-drain-timeout", c.ShutdownDrainTimeout},
	}
	allPositive := true
	for _, p := range positive {
		if p.d <= 0 {
			add("%s must be positive, got %s", p.flag, p.d)
			allPositive = false
		}
	}
	if allPositive {
		if c.RenewDeadline >= c.LeaseDuration {
			add("--renew-deadline (%s) must be shorter than --lease-duration (%s)", c.RenewDeadline, c.LeaseDuration)
		}
		if float64(c.RenewDeadline) <= leaderElectionJitter*float64(c.RetryPeriod) {
			add("--renew-deadline (%s) must be longer than %.1f × --retry-period (%s)", c.RenewDeadline, leaderElectionJitter, c.RetryPeriod)
		}
		if c.ShutdownDrainTimeout >= c.LeaseDuration {
			add("--shutdown-drain-timeout (%s) must be shorter than --lease-duration (%s), or a new leader may start while this one still sends",
				c.ShutdownDrainTimeout, c.LeaseDuration)
		}
	}

	if c.Sharding {
		if c.LeaderElect {
			add("--sharding and --leader-elect exclude each other: with sharding every replica works, each on its own clusters")
		}
		drain := c.ShutdownDrainTimeout * 8 / 10 // the part of the drain sends may use
		switch {
		case c.ShardRetryPeriod <= 0 || c.ShardRenewDeadline <= 0 || c.ShardLeaseDuration <= 0:
			add("--shard-lease-duration, --shard-renew-deadline and --shard-retry-period must be positive")
		case c.ShardRetryPeriod >= c.ShardRenewDeadline:
			add("--shard-retry-period (%s) must be shorter than --shard-renew-deadline (%s)", c.ShardRetryPeriod, c.ShardRenewDeadline)
		case c.ShardRenewDeadline+drain >= c.ShardLeaseDuration:
			add("--shard-renew-deadline (%s) plus 80%% of --shutdown-drain-timeout (%s) must be shorter than --shard-lease-duration (%s), or two replicas could send for one cluster",
				c.ShardRenewDeadline, drain, c.ShardLeaseDuration)
		}
	}
	if c.PlatformSourceAddress != "" && net.ParseIP(c.PlatformSourceAddress) == nil {
		add("--platform-source-address: %q is not an IP address", c.PlatformSourceAddress)
	}

	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		add("--log-level: %w", err)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		add("--log-format: unknown format %q; use json or text", c.LogFormat)
	}

	if c.MemberQPS <= 0 {
		add("--member-qps must be positive, got %g", c.MemberQPS)
	}
	if c.MemberBurst <= 0 {
		add("--member-burst must be positive, got %d", c.MemberBurst)
	} else if c.MemberQPS > 0 && float32(c.MemberBurst) < c.MemberQPS {
		add("--member-burst (%d) must be at least --member-qps (%g)", c.MemberBurst, c.MemberQPS)
	}
	if c.OutboxMaxBytes <= 0 {
		add("--outbox-max-bytes must be positive, got %d", c.OutboxMaxBytes)
	}
	if c.SnapshotConcurrency <= 0 {
		add("--snapshot-concurrency must be positive, got %d", c.SnapshotConcurrency)
	}
	if c.EventChannelCapacity <= 0 {
		add("--event-channel-capacity must be positive, got %d", c.EventChannelCapacity)
	}
	if !(c.MemoryLimitRatio > 0 && c.MemoryLimitRatio <= 1) {
		add("--memory-limit-ratio must be in (0, 1], got %g", c.MemoryLimitRatio)
	}

	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

// ParseLogLevel turns a LogLevel into a logr verbosity: "error" is -1 (errors only), "info"
// is 0, "debug" is 1, and a number n ≥ 0 is n.
func ParseLogLevel(level string) (int, error) {
	switch strings.ToLower(level) {
	case "error":
		return -1, nil
	case "info":
		return 0, nil
	case "debug":
		return 1, nil
	}
	n, err := strconv.Atoi(level)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("unknown level %q; use error, info, debug or a verbosity number ≥ 0", level)
	}
	return n, nil
}

func dnsLabel(ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid namespace: %s", ns, strings.Join(errs, "; "))
	}
	return nil
}

// listenAddr accepts "0" (disabled) or host:port with a numeric port.
func listenAddr(addr string) error {
	if addr == "0" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (or \"0\" to disable): %w", addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" {
		return fmt.Errorf("%q has an invalid port %q", addr, port)
	} else if n == 0 {
		return fmt.Errorf("%q has port 0; give a fixed port, or \"0\" alone to disable", addr)
	}
	return nil
}

// sameListener reports whether two valid listen addresses would bind the same port: the
// same port on the same host, or on a wildcard host.
func sameListener(a, b string) bool {
	if a == "0" || b == "0" {
		return false
	}
	hostA, portA, errA := net.SplitHostPort(a)
	hostB, portB, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || portA != portB {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return hostA == hostB || wildcard(hostA) || wildcard(hostB)
}

// byteQuantity is a pflag.Value of a byte count written as a Kubernetes quantity.
type byteQuantity struct{ v *int64 }

func (q *byteQuantity) String() string {
	if q.v == nil {
		return "0"
	}
	return resource.NewQuantity(*q.v, resource.BinarySI).String()
}

func (q *byteQuantity) Set(s string) error {
	parsed, err := resource.ParseQuantity(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a quantity such as 64Mi or 67108864", s)
	}
	n, ok := parsed.AsInt64()
	if !ok {
		return fmt.Errorf("%q is not a whole number of bytes", s)
	}
	*q.v = n
	return nil
}

func (q *byteQuantity) Type() string { return "quantity" }
