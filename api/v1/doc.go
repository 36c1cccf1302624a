// Package v1 holds the obsyk.io/v1 API: the ObsykAgent custom resource that names a member
// cluster and the platform it streams to.
//
// The types keep every field of the reference obsyk-operator's CRD (contract §6), so
// existing manifests still apply, and add the hub's own: the target cluster (clusterRef),
// kind selection with Secrets opt-in (kinds), namespace filters (namespaces), the
// anti-entropy snapshot interval (resyncInterval), and a richer status (heartbeat time,
// object counts, outbox depth and age). One deliberate change of default: syncInterval, the
// heartbeat period, defaults to 60s instead of the reference's 5m. The reconciler that acts
// on these fields is not written yet.
//
// The markers here are the single source of the CRD and of deepcopy: run `make generate`,
// never edit zz_generated.deepcopy.go or the CRD by hand (`make verify` fails on drift).
//
// +kubebuilder:object:generate=true
// +groupName=obsyk.io
package v1
