package ingest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of obsyk_hub_ingest_agent_events_failed_total.
const (
	failedTemporary = "temporary" // retried
	failedPermanent = "permanent" // rejected for this object: the change is dropped
)

// snapshotReasons are the reason label values of obsyk_hub_ingest_agent_snapshots_total,
// each exported from the start (0 until it happens).
var snapshotReasons = []string{SnapshotInitial, SnapshotEngaged, SnapshotKinds, SnapshotOverflow,
	SnapshotBacklog, SnapshotAntiEntropy}

var (
	clusterLabels = []string{"cluster"}
	agentLabels   = []string{"agent", "cluster"}

	descClusterObjects = prometheus.NewDesc("obsyk_hub_ingest_cluster_objects",
		"Objects in the member cluster's informer cache, by kind.",
		[]string{"cluster", "kind"}, nil)
	descClusterUnavailable = prometheus.NewDesc("obsyk_hub_ingest_cluster_kind_unavailable",
		"1 while a collected kind is unavailable in the member cluster (forbidden, not served, or not synced within the deadline): it is left out of snapshots and retried.",
		[]string{"cluster", "kind", "reason"}, nil)
	descClusterSynced = prometheus.NewDesc("obsyk_hub_ingest_cluster_synced",
		"1 once every collected kind of the member cluster has synced or been found unavailable, else 0.",
		clusterLabels, nil)
	descClusterWatchErrors = prometheus.NewDesc("obsyk_hub_ingest_cluster_watch_errors_total",
		"List and watch errors reported by the member cluster's informers.",
		clusterLabels, nil)
	descClusterExpired = prometheus.NewDesc("obsyk_hub_ingest_cluster_watch_expired_total",
		"List and watch errors 410 Gone (resource version too old) that reached the watch error handler; relists inside the reflector show as tombstones instead.",
		clusterLabels, nil)
	descClusterTombstones = prometheus.NewDesc("obsyk_hub_ingest_cluster_tombstones_total",
		"Deletes learnt from a relist (objects deleted while the watch was down), sent as deleted events.",
		clusterLabels, nil)
	descClusterChanges = prometheus.NewDesc("obsyk_hub_ingest_cluster_changes_total",
		"Changes observed by the member cluster's informer handlers and pushed to its event channel.",
		clusterLabels, nil)
	descClusterChannelDepth = prometheus.NewDesc("obsyk_hub_ingest_cluster_event_channel_depth",
		"Changes waiting in the member cluster's event channel (buffered and overflow) for the dispatcher.",
		clusterLabels, nil)
	descClusterChannelCoalesced = prometheus.NewDesc("obsyk_hub_ingest_cluster_event_channel_coalesced_total",
		"Changes merged into a pending entry of the member cluster's event channel overflow.",
		clusterLabels, nil)

	descAgentSent = prometheus.NewDesc("obsyk_hub_ingest_agent_events_sent_total",
		"Events the platform accepted.",
		agentLabels, nil)
	descAgentCoalesced = prometheus.NewDesc("obsyk_hub_ingest_agent_events_coalesced_total",
		"Changes merged into the pending entry of their object in the agent's outbox.",
		agentLabels, nil)
	descAgentSuppressed = prometheus.NewDesc("obsyk_hub_ingest_agent_events_suppressed_total",
		"Updates of the agent's cluster that changed nothing the contract carries, so sent to no agent (a figure of the cluster, the same for each of its agents).",
		agentLabels, nil)
	descAgentFailed = prometheus.NewDesc("obsyk_hub_ingest_agent_events_failed_total",
		"Event sends that failed, by reason: temporary (retried with backoff) or permanent (the platform rejected the object; the change is dropped).",
		[]string{"agent", "cluster", "reason"}, nil)
	descAgentDropped = prometheus.NewDesc("obsyk_hub_ingest_agent_events_dropped_total",
		"Changes removed from the outbox unsent because the platform rejected their event permanently.",
		agentLabels, nil)
	descAgentSkipped = prometheus.NewDesc("obsyk_hub_ingest_agent_events_skipped_total",
		"Changes not sent because their object was gone from the cache (its delete follows) or the cluster's pipeline was replaced (the next snapshot carries them).",
		agentLabels, nil)
	descAgentResynced = prometheus.NewDesc("obsyk_hub_ingest_agent_events_resynced_total",
		"Pending changes discarded because an accepted snapshot carried them.",
		agentLabels, nil)
	descAgentRejected = prometheus.NewDesc("obsyk_hub_ingest_agent_outbox_rejected_total",
		"Changes not queued because the outbox had overflowed its byte budget; a snapshot carries them.",
		agentLabels, nil)
	descAgentSnapshots = prometheus.NewDesc("obsyk_hub_ingest_agent_snapshots_total",
		"Snapshots the platform accepted, by reason (initial, engaged, kinds, overflow, backlog, anti-entropy).",
		[]string{"agent", "cluster", "reason"}, nil)
	descAgentSnapshotFailures = prometheus.NewDesc("obsyk_hub_ingest_agent_snapshot_failures_total",
		"Snapshots that were not accepted (they are retried with backoff).",
		agentLabels, nil)
	descAgentSnapshotObjects = prometheus.NewDesc("obsyk_hub_ingest_agent_snapshot_objects",
		"Objects in the last accepted snapshot.",
		agentLabels, nil)
	descAgentLastSnapshot = prometheus.NewDesc("obsyk_hub_ingest_agent_last_snapshot_timestamp_seconds",
		"Unix time of the last accepted snapshot; absent before the first.",
		agentLabels, nil)
	descAgentOutboxDepth = prometheus.NewDesc("obsyk_hub_ingest_agent_outbox_depth",
		"Changes in the agent's outbox not yet accepted by the platform (pending and in flight), one per object.",
		agentLabels, nil)
	descAgentOutboxOldest = prometheus.NewDesc("obsyk_hub_ingest_agent_outbox_oldest_pending_age_seconds",
		"Age of the oldest change in the agent's outbox not yet accepted by the platform; 0 when empty.",
		agentLabels, nil)
	descAgentOutboxBytes = prometheus.NewDesc("obsyk_hub_ingest_agent_outbox_bytes",
		"Estimated memory of the agent's outbox, counted against its byte budget.",
		agentLabels, nil)
)

// Metrics holds the ingest pipeline's Prometheus collectors: per cluster and per agent
// (agent is the key an agent is bound with, cluster the name of its cluster). Create it once
// with NewMetrics and give it to the Manager in Options.Metrics. A nil *Metrics records
// nothing.
//
// The figures that Manager.ClusterStats and Manager.AgentStats already hold (counts,
// depths, ages, counters) are read when the registry is scraped, so they cost nothing on
// the hot path and a cluster's series go with its engagement, an agent's with its binding.
// Only the two histograms, snapshot duration and end-to-end lag, are observed as things
// happen; their series are deleted when the agent is unbound or bound anew, and when the
// Manager stops. Counters read from stats start again at 0 when their owner is replaced (a
// re-engaged cluster, a re-bound agent), which Prometheus treats as a counter reset.
//
// A Metrics reports the Managers that were started with it while they run; their cluster
// names and agent keys must differ (one Manager per process is the rule).
type Metrics struct {
	snapshotDuration *prometheus.HistogramVec
	lag              *prometheus.HistogramVec

	// mu guards managers.
	mu       sync.Mutex
	managers map[*Manager]struct{}
}

var _ prometheus.Collector = (*Metrics)(nil)

// NewMetrics creates the ingest collectors and registers them with reg, as one collector
// (nil: not registered; the Metrics is itself a prometheus.Collector). Calling it again
// with the same registerer returns the Metrics registered the first time, so registration
// happens once. It panics when reg holds other collectors under these metric names, as
// prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		snapshotDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "obsyk_hub_ingest_agent_snapshot_duration_seconds",
			Help:    "Time to build and send a snapshot the platform accepted, from the moment it holds a slot of the snapshot concurrency limit.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, agentLabels),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "obsyk_hub_ingest_agent_event_lag_seconds",
			Help:    "End-to-end lag of an accepted event: from when an informer handler observed the oldest change it carries to when the platform accepted it.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, agentLabels),
		managers: map[*Manager]struct{}{},
	}
	if reg == nil {
		return m
	}
	if err := reg.Register(m); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*Metrics); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("ingest: register metrics: %v", err))
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descClusterObjects, descClusterUnavailable, descClusterSynced, descClusterWatchErrors,
		descClusterExpired, descClusterTombstones, descClusterChanges, descClusterChannelDepth,
		descClusterChannelCoalesced,
		descAgentSent, descAgentCoalesced, descAgentSuppressed, descAgentFailed, descAgentDropped,
		descAgentSkipped, descAgentResynced, descAgentRejected, descAgentSnapshots,
		descAgentSnapshotFailures, descAgentSnapshotObjects, descAgentLastSnapshot,
		descAgentOutboxDepth, descAgentOutboxOldest, descAgentOutboxBytes,
	} {
		ch <- d
	}
	m.snapshotDuration.Describe(ch)
	m.lag.Describe(ch)
}

// Collect implements prometheus.Collector: the histograms, and the figures of the clusters
// and agents of every running Manager, read now.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.snapshotDuration.Collect(ch)
	m.lag.Collect(ch)
	m.mu.Lock()
	managers := make([]*Manager, 0, len(m.managers))
	for mgr := range m.managers {
		managers = append(managers, mgr)
	}
	m.mu.Unlock()
	for _, mgr := range managers {
		mgr.collect(ch)
	}
}

// attach and detach add and remove a running Manager.
func (m *Metrics) attach(mgr *Manager) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.managers[mgr] = struct{}{}
	m.mu.Unlock()
}

func (m *Metrics) detach(mgr *Manager) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.managers, mgr)
	m.mu.Unlock()
}

// agentObservers returns the histograms of a bound agent, fresh ones: an earlier binding's
// series are deleted first. Both are nil when m is nil.
func (m *Metrics) agentObservers(agent, cluster string) (snapshotDuration, lag prometheus.Observer) {
	if m == nil {
		return nil, nil
	}
	m.forget(agent, cluster)
	return m.snapshotDuration.WithLabelValues(agent, cluster), m.lag.WithLabelValues(agent, cluster)
}

// forget deletes the histogram series of an agent. An observer still held by the agent's
// ending goroutines then records into a series no longer exported.
func (m *Metrics) forget(agent, cluster string) {
	if m == nil {
		return
	}
	m.snapshotDuration.DeleteLabelValues(agent, cluster)
	m.lag.DeleteLabelValues(agent, cluster)
}

// collect sends the figures of the Manager's engaged clusters and bound agents. No lock is
// held while it sends.
func (m *Manager) collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	clusters := make([]string, 0, len(m.clusters))
	for name := range m.clusters {
		clusters = append(clusters, name)
	}
	agents := make([]string, 0, len(m.agents))
	for key := range m.agents {
		agents = append(agents, key)
	}
	m.mu.Unlock()
	for _, name := range clusters {
		if st, ok := m.ClusterStats(name); ok {
			collectCluster(ch, name, st)
		}
	}
	for _, key := range agents {
		if st, ok := m.AgentStats(key); ok {
			collectAgent(ch, key, st)
		}
	}
}

func collectCluster(ch chan<- prometheus.Metric, name string, st ClusterStats) {
	for k, n := range st.Objects {
		gauge(ch, descClusterObjects, float64(n), name, string(k))
	}
	for k, reason := range st.Unavailable {
		gauge(ch, descClusterUnavailable, 1, name, string(k), reason)
	}
	gauge(ch, descClusterSynced, boolValue(st.Synced), name)
	counter(ch, descClusterWatchErrors, st.WatchErrors, name)
	counter(ch, descClusterExpired, st.Expired, name)
	counter(ch, descClusterTombstones, st.Tombstones, name)
	counter(ch, descClusterChanges, st.Channel.Pushed, name)
	gauge(ch, descClusterChannelDepth, float64(st.Channel.Buffered+st.Channel.Overflow), name)
	counter(ch, descClusterChannelCoalesced, st.Channel.Coalesced, name)
}

func collectAgent(ch chan<- prometheus.Metric, key string, st AgentStats) {
	cl := st.Cluster
	counter(ch, descAgentSent, st.Sent, key, cl)
	counter(ch, descAgentCoalesced, st.Outbox.Coalesced, key, cl)
	counter(ch, descAgentSuppressed, st.Suppressed, key, cl)
	counter(ch, descAgentFailed, st.FailedTemporary, key, cl, failedTemporary)
	counter(ch, descAgentFailed, st.FailedPermanent, key, cl, failedPermanent)
	counter(ch, descAgentDropped, st.Outbox.Dropped, key, cl)
	counter(ch, descAgentSkipped, st.Skipped, key, cl)
	counter(ch, descAgentResynced, st.Outbox.Discarded, key, cl)
	counter(ch, descAgentRejected, st.Outbox.Rejected, key, cl)
	for _, r := range snapshotReasons {
		counter(ch, descAgentSnapshots, uint64(st.Snapshots[r]), key, cl, r)
	}
	counter(ch, descAgentSnapshotFailures, uint64(st.SnapshotFailures), key, cl)
	gauge(ch, descAgentSnapshotObjects, float64(st.LastSnapshotObjects), key, cl)
	if !st.LastSnapshot.IsZero() {
		gauge(ch, descAgentLastSnapshot, float64(st.LastSnapshot.UnixNano())/1e9, key, cl)
	}
	gauge(ch, descAgentOutboxDepth, float64(st.Outbox.Depth+st.Outbox.InFlight), key, cl)
	gauge(ch, descAgentOutboxOldest, st.Outbox.Oldest.Seconds(), key, cl)
	gauge(ch, descAgentOutboxBytes, float64(st.Outbox.Bytes), key, cl)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, lvs ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lvs...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, lvs ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lvs...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
