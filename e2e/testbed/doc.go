// Package testbed runs real Kubernetes control planes for tests, benchmarks and the local
// demo: a hub and member clusters, each its own etcd and kube-apiserver on loopback, plus
// the faults the hub must survive (a restarted apiserver, compacted etcd history, a cut or
// black-holed network path).
//
// # Use
//
//	f := testbed.NewTestFleet(t, testbed.FleetOptions{Members: 2})
//	// f.Hub.Client, f.Members[0].Kube, f.Members[1].Config ...
//
// NewTestFleet and NewTestCluster fail the test when the control planes cannot start —
// including when kube-apiserver or etcd is missing — and never skip: `make testbins` builds
// the binaries (BinaryDir says where they are looked for). A start costs ~2.5 s of CPU and
// ~310 MiB per cluster, so share a fleet between subtests where that is sound.
//
// # Decisions
//
//   - The processes are run by controller-runtime's envtest (ControlPlane, APIServer, Etcd),
//     not by code of our own, but the certificate directory and etcd data directory are
//     ours, under one temporary directory per cluster that Stop removes. That is what makes
//     StopAPIServer/StartAPIServer a faithful restart: envtest keeps the port, and given a
//     directory it did not create, it reuses the serving certificate, client CA and
//     service-account signing keys on disk instead of generating new ones, so the admin
//     Config, kubeconfigs and ServiceAccount tokens issued before still work.
//   - Readiness is /readyz polled with a deadline (envtest itself only waits for /healthz),
//     then the default and kube-system namespaces, which registration and tests rely on.
//   - A start is retried on fresh ports only when a chosen port was taken meanwhile
//     ("address already in use" in a process log); any other failure returns at once with
//     the tail of both process logs in the error.
//   - There is no controller-manager, scheduler or kubelet: pods never run, namespaces stay
//     Terminating, legacy ServiceAccount token Secrets are never filled in, and garbage
//     collection does not happen.
//   - Compact uses the etcd v3 client against the cluster's etcd, as kube-apiserver's own
//     compactor does. With the watch cache on, kube-apiserver answers watches from its
//     cache and hides compaction; ClusterOptions.WatchCacheDisabled makes a watch from a
//     compacted resource version fail with 410 Gone, as it can in production.
//   - Proxy works at TCP level, so TLS is end to end and clients verify the apiserver as
//     usual. Cut resets connections (RST); BlackHole holds them open and silent, which is the
//     failure that only timeouts and keepalives detect.
//   - The processes are started by envtest in their own process group without a parent-death
//     signal: a test binary killed without running its cleanups (e.g. by `go test -timeout`,
//     or a SIGKILLed demo) leaves them running. Each cluster's directory therefore records
//     its owner (PID and start time), and every StartCluster first reaps the clusters whose
//     owner is gone (ReapOrphans): it kills the processes whose command line names their
//     directory and removes it.
package testbed
