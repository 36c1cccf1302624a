// Package chart holds the tests of the Helm chart charts/obsyk-hub; it has no code of its
// own. The tests run the pinned helm binary (bin/helm-v3.22.0, `make tools`) and, where an
// API server must judge the result, real control planes of the test bed (`make testbins`):
//
//   - the chart renders with its default values and with every optional feature on
//     (ci/all-features-values.yaml), and what it renders matches the sources it is derived
//     from: the generated CRD and ClusterRole, clusterregistry.ReaderPolicyRules, and the
//     flags and defaults of config.Config;
//   - every rendered object is accepted by a real kube-apiserver (server-side dry run with
//     strict field validation; the ServiceMonitor CRD is taken from the prometheus-operator
//     Go module through the module proxy);
//   - the upgrade path from obsyk-operator: its CRD (installed without Helm ownership) and an
//     existing ObsykAgent, the migration step of the chart's README run verbatim, `helm
//     install`, then `helm upgrade` to a chart whose CRD changed, then `helm uninstall`, which
//     keeps the CRD and the agents;
//   - the hub, run in-process as the chart's ServiceAccount (impersonation) against a hub
//     control plane holding only the CRD and the RBAC the chart renders (with its default
//     values, with hubCluster.collect, and with every optional feature on), serves agents
//     in several namespaces to convergence, takes its Lease and records Events, and the API
//     server refuses none of its requests; SubjectAccessReviews check that the same
//     identity may do nothing more.
//
// There is no kubelet in the test control planes, so the hub's pods never run: the
// Deployment's flags are parsed and given to the in-process hub instead.
package chart
