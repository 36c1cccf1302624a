// Package ingest owns collection and delivery for each member cluster: one informer factory
// and one event channel per cluster, conversion of every object to its compact contract
// record at intake, per-agent outboxes of keys (coalescing, never dropping), snapshots, and
// rate limits. It knows nothing of HTTP: it hands records to a small sender interface that
// transport.Client satisfies.
//
// # Use
//
//	mt := ingest.NewMetrics(ctrlmetrics.Registry)          // optional (nil: no metrics)
//	m := ingest.NewManager(ingest.Options{Logger: log, Metrics: mt}) // no goroutine yet
//	mcmgr.Add(m)                                           // or go m.Start(ctx): blocks until ctx ends
//	// multicluster-runtime calls m.Engage(ctx, name, cluster) per member (Manager is Aware)
//	m.Bind("ns/agent", "member-1", ingest.AgentOptions{Sender: client, RateLimit: 50})
//	st, _ := m.AgentStats("ns/agent"); cs, _ := m.ClusterStats("member-1")
//
// # Clusters (Manager, cluster.go)
//
// Engage returns at once. It builds, without any remote call, one pipeline per engagement:
// a client from cluster.GetConfig(), one SharedInformerFactory (resync 0) and an informer
// per collected kind (Options.Kinds, all 20 but Secret by default; listing and watching
// through the kind's typed client, registered with the factory's InformerFor), each with a
// transform, a watch error handler and event handlers. A goroutine of the Manager then reads the
// cluster UID (the kube-system namespace's, with a deadline, retried), starts the
// informers one by one, each holding a slot of the Manager-wide list semaphore
// (Options.ListConcurrency) until its initial list is in, it is found unavailable, or
// Options.SyncTimeout passes, and then runs the dispatcher. The informers are started
// individually rather than by factory.Start, which is what lets the semaphore bound the
// initial lists across clusters. Everything stops when the engagement's context (or
// Start's) ends; a re-engagement of the same name replaces the pipeline by identity and
// cancels the old one.
//
// The transform turns every object into an item (kind, namespace, name, UID, resource
// version, record) before the informer stores it, so the caches hold records, never
// objects. The record is compact (convert.Compact): it holds no reference into the decoded
// object, and its repeated strings, label and annotation maps and lists (containers,
// volumes, conditions...) are canonical copies shared with every other record through
// package intern, whose weak tables forget a value once no record uses it. For 100k
// realistic pods (Deployment replicas: 2 containers, 8 labels, 4 annotations, volumes,
// env) a cache retains 759 B per pod, index included, against 3,189 B for uncompacted
// records and 10,628 B for the full objects, 14 times less (BenchmarkRetainedBytesPerPod,
// synthetic pods, one run). Compaction costs about 13 µs per pod at intake on top of
// conversion's 7 µs (convert's BenchmarkCompactPod). An item implements metav1.Object (the
// getters it can answer, no-op setters) so client-go's key and namespace-index functions
// work unchanged; the transform passes items and tombstones through untouched.
//
// # Initial lists: streamed, not paged (measured)
//
// The informers fetch their initial state with a streaming watch-list (client-go's
// WatchListClient, on by default in client-go 0.37; pipelineInitialList): the API server
// sends the objects as watch events, and the reflector transforms each one into a
// temporary store as it arrives, so every decoded object is garbage as soon as its item
// exists. A paged list cannot do that: the reflector gathers all pages into one list of
// full objects before the transform sees the first, so its peak is the full objects
// whatever the page size — compaction keeps the heap small at rest, only streaming keeps
// it small during the list. BenchmarkInitialListPeakHeap lists realistic pods (Deployment
// replicas with a running status) from a real kube-apiserver 1.37 (watch cache on), peak
// and retained heap above the heap before the informer started, one run on 2 cores:
//
//	                      20,000 pods (default)           100,000 pods
//	                      peak       peak/pod  retained   peak       peak/pod  retained
//	compact, watch-list    32.6 MiB   1,711 B     761 B    156 MiB    1,636 B     770 B  <- the pipeline
//	compact, paged        463.1 MiB  24,278 B     721 B  2,407 MiB   25,243 B     733 B
//	stock, watch-list     357.1 MiB  18,724 B  14,422 B  1,854 MiB   19,437 B  14,433 B
//	stock, paged          471.6 MiB  24,727 B  14,415 B  2,501 MiB   26,228 B  14,439 B
//
// (Creating the pods takes most of the run: 3 min for 20k, 15 min for 100k.) Decoded
// from the API server, a compact pod record retains 770 B against 14.4 KB for the full
// object, 19 times less; the synthetic figure above, 759 B, agrees.
//
// A kube-apiserver 1.37 streams with its watch cache off too (checked against the test
// bed); one that cannot stream makes the reflector fall back to a paged list by itself,
// and KUBE_FEATURE_WatchListClient=false in the hub's environment turns streaming off for
// the whole process. Either way the pipeline still works, with the paged peak.
//
// The handlers never block and never drop: they Push to the cluster's EventChannel. The
// initial list is not pushed (isInInitialList): every agent snapshots after the pipeline
// synced, and that snapshot carries it. An update whose record is convert.Equal to the old
// one pushes nothing (counted as Suppressed); an update whose UID changed under the same
// key pushes deleted(old) then added(new); a tombstone (DeletedFinalStateUnknown, after a
// relist) pushes deleted with the item inside (counted as Tombstones).
//
// A kind the member forbids (403) or does not serve (404) before its first sync is seen by
// the watch error handler, marked unavailable (ClusterStats.Unavailable), dropped from the
// sync wait and left out of snapshots; the reflector keeps retrying it with its own
// backoff, and when it finally syncs every agent of the cluster snapshots again
// (SnapshotKinds).
//
// Each informer lists and watches through its kind's typed client behind an expiryCounter
// (listwatch.go), registered in the factory with InformerFor. It counts every 410 Gone
// into ClusterStats.Expired: those returned by a list or watch call, and those that arrive
// as an Error event inside a watch stream — client-go's reflector answers the latter by
// relisting without calling the watch error handler, so only the list/watch can see them.
// The deletes such a relist finds missing show as Tombstones.
//
// # Agents (agent.go)
//
// Bind gives an agent its own Outbox, paused at once, and a control goroutine. The
// dispatcher of the cluster Adds each Change to every bound agent whose kinds and
// namespace filter match. The control loop snapshots, one at a time per agent and at most
// Options.SnapshotConcurrency at once across agents: first once the pipeline has synced
// (SnapshotInitial), again when the cluster was engaged anew (SnapshotEngaged) or a kind
// became available (SnapshotKinds), which are forced; and on Overflow, when the backlog
// would take longer to drain at RateLimit than the last snapshot took (SnapshotBacklog,
// sent once the backlog has not grown for a second, or BacklogSettle after it became that
// long, so that one snapshot carries a whole burst; a backlog snapshot that its burst
// overtook gets one follow-up), and every AntiEntropyInterval, which respect
// MinSnapshotInterval. A failed snapshot is
// retried with backoff (capped at MinSnapshotInterval). A snapshot is: Pause (no event in
// flight; the Mark), read the cache filtered, SendSnapshot with a deadline, then
// ResumeAfterSnapshot(mark), or Resume if it failed. Before the first accepted snapshot no
// worker runs, so the agent resumes and re-pauses to get a Mark that covers every change
// added so far, and a failure keeps events held.
//
// The workers (AgentOptions.Workers) start after the first accepted snapshot. Each takes
// an Item from the Outbox, reads the object's current item from the cache by key, and: for
// added/modified whose UID is no longer cached, reports Delivered without sending; else waits for the rate limiter
// and sends the event with a deadline (a delete carries no object). Delivered on success,
// Dropped on a permanent error, Retry with exponential backoff (honouring
// TemporaryError.RetryAfter) otherwise. While the cluster's current pipeline is not the one
// the last snapshot came from, items are reported Delivered unsent: the snapshot of the new
// pipeline, which the control loop sends next, carries the state.
//
// Secret is collected only when both Options.Kinds and AgentOptions.Kinds list it: key
// names only, but reading them needs cluster-wide Secret read in the member.
//
// Measured on 2 cores: the path EventChannel → dispatcher → Outbox → worker (cache read,
// payload) → an accepting Sender carries 250–310k distinct changes/s
// (BenchmarkPipelineThroughput); against the platform simulator over HTTPS, with -race,
// 5,000 creates and 2,000 deletes held back by a 20 s outage converge about 13 s after it.
//
// Binding a key again replaces the binding: the old agent stops, and the new one (new
// options, new Outbox) waits for the old one's goroutines to end before its own first
// snapshot. That is how a filter change takes effect, objects newly excluded included:
// the snapshot replaces the cluster's state on the platform. Unbind stops an agent.
//
// # The path of a change
//
//	informer handlers ─Push─► EventChannel (per cluster) ─Next─► dispatcher
//	    ─Add─► Outbox (per agent) ─Get─► sender workers ─Done─► Outbox
//
// Both queues hold identities (Change: kind, namespace, name, UID, type, and when it was
// observed), never records: the sender reads the record from the cluster's cache at send
// time, so it always sends the latest state, and a pending change costs ≈255 bytes of
// bookkeeping (measured for 100k distinct objects; the strings are shared with the cache).
// Neither starts a goroutine.
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
//
// # Metrics (metrics.go)
//
// NewMetrics(reg) registers one collector, once (a second call with the same registerer
// returns the first Metrics; other collectors under these names make it panic); give it to
// the Manager in Options.Metrics, nil meaning none. Label agent is the bind key
// (namespace/name of the ObsykAgent), cluster the cluster name. Connection state is
// clusterregistry's (obsyk_hub_cluster_connection_up and its siblings).
//
// Everything but the two histograms is read from ClusterStats and AgentStats when the
// registry is scraped: no cost per change, and a cluster's series exist while it is engaged,
// an agent's while it is bound. Counters read this way restart at 0 when their owner is
// replaced (re-engaged cluster, re-bound agent), which Prometheus takes for a counter reset.
// The histogram series of an agent are deleted when it is unbound or bound anew and when the
// Manager stops. With Metrics, the EventChannel stamps each change when the handler pushes
// it (a clock read, ≈35 ns), and an outbox entry keeps the oldest stamp of the changes
// merged into it, so the lag counts from the oldest change an event carries.
//
// Per cluster {cluster}:
//
//	obsyk_hub_ingest_cluster_objects{cluster,kind}                    gauge      objects in the informer cache
//	obsyk_hub_ingest_cluster_kind_unavailable{cluster,kind,reason}    gauge      1 while a kind is unavailable (forbidden, not served, not synced within the deadline); absent otherwise
//	obsyk_hub_ingest_cluster_synced                                   gauge      1 once every kind synced or was found unavailable
//	obsyk_hub_ingest_cluster_watch_errors_total                       counter    list/watch errors of the informers
//	obsyk_hub_ingest_cluster_watch_expired_total                      counter    410 Gone errors that reached the watch error handler
//	obsyk_hub_ingest_cluster_tombstones_total                         counter    deletes learnt from a relist
//	obsyk_hub_ingest_cluster_changes_total                            counter    changes pushed to the event channel
//	obsyk_hub_ingest_cluster_event_channel_depth                      gauge      changes waiting for the dispatcher (buffered + overflow)
//	obsyk_hub_ingest_cluster_event_channel_coalesced_total            counter    changes merged in the event channel's overflow
//
// Per agent {agent,cluster}:
//
//	obsyk_hub_ingest_agent_events_sent_total                          counter    events the platform accepted
//	obsyk_hub_ingest_agent_events_coalesced_total                     counter    changes merged into their object's pending outbox entry
//	obsyk_hub_ingest_agent_events_suppressed_total                    counter    updates that changed nothing the contract carries (the cluster's figure, the same for each of its agents)
//	obsyk_hub_ingest_agent_events_failed_total{agent,cluster,reason}  counter    failed event sends: reason temporary (retried) or permanent (change dropped)
//	obsyk_hub_ingest_agent_events_dropped_total                       counter    changes dropped after a permanent rejection (= failed{permanent})
//	obsyk_hub_ingest_agent_events_skipped_total                       counter    changes not sent: object gone from the cache, or pipeline replaced
//	obsyk_hub_ingest_agent_events_resynced_total                      counter    pending changes discarded because an accepted snapshot carried them
//	obsyk_hub_ingest_agent_outbox_rejected_total                      counter    changes not queued because the outbox had overflowed (a snapshot repairs)
//	obsyk_hub_ingest_agent_snapshots_total{agent,cluster,reason}      counter    accepted snapshots by reason (initial, engaged, kinds, overflow, backlog, anti-entropy)
//	obsyk_hub_ingest_agent_snapshot_failures_total                    counter    snapshots not accepted
//	obsyk_hub_ingest_agent_snapshot_duration_seconds                  histogram  build and send of an accepted snapshot, from holding a snapshot slot
//	obsyk_hub_ingest_agent_snapshot_objects                           gauge      objects in the last accepted snapshot
//	obsyk_hub_ingest_agent_last_snapshot_timestamp_seconds            gauge      Unix time of the last accepted snapshot (absent before the first)
//	obsyk_hub_ingest_agent_outbox_depth                               gauge      changes not yet accepted, pending and in flight (one per object)
//	obsyk_hub_ingest_agent_outbox_oldest_pending_age_seconds          gauge      age of the oldest of them, 0 when none
//	obsyk_hub_ingest_agent_outbox_bytes                               gauge      estimated outbox memory, against its byte budget
//	obsyk_hub_ingest_agent_event_lag_seconds                          histogram  observed by an informer handler → accepted by the platform, per event sent
package ingest
