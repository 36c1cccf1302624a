package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/spf13/pflag"

	"github.com/obsyk/obsyk-hub/config"
)

// parse binds a Default Config to a fresh flag set, parses args and applies env.
func parse(args []string, env map[string]string) (config.Config, error) {
	cfg := config.Default()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	err := config.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return cfg, err
}

func TestDefaults(t *testing.T) {
	g := NewWithT(t)
	cfg, err := parse(nil, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg).To(Equal(config.Default()))
	g.Expect(cfg).To(Equal(config.Config{
		ClusterSecretNamespace: "obsyk-system",
		MetricsAddr:            ":8080",
		ProbeAddr:              ":8081",
		PprofAddr:              "0",
		LeaderElectionID:       "obsyk-hub.obsyk.io",
		LeaseDuration:          15 * time.Second,
		RenewDeadline:          10 * time.Second,
		RetryPeriod:            2 * time.Second,
		ShutdownDrainTimeout:   10 * time.Second,
		LogLevel:               "info",
		LogFormat:              "json",
		MemberQPS:              50,
		MemberBurst:            100,
		OutboxMaxBytes:         64 << 20,
		SnapshotConcurrency:    2,
		EventChannelCapacity:   1000,
		MemoryLimitRatio:       0.9,
		ShardLeaseDuration:     20 * time.Second,
		ShardRenewDeadline:     10 * time.Second,
		ShardRetryPeriod:       2 * time.Second,
	}))
	g.Expect(cfg.Validate()).To(Succeed())
	g.Expect(cfg.AllowExecKubeconfigs || cfg.AllowAuthProviderKubeconfigs || cfg.AllowHubFileReferences ||
		cfg.AllowInsecureMemberTLS || cfg.AllowInsecurePlatformHTTP || cfg.CAPIKubeconfigSecrets).To(BeFalse(),
		"every security allowance is off by default")
}

func TestEveryFlagHasAnEnvironmentFallback(t *testing.T) {
	g := NewWithT(t)
	cfg := config.Default()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	count := 0
	fs.VisitAll(func(f *pflag.Flag) {
		count++
		g.Expect(config.EnvName(f.Name)).To(MatchRegexp(`^OBSYK_HUB_[A-Z0-9_]+$`), f.Name)
	})
	g.Expect(count).To(Equal(reflect.TypeFor[config.Config]().NumField()), "one flag per field")
	g.Expect(config.EnvName("cluster-secret-namespace")).To(Equal("OBSYK_HUB_CLUSTER_SECRET_NAMESPACE"))
	g.Expect(config.EnvName("hub-kubeconfig")).To(Equal("OBSYK_HUB_HUB_KUBECONFIG"))
}

func TestFlagsAndEnvironment(t *testing.T) {
	all := []string{
		"--hub-kubeconfig=/etc/hub/kubeconfig",
		"--cluster-secret-namespace=fleet",
		"--watch-namespaces=team-a,team-b",
		"--metrics-addr=127.0.0.1:9090",
		"--probe-addr=:9091",
		"--sharding",
		"--replica-identity=hub-0",
		"--shard-lease-duration=45s",
		"--shard-renew-deadline=20s",
		"--shard-retry-period=3s",
		"--platform-source-address=127.0.0.2",
		"--platform-ca-file=/etc/obsyk/ca.pem",
		"--collect-secrets",
		"--pprof-addr=127.0.0.1:9092",
		"--leader-election-namespace=hub-system",
		"--leader-election-id=hub-lease",
		"--lease-duration=30s",
		"--renew-deadline=20s",
		"--retry-period=4s",
		"--shutdown-drain-timeout=25s",
		"--log-level=debug",
		"--log-format=text",
		"--allow-exec-kubeconfigs",
		"--allow-auth-provider-kubeconfigs",
		"--allow-hub-file-references",
		"--allow-insecure-member-tls",
		"--allow-insecure-platform-http",
		"--capi-kubeconfig-secrets",
		"--member-qps=20.5",
		"--member-burst=40",
		"--outbox-max-bytes=128Mi",
		"--snapshot-concurrency=4",
		"--event-channel-capacity=5000",
		"--memory-limit-ratio=0.75",
	}
	want := config.Config{
		HubKubeconfig:                "/etc/hub/kubeconfig",
		ClusterSecretNamespace:       "fleet",
		WatchNamespaces:              []string{"team-a", "team-b"},
		MetricsAddr:                  "127.0.0.1:9090",
		ProbeAddr:                    ":9091",
		Sharding:                     true,
		ReplicaIdentity:              "hub-0",
		ShardLeaseDuration:           45 * time.Second,
		ShardRenewDeadline:           20 * time.Second,
		ShardRetryPeriod:             3 * time.Second,
		PlatformSourceAddress:        "127.0.0.2",
		PlatformCAFile:               "/etc/obsyk/ca.pem",
		CollectSecrets:               true,
		PprofAddr:                    "127.0.0.1:9092",
		LeaderElectionNamespace:      "hub-system",
		LeaderElectionID:             "hub-lease",
		LeaseDuration:                30 * time.Second,
		RenewDeadline:                20 * time.Second,
		RetryPeriod:                  4 * time.Second,
		ShutdownDrainTimeout:         25 * time.Second,
		LogLevel:                     "debug",
		LogFormat:                    "text",
		AllowExecKubeconfigs:         true,
		AllowAuthProviderKubeconfigs: true,
		AllowHubFileReferences:       true,
		AllowInsecureMemberTLS:       true,
		AllowInsecurePlatformHTTP:    true,
		CAPIKubeconfigSecrets:        true,
		MemberQPS:                    20.5,
		MemberBurst:                  40,
		OutboxMaxBytes:               128 << 20,
		SnapshotConcurrency:          4,
		EventChannelCapacity:         5000,
		MemoryLimitRatio:             0.75,
	}
	// The same settings, as environment variables.
	allEnv := map[string]string{}
	for _, arg := range all {
		name, value, found := cutFlag(arg)
		if !found {
			value = "true"
		}
		allEnv[config.EnvName(name)] = value
	}

	cases := []struct {
		name string
		args []string
		env  map[string]string
		want func() config.Config
	}{
		{
			name: "every flag sets its field",
			args: all,
			want: func() config.Config { return want },
		},
		{
			name: "every environment variable sets its field when no flag is given",
			env:  allEnv,
			want: func() config.Config { return want },
		},
		{
			name: "a flag beats its environment variable",
			args: []string{"--member-qps=7", "--watch-namespaces=flag-ns"},
			env:  map[string]string{"OBSYK_HUB_MEMBER_QPS": "9", "OBSYK_HUB_WATCH_NAMESPACES": "env-ns", "OBSYK_HUB_MEMBER_BURST": "11"},
			want: func() config.Config {
				c := config.Default()
				c.MemberQPS = 7
				c.MemberBurst = 11
				c.WatchNamespaces = []string{"flag-ns"}
				return c
			},
		},
		{
			name: "an environment variable turns a security allowance on",
			env:  map[string]string{"OBSYK_HUB_ALLOW_INSECURE_PLATFORM_HTTP": "true"},
			want: func() config.Config {
				c := config.Default()
				c.AllowInsecurePlatformHTTP = true
				return c
			},
		},
		{
			name: "--leader-elect turns leader election on",
			args: []string{"--leader-elect"},
			want: func() config.Config {
				c := config.Default()
				c.LeaderElect = true
				return c
			},
		},
		{
			name: "an explicit false flag beats a true environment variable",
			args: []string{"--leader-elect=false"},
			env:  map[string]string{"OBSYK_HUB_LEADER_ELECT": "true"},
			want: config.Default,
		},
		{
			name: "the outbox budget accepts a plain byte count",
			args: []string{"--outbox-max-bytes=1000000"},
			want: func() config.Config {
				c := config.Default()
				c.OutboxMaxBytes = 1000000
				return c
			},
		},
		{
			name: "variables of other programs are ignored",
			env:  map[string]string{"OBSYK_HUB": "x", "MEMBER_QPS": "1", "OBSYK_HUB_NO_SUCH_FLAG": "1"},
			want: config.Default,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cfg, err := parse(tc.args, tc.env)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg).To(Equal(tc.want()))
			g.Expect(cfg.Validate()).To(Succeed())
		})
	}
}

func cutFlag(arg string) (name, value string, found bool) {
	arg = arg[2:]
	for i := range len(arg) {
		if arg[i] == '=' {
			return arg[:i], arg[i+1:], true
		}
	}
	return arg, "", false
}

func TestInvalidInputIsAClearError(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string
	}{
		{
			name:    "an invalid environment value names the variable",
			env:     map[string]string{"OBSYK_HUB_MEMBER_BURST": "lots"},
			wantErr: []string{"OBSYK_HUB_MEMBER_BURST", `"lots"`, "--member-burst"},
		},
		{
			name:    "an invalid environment duration names the variable",
			env:     map[string]string{"OBSYK_HUB_LEASE_DURATION": "15"},
			wantErr: []string{"OBSYK_HUB_LEASE_DURATION"},
		},
		{
			name:    "every invalid environment value is reported together",
			env:     map[string]string{"OBSYK_HUB_LEADER_ELECT": "maybe", "OBSYK_HUB_OUTBOX_MAX_BYTES": "lots"},
			wantErr: []string{"OBSYK_HUB_LEADER_ELECT", "OBSYK_HUB_OUTBOX_MAX_BYTES", "quantity"},
		},
		{
			name:    "an outbox budget that is not a quantity is refused",
			args:    []string{"--outbox-max-bytes=64MB"},
			wantErr: []string{"outbox-max-bytes", "64MB"},
		},
		{
			name:    "a fractional byte count is refused",
			args:    []string{"--outbox-max-bytes=0.5"},
			wantErr: []string{"whole number of bytes"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := parse(tc.args, tc.env)
			g.Expect(err).To(HaveOccurred())
			for _, want := range tc.wantErr {
				g.Expect(err.Error()).To(ContainSubstring(want))
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*config.Config)
		wantErr []string
	}{
		{name: "an invalid cluster secret namespace is refused", mutate: func(c *config.Config) { c.ClusterSecretNamespace = "Obsyk_System" },
			wantErr: []string{"--cluster-secret-namespace", `"Obsyk_System"`}},
		{name: "an empty cluster secret namespace is refused", mutate: func(c *config.Config) { c.ClusterSecretNamespace = "" },
			wantErr: []string{"--cluster-secret-namespace"}},
		{name: "an invalid watched namespace is refused", mutate: func(c *config.Config) { c.WatchNamespaces = []string{"ok", "not ok"} },
			wantErr: []string{"--watch-namespaces", `"not ok"`}},
		{name: "a metrics address without a port is refused", mutate: func(c *config.Config) { c.MetricsAddr = "localhost" },
			wantErr: []string{"--metrics-addr", `"localhost"`}},
		{name: "a probe address with a named port is refused", mutate: func(c *config.Config) { c.ProbeAddr = ":http" },
			wantErr: []string{"--probe-addr", "invalid port"}},
		{name: "a probe address with port zero is refused", mutate: func(c *config.Config) { c.ProbeAddr = ":0" },
			wantErr: []string{"--probe-addr", "port 0"}},
		{name: "an out of range port is refused", mutate: func(c *config.Config) { c.MetricsAddr = ":70000" },
			wantErr: []string{"--metrics-addr", "invalid port"}},
		{name: "metrics and probes on the same address are refused", mutate: func(c *config.Config) { c.ProbeAddr = ":8080" },
			wantErr: []string{`--metrics-addr (":8080") and --probe-addr (":8080") would listen on the same port`}},
		{name: "a pprof address without a port is refused", mutate: func(c *config.Config) { c.PprofAddr = "localhost" },
			wantErr: []string{"--pprof-addr", `"localhost"`}},
		{name: "pprof on the metrics port is refused", mutate: func(c *config.Config) { c.PprofAddr = "127.0.0.1:8080" },
			wantErr: []string{`--metrics-addr (":8080") and --pprof-addr ("127.0.0.1:8080") would listen on the same port`}},
		{name: "metrics on a wildcard host and probes on the same port of one address are refused", mutate: func(c *config.Config) { c.ProbeAddr = "127.0.0.1:8080" },
			wantErr: []string{"would listen on the same port"}},
		{name: "an invalid leader election namespace is refused", mutate: func(c *config.Config) { c.LeaderElectionNamespace = "-x" },
			wantErr: []string{"--leader-election-namespace"}},
		{name: "an invalid lease name is refused", mutate: func(c *config.Config) { c.LeaderElectionID = "" },
			wantErr: []string{"--leader-election-id"}},
		{name: "sharding with leader election is refused", mutate: func(c *config.Config) { c.Sharding, c.LeaderElect = true, true },
			wantErr: []string{"--sharding and --leader-elect exclude each other"}},
		{name: "a shard lease that could be taken over while sends still run is refused",
			mutate:  func(c *config.Config) { c.Sharding, c.ShardLeaseDuration = true, 15*time.Second },
			wantErr: []string{"--shard-renew-deadline (10s) plus 80% of --shutdown-drain-timeout (8s) must be shorter than --shard-lease-duration (15s)"}},
		{name: "a shard retry period not shorter than the renew deadline is refused",
			mutate:  func(c *config.Config) { c.Sharding, c.ShardRetryPeriod = true, 10*time.Second },
			wantErr: []string{"--shard-retry-period (10s) must be shorter"}},
		{name: "a source address that is not an IP is refused", mutate: func(c *config.Config) { c.PlatformSourceAddress = "eth0" },
			wantErr: []string{"--platform-source-address", `"eth0"`}},
		{name: "a zero lease duration is refused", mutate: func(c *config.Config) { c.LeaseDuration = 0 },
			wantErr: []string{"--lease-duration must be positive"}},
		{name: "a negative retry period is refused", mutate: func(c *config.Config) { c.RetryPeriod = -time.Second },
			wantErr: []string{"--retry-period must be positive"}},
		{name: "a zero shutdown drain timeout is refused", mutate: func(c *config.Config) { c.ShutdownDrainTimeout = 0 },
			wantErr: []string{"--shutdown-drain-timeout must be positive"}},
		{name: "a renew deadline as long as the lease is refused", mutate: func(c *config.Config) { c.RenewDeadline = 15 * time.Second; c.ShutdownDrainTimeout = 5 * time.Second },
			wantErr: []string{"--renew-deadline (15s) must be shorter than --lease-duration (15s)"}},
		{name: "a retry period too close to the renew deadline is refused", mutate: func(c *config.Config) { c.RetryPeriod = 9 * time.Second },
			wantErr: []string{"--renew-deadline (10s) must be longer than 1.2 × --retry-period (9s)"}},
		{name: "a drain timeout as long as the lease is refused", mutate: func(c *config.Config) { c.ShutdownDrainTimeout = 15 * time.Second },
			wantErr: []string{"--shutdown-drain-timeout (15s) must be shorter than --lease-duration (15s)"}},
		{name: "an unknown log level is refused", mutate: func(c *config.Config) { c.LogLevel = "verbose" },
			wantErr: []string{"--log-level", `"verbose"`}},
		{name: "a negative log verbosity is refused", mutate: func(c *config.Config) { c.LogLevel = "-2" },
			wantErr: []string{"--log-level"}},
		{name: "an unknown log format is refused", mutate: func(c *config.Config) { c.LogFormat = "logfmt" },
			wantErr: []string{"--log-format", `"logfmt"`}},
		{name: "a zero member qps is refused", mutate: func(c *config.Config) { c.MemberQPS = 0 },
			wantErr: []string{"--member-qps must be positive"}},
		{name: "a negative member burst is refused", mutate: func(c *config.Config) { c.MemberBurst = -1 },
			wantErr: []string{"--member-burst must be positive"}},
		{name: "a burst below the qps is refused", mutate: func(c *config.Config) { c.MemberBurst = 10 },
			wantErr: []string{"--member-burst (10) must be at least --member-qps (50)"}},
		{name: "a zero outbox budget is refused", mutate: func(c *config.Config) { c.OutboxMaxBytes = 0 },
			wantErr: []string{"--outbox-max-bytes must be positive"}},
		{name: "a zero snapshot concurrency is refused", mutate: func(c *config.Config) { c.SnapshotConcurrency = 0 },
			wantErr: []string{"--snapshot-concurrency must be positive"}},
		{name: "a negative event channel capacity is refused", mutate: func(c *config.Config) { c.EventChannelCapacity = -5 },
			wantErr: []string{"--event-channel-capacity must be positive"}},
		{name: "a memory limit ratio above one is refused", mutate: func(c *config.Config) { c.MemoryLimitRatio = 1.5 },
			wantErr: []string{"--memory-limit-ratio must be in (0, 1]"}},
		{name: "a zero memory limit ratio is refused", mutate: func(c *config.Config) { c.MemoryLimitRatio = 0 },
			wantErr: []string{"--memory-limit-ratio"}},
		{name: "every problem is reported at once", mutate: func(c *config.Config) { c.LogFormat = "xml"; c.MemberQPS = -1; c.MetricsAddr = "nope" },
			wantErr: []string{"--log-format", "--member-qps", "--metrics-addr"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cfg := config.Default()
			tc.mutate(&cfg)
			err := cfg.Validate()
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(HavePrefix("invalid configuration: "))
			for _, want := range tc.wantErr {
				g.Expect(err.Error()).To(ContainSubstring(want))
			}
		})
	}
}

func TestValidAlternatives(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*config.Config)
	}{
		{name: "a pprof listener on a port of its own is accepted", mutate: func(c *config.Config) { c.PprofAddr = "127.0.0.1:8082" }},
		{name: "disabled metrics and probe listeners are accepted", mutate: func(c *config.Config) { c.MetricsAddr = "0"; c.ProbeAddr = "0" }},
		{name: "the same port on two different hosts is accepted", mutate: func(c *config.Config) { c.MetricsAddr = "127.0.0.1:9000"; c.ProbeAddr = "10.0.0.1:9000" }},
		{name: "a numeric log level is accepted", mutate: func(c *config.Config) { c.LogLevel = "4" }},
		{name: "the error log level is accepted in any case", mutate: func(c *config.Config) { c.LogLevel = "ERROR" }},
		{name: "a memory limit ratio of one is accepted", mutate: func(c *config.Config) { c.MemoryLimitRatio = 1 }},
		{name: "a burst equal to the qps is accepted", mutate: func(c *config.Config) { c.MemberQPS = 10; c.MemberBurst = 10 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cfg := config.Default()
			tc.mutate(&cfg)
			g.Expect(cfg.Validate()).To(Succeed())
		})
	}
}

func TestParseLogLevel(t *testing.T) {
	cases := []struct {
		name  string
		level string
		want  int
	}{
		{name: "error is below info", level: "error", want: -1},
		{name: "info is verbosity zero", level: "info", want: 0},
		{name: "debug is verbosity one", level: "debug", want: 1},
		{name: "a number is its verbosity", level: "3", want: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(config.ParseLogLevel(tc.level)).To(Equal(tc.want))
		})
	}
}

func TestMemoryLimit(t *testing.T) {
	cases := []struct {
		name     string
		gomem    string
		v2, v1   *string // file content; nil = file absent
		ratio    float64
		want     int64
		wantSet  bool
		wantErr  string
		wantFrom string
	}{
		{name: "a cgroup v2 limit is scaled by the ratio", v2: ptr("1000000000\n"), ratio: 0.9, want: 900000000, wantSet: true},
		{name: "cgroup v2 is preferred over v1", v2: ptr("2000"), v1: ptr("1000"), ratio: 0.5, want: 1000, wantSet: true},
		{name: "a cgroup v2 max is no limit", v2: ptr("max\n"), v1: ptr("1000"), ratio: 0.9},
		{name: "a cgroup v1 limit is used without cgroup v2", v1: ptr("536870912\n"), ratio: 1, want: 536870912, wantSet: true},
		{name: "the cgroup v1 unlimited sentinel is no limit", v1: ptr("9223372036854771712\n"), ratio: 0.9},
		{name: "no cgroup file is no limit", ratio: 0.9},
		{name: "GOMEMLIMIT in the environment wins", gomem: "1GiB", v2: ptr("1000"), ratio: 0.9},
		{name: "a malformed cgroup file is an error", v2: ptr("lots"), ratio: 0.9, wantErr: `"lots" is not a positive byte count`},
		{name: "an invalid ratio is an error", v2: ptr("1000"), ratio: 2, wantErr: "ratio 2 is not in (0, 1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dir := t.TempDir()
			write := func(name string, content *string) string {
				path := filepath.Join(dir, name)
				if content != nil {
					g.Expect(os.WriteFile(path, []byte(*content), 0o644)).To(Succeed())
				}
				return path
			}
			var set []int64
			lookup := func(k string) (string, bool) {
				if k == "GOMEMLIMIT" && tc.gomem != "" {
					return tc.gomem, true
				}
				return "", false
			}
			setLimit := func(n int64) int64 { set = append(set, n); return 0 }
			cfg := config.Default()
			cfg.MemoryLimitRatio = tc.ratio
			got, err := config.ApplyMemoryLimitWith(cfg, logr.Discard(), lookup,
				write("memory.max", tc.v2), write("memory.limit_in_bytes", tc.v1), setLimit)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				g.Expect(set).To(BeEmpty())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
			if tc.wantSet {
				g.Expect(set).To(Equal([]int64{tc.want}))
			} else {
				g.Expect(set).To(BeEmpty())
			}
		})
	}
}

func TestApplyMemoryLimitLeavesGOMEMLIMITAlone(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("GOMEMLIMIT", "4GiB")
	got, err := config.ApplyMemoryLimit(config.Default(), logr.Discard())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(BeZero())
}

func ptr(s string) *string { return &s }
