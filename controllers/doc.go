// Package controllers owns the ObsykAgentReconciler: it binds each ObsykAgent to its target
// cluster's ingest pipeline and to a pooled transport client, keeps the agent's status and
// conditions true, runs its heartbeat lane, and releases everything through a finalizer when
// the agent goes.
//
// CheckCRD, which the hub runs before it starts, refuses an installed ObsykAgent CRD that
// lacks fields of this build (the reference operator's CRD, which Helm never upgrades):
// the API server would prune those fields silently.
//
// Status: the reconciler itself is not written yet (see the ObsykAgent API and reconciler
// issue).
package controllers
