// Package config owns the hub's configuration: one struct with documented, secure defaults,
// flags bound without globals, environment fallbacks, and validation. It knows nothing of
// Kubernetes clients; cmd/obsyk-hub turns a validated Config into the running hub.
//
// Use it in this order:
//
//	cfg := config.Default()
//	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
//	cfg.AddFlags(fs)
//	_ = fs.Parse(args)
//	if err := config.ApplyEnv(fs, os.LookupEnv); err != nil { ... }
//	if err := cfg.Validate(); err != nil { ... }
//	_, err := config.ApplyMemoryLimit(cfg, log)
//
// # Environment fallbacks
//
// Every flag has one: EnvName maps --flag-name to OBSYK_HUB_FLAG_NAME (upper case, dashes
// become underscores; --hub-kubeconfig is OBSYK_HUB_HUB_KUBECONFIG). A flag given on the
// command line beats its variable; a variable beats the default. Values are parsed exactly as
// the flag parses them (durations "10s", booleans "true", lists "a,b", quantities "64Mi"),
// and a bad value is an error naming the variable.
//
// # Security allowances
//
// The Allow* fields and CAPIKubeconfigSecrets loosen the hub's security rules (see the
// architecture's Security rules). Each is false by default and its comment states the risk.
// Config only carries them; clusterregistry and transport enforce them.
//
// # Memory limit
//
// ApplyMemoryLimit sets the Go runtime's soft memory limit to MemoryLimitRatio times the
// container limit read from cgroup v2 (memory.max) or v1 (memory.limit_in_bytes), unless
// GOMEMLIMIT is set. "max", v1's near-2^63 sentinel and missing files mean no limit. It reads
// the files at the root of /sys/fs/cgroup, which is the container's own cgroup under a private
// cgroup namespace (the default of container runtimes on cgroup v2, and the v1 mount layout).
//
// # Non-obvious decisions
//
//   - Validate also checks client-go's leader election rules (lease > renew deadline >
//     1.2 × retry period) so that a bad combination fails at start, not at the first
//     election; and ShutdownDrainTimeout < LeaseDuration, so that a successor never runs
//     while the old leader still sends.
//   - MemberBurst must be at least MemberQPS: a smaller burst silently caps the rate.
//   - "0" disables the metrics or probe listener (controller-runtime's convention); a
//     host:port with port 0 is refused because Kubernetes probes need a fixed port.
package config
