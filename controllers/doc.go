// Package controllers owns the ObsykAgentReconciler: it binds each ObsykAgent to its target
// cluster's ingest pipeline and to a pooled transport client, keeps the agent's status and
// conditions true, runs its heartbeat lane, and releases everything through a finalizer when
// the agent goes.
//
// Status: not yet written (see the ObsykAgent API and reconciler issue).
package controllers
