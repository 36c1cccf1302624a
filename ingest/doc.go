// Package ingest owns collection and delivery for each member cluster: one informer factory
// and one event channel per cluster, conversion of every object to its compact contract
// record at intake, per-agent outboxes of keys (coalescing, never dropping), snapshots, and
// rate limits. It knows nothing of HTTP: it hands records to a small sender interface that
// transport.Client satisfies.
//
// Status: not yet written (see the ingest issue).
package ingest
