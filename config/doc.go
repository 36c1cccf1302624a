// Package config owns the hub's configuration: one struct with documented, secure defaults,
// AddFlags(*pflag.FlagSet) to bind it to command-line flags (with environment fallbacks), and
// Validate() to reject bad combinations with a clear message. It knows nothing of Kubernetes
// clients; cmd/ turns a validated Config into the running hub.
//
// Status: not yet written; the hub binary's `run` command (the ObsykAgent reconciler work)
// brings it.
package config
