package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	"github.com/obsyk/obsyk-hub/e2e/workload"
	"github.com/obsyk/obsyk-hub/transport"
)

// sample is one series of a gathered registry: its metric name and labels, and its value
// (a histogram's sample count, for a histogram).
type sample struct {
	name   string
	labels map[string]string
	value  float64
	sum    float64 // histograms only
}

// gather returns every series of reg.
func gather(g Gomega, reg prometheus.Gatherer) []sample {
	mfs, err := reg.Gather()
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var out []sample
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := sample{name: mf.GetName(), labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
				s.sum = m.GetHistogram().GetSampleSum()
			}
			out = append(out, s)
		}
	}
	return out
}

// find returns the series of a metric whose labels include want.
func find(samples []sample, name string, want map[string]string) (sample, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s, true
	}
	return sample{}, false
}

// value returns the value of a series, or -1 when it is absent.
func value(g Gomega, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	s, ok := find(gather(g, reg), name, want)
	if !ok {
		return -1
	}
	return s.value
}

// seriesOf returns "name{labels}" of every series whose label k has value v and whose
// name starts with prefix.
func seriesOf(g Gomega, reg prometheus.Gatherer, prefix, k, v string) []string {
	var out []string
	for _, s := range gather(g, reg) {
		if strings.HasPrefix(s.name, prefix) && s.labels[k] == v {
			out = append(out, s.name)
		}
	}
	return out
}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestMetricsCountTheChangesSentAndGoWithTheirAgentAndCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "metrics") // before the hub starts: the snapshot carries it
	reg := prometheus.NewPedanticRegistry()
	mt := NewMetrics(reg)
	h := startHub(t, member, member.Config, Options{Metrics: mt}, AgentOptions{})
	h.waitSnapshot(t)
	h.converged(t, noSecrets, time.Minute)

	agent := map[string]string{"agent": agentKey, "cluster": clusterName}
	cl := map[string]string{"cluster": clusterName}
	g.Eventually(func() float64 {
		return value(g, reg, "obsyk_hub_ingest_agent_snapshots_total", with(agent, "reason", SnapshotInitial))
	}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(1.0))
	g.Expect(value(g, reg, "obsyk_hub_ingest_agent_snapshots_total", with(agent, "reason", SnapshotAntiEntropy))).
		To(Equal(0.0), "every reason is exported from the start")
	g.Expect(value(g, reg, "obsyk_hub_ingest_agent_snapshot_duration_seconds", agent)).To(Equal(1.0))
	st, _ := h.m.AgentStats(agentKey)
	g.Expect(value(g, reg, "obsyk_hub_ingest_agent_snapshot_objects", agent)).To(Equal(float64(st.LastSnapshotObjects)))
	g.Expect(value(g, reg, "obsyk_hub_ingest_cluster_synced", cl)).To(Equal(1.0))
	sentBefore := value(g, reg, "obsyk_hub_ingest_agent_events_sent_total", agent)
	g.Expect(sentBefore).To(BeNumerically(">=", 0))

	refs, err := workload.Create(ctx, member.Client, "ConfigMap", ns, 5, workload.Options{Prefix: "metrics"})
	g.Expect(err).NotTo(HaveOccurred())
	h.converged(t, noSecrets, time.Minute)
	seen := eventTypes(h.sim)
	for _, r := range refs {
		g.Expect(seen[r.UID]).To(Equal([]string{"added"}), "%s", r)
	}

	// Every event the platform accepted was counted and its lag measured, once.
	g.Eventually(func() []float64 {
		return []float64{
			value(g, reg, "obsyk_hub_ingest_agent_events_sent_total", agent),
			value(g, reg, "obsyk_hub_ingest_agent_event_lag_seconds", agent),
			float64(h.sim.Cluster(h.uid).Events),
		}
	}).WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).Should(SatisfyAll(
		HaveEach(BeNumerically(">=", sentBefore+5)),
		WithTransform(func(v []float64) bool { return v[0] == v[1] && v[1] == v[2] }, BeTrue()),
	), "sent, lag count, events accepted by the platform")
	lag, ok := find(gather(g, reg), "obsyk_hub_ingest_agent_event_lag_seconds", agent)
	g.Expect(ok).To(BeTrue())
	g.Expect(lag.sum).To(BeNumerically(">", 0))
	g.Expect(value(g, reg, "obsyk_hub_ingest_agent_events_failed_total", with(agent, "reason", "temporary"))).To(Equal(0.0))
	g.Expect(value(g, reg, "obsyk_hub_ingest_agent_events_dropped_total", agent)).To(Equal(0.0))
	g.Eventually(func() float64 { return value(g, reg, "obsyk_hub_ingest_agent_outbox_depth", agent) }).
		WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(0.0))
	g.Expect(value(g, reg, "obsyk_hub_ingest_agent_outbox_oldest_pending_age_seconds", agent)).To(Equal(0.0))

	// The object gauges match the member's live objects.
	for _, k := range []transport.Kind{transport.KindConfigMap, transport.KindNamespace} {
		g.Eventually(func() []float64 {
			var n int
			switch k {
			case transport.KindConfigMap:
				l, err := member.Kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				n = len(l.Items)
			case transport.KindNamespace:
				l, err := member.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				n = len(l.Items)
			}
			return []float64{value(g, reg, "obsyk_hub_ingest_cluster_objects", with(cl, "kind", string(k))), float64(n)}
		}).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).Should(
			WithTransform(func(v []float64) bool { return v[0] == v[1] && v[0] > 0 }, BeTrue()), "%s", k)
	}
	g.Expect(seriesOf(g, reg, "obsyk_hub_ingest_cluster_kind_unavailable", "cluster", clusterName)).To(BeEmpty())

	problems, err := testutil.GatherAndLint(reg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(problems).To(BeEmpty())

	// A second agent of the cluster; unbinding the first removes its series only.
	other := map[string]string{"agent": "other/agent", "cluster": clusterName}
	g.Expect(h.m.Bind("other/agent", clusterName, AgentOptions{Sender: &countingSender{}})).To(Succeed())
	g.Eventually(func() float64 {
		return value(g, reg, "obsyk_hub_ingest_agent_snapshots_total", with(other, "reason", SnapshotInitial))
	}).WithTimeout(time.Minute).WithPolling(50 * time.Millisecond).Should(Equal(1.0))
	h.m.Unbind(agentKey)
	g.Expect(seriesOf(g, reg, "obsyk_hub_ingest_", "agent", agentKey)).To(BeEmpty())
	g.Expect(seriesOf(g, reg, "obsyk_hub_ingest_agent_", "agent", "other/agent")).To(ContainElements(
		"obsyk_hub_ingest_agent_events_sent_total", "obsyk_hub_ingest_agent_event_lag_seconds",
		"obsyk_hub_ingest_agent_snapshot_duration_seconds", "obsyk_hub_ingest_agent_outbox_depth"))

	// Disengaging the cluster removes its series; the agent stays bound, waiting for it.
	ectx, disengage := context.WithCancel(h.ctx)
	defer disengage()
	c, err := cluster.New(member.Config)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.m.Engage(ectx, clusterName, c)).To(Succeed())
	g.Eventually(func() float64 { return value(g, reg, "obsyk_hub_ingest_cluster_synced", cl) }).
		WithTimeout(time.Minute).WithPolling(50 * time.Millisecond).Should(Equal(1.0))
	g.Expect(seriesOf(g, reg, "obsyk_hub_ingest_cluster_", "cluster", clusterName)).NotTo(BeEmpty())
	disengage()
	g.Eventually(func() []string { return seriesOf(g, reg, "obsyk_hub_ingest_cluster_", "cluster", clusterName) }).
		WithTimeout(time.Minute).WithPolling(50 * time.Millisecond).Should(BeEmpty())
	_, bound := h.m.AgentStats("other/agent")
	g.Expect(bound).To(BeTrue())
	g.Expect(seriesOf(g, reg, "obsyk_hub_ingest_agent_", "agent", "other/agent")).NotTo(BeEmpty())
}

func TestAnAgentsSeriesGoWhenItIsBoundAnewOrTheManagerStops(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewPedanticRegistry()
	mt := NewMetrics(reg)
	m := NewManager(Options{Metrics: mt})
	g.Expect(m.Bind("ns/a", "one", AgentOptions{Sender: &countingSender{}})).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()

	// Bound to a cluster that is not engaged: the agent's series are there, no cluster's.
	g.Eventually(func() []string { return seriesOf(g, reg, "obsyk_hub_ingest_", "agent", "ns/a") }).
		WithTimeout(10 * time.Second).WithPolling(10 * time.Millisecond).Should(ContainElements(
		"obsyk_hub_ingest_agent_events_sent_total", "obsyk_hub_ingest_agent_event_lag_seconds",
		"obsyk_hub_ingest_agent_snapshot_duration_seconds", "obsyk_hub_ingest_agent_outbox_depth"))
	g.Expect(seriesOf(g, reg, "obsyk_hub_ingest_cluster_", "cluster", "one")).To(BeEmpty())
	problems, err := testutil.GatherAndLint(reg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(problems).To(BeEmpty())

	// Bound anew to another cluster: no series of the old binding is left.
	g.Expect(m.Bind("ns/a", "two", AgentOptions{Sender: &countingSender{}})).To(Succeed())
	g.Expect(seriesOf(g, reg, "obsyk_hub_ingest_", "cluster", "one")).To(BeEmpty())
	g.Expect(seriesOf(g, reg, "obsyk_hub_ingest_", "cluster", "two")).NotTo(BeEmpty())

	cancel()
	g.Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
	g.Expect(gather(g, reg)).To(BeEmpty(), "a stopped Manager leaves no series")
}

func TestNewMetricsRegistersOnce(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewPedanticRegistry()
	first := NewMetrics(reg)
	g.Expect(NewMetrics(reg)).To(BeIdenticalTo(first), "the same registry gets the Metrics registered first")
	g.Expect(NewMetrics(prometheus.NewPedanticRegistry())).NotTo(BeIdenticalTo(first))
	g.Expect(NewMetrics(nil)).NotTo(BeNil())

	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "obsyk_hub_ingest_agent_outbox_depth", Help: "other"}))
	g.Expect(func() { NewMetrics(clash) }).To(PanicWith(ContainSubstring("ingest: register metrics")))

	var none *Metrics // nil: no metrics, and no panic
	none.attach(nil)
	none.detach(nil)
	none.forget("a", "b")
	s, l := none.agentObservers("a", "b")
	g.Expect(s).To(BeNil())
	g.Expect(l).To(BeNil())
}
