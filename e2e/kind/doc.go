// Package kind runs the end-to-end scenarios against a fleet whose hub and platform
// simulator run elsewhere — in kind clusters on a Docker host (run.sh, `make
// test-e2e-kind`) — through administrators' clients of the hub and member clusters and
// the simulator's admin API (Simulator, a remote converge.Platform).
//
// Run drives the members (package workload), injects platform faults through the admin API
// and waits for convergence (package converge) after each scenario: the initial snapshot,
// churn within the agents' rate limits, a platform outage, 5xx/429/dropped responses,
// token expiry without a restart, a log free of secrets, and a hub killed and started again.
// What is specific to where the hub runs (restarting it, reading its log) comes in through
// Options hooks.
//
// The command kindcheck (./kindcheck) is what run.sh calls: it fetches the simulator's CA,
// registers platform clients, seeds the members and runs the scenarios, with kubeconfig
// files of kind clusters. The same Run is tested on the test bed's real control planes with
// an in-process hub and simulator (scenario_test.go), so the checks run in CI even though
// kind cannot; run.sh itself is checked with `bash -n` and, where installed, shellcheck.
package kind
