// Package ingest owns collection and delivery for each member cluster: one informer factory
// and one event channel per cluster, conversion of every object to its compact contract
// record at intake, per-agent outboxes of keys (coalescing, never dropping), snapshots, and
// rate limits. It knows nothing of HTTP: it hands records to a small sender interface that
// transport.Client satisfies.
//
// Status: the two queues below are written; informers, conversion (ingest/convert), the
// dispatcher, the sender and the snapshot policy are not yet.
//
// # The path of a change
//
//	informer handlers ─Push─► EventChannel (per cluster) ─Next─► dispatcher
//	    ─Add─► Outbox (per agent) ─Get─► sender workers ─Done─► Outbox
//
// Both queues hold identities (Change: kind, namespace, name, UID, type), never records:
// the sender reads the record from the cluster's cache at send time, so it always sends the
// latest state, and a pending change costs ≈240 bytes of bookkeeping (measured for 100k
// distinct objects; the strings are shared with the cache). Neither starts a goroutine.
//
// # EventChannel
//
// Push never blocks and never drops: a bounded Go channel (1000 slots by default, as the
// reference) and, when it is full, an overflow that coalesces per object with the rules
// below. While the overflow is not empty every Push goes to it, and Next drains the channel
// before the overflow, so one object's changes come out in order.
//
// # Outbox
//
// One pending entry per UID (ARCHITECTURE "Delivery semantics" 2–3):
// added+modified = added, modified+modified = modified, added+deleted = deleted (never
// dropped: a snapshot may have carried the object), modified+deleted = deleted,
// modified+added = added, and deleted absorbs anything later for its UID (UIDs are never
// reused). Under one kind/namespace/name the entries of successive UIDs form a short
// sequence: a new UID is queued after the old one's delete, and a late delete of an old UID
// goes before the newer UID's changes (a platform that deletes by name must not lose the
// new object); a late added/modified of an old UID is harmless anywhere, because the
// sender finds that UID gone from its cache and sends nothing (reporting Delivered) — the
// sender contract for every added/modified item.
//
// Sends are serialized per kind/namespace/name as in client-go's workqueue: an entry handed
// out by Get is in flight until Done, and the Key's newer changes wait, while other Keys go
// to other workers. Done's outcomes: Delivered (2xx) and Dropped (permanent 4xx for this one
// object) remove the entry and keep the changes that arrived meanwhile; Retry(after) keeps
// it, merged with those changes, keeping its age, and holds the Key back for the delay.
//
// Snapshots (item 1): Pause stops handing out entries, waits until none is in flight and
// returns a Mark (the sequence number of the last Add). The caller then reads the cache,
// sends the snapshot, and calls ResumeAfterSnapshot(mark) once it was accepted — discarding
// every entry whose changes are all numbered ≤ mark (the cache held them before it was
// read, so the snapshot carries them) and keeping the later ones, which are sent after it —
// or Resume if it was not. A new Outbox should be paused at once so that events start only
// after the first accepted snapshot.
//
// Bounds (item 7): when a new entry would exceed the byte budget (64 MiB by default) the
// change is rejected and counted, the Outbox turns Overflowed and signals Overflow, and it
// stores no new entry until a snapshot whose Mark covers every rejected change. Backlog and
// Stats give depth, in-flight count, oldest age and counters for the pipeline's policy
// (snapshot instead of a long backlog), metrics and status.
//
// Signals are size-1 channels with non-blocking sends; no lock is held while the caller
// sends.
package ingest
