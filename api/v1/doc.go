// Package v1 holds the obsyk.io/v1 API: the ObsykAgent custom resource that names a member
// cluster and the platform it streams to.
//
// The types keep every field of the reference obsyk-operator's CRD (contract §6), so
// existing manifests still apply. The hub-specific fields (target cluster, kind selection,
// namespace filters, anti-entropy interval, richer status) are added by the ObsykAgent API
// work; until then this package carries the reference shape only.
//
// The markers here are the single source of the CRD and of deepcopy: run `make generate`,
// never edit zz_generated.deepcopy.go or the CRD by hand (`make verify` fails on drift).
//
// +kubebuilder:object:generate=true
// +groupName=obsyk.io
package v1
