package clusterregistry

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registryMetrics are the per-cluster series. Every series of a cluster is deleted when the
// cluster is removed.
type registryMetrics struct {
	up        *prometheus.GaugeVec
	lastProbe *prometheus.GaugeVec
	failures  *prometheus.CounterVec
	connects  *prometheus.CounterVec
	invalid   *prometheus.GaugeVec
}

func newRegistryMetrics(reg prometheus.Registerer) (*registryMetrics, error) {
	m := &registryMetrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "obsyk_hub_cluster_connection_up",
			Help: "1 when the hub is connected to the member cluster, else 0.",
		}, []string{"cluster"}),
		lastProbe: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "obsyk_hub_cluster_last_probe_success_timestamp_seconds",
			Help: "Unix time of the member cluster's last successful health probe.",
		}, []string{"cluster"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "obsyk_hub_cluster_probe_failures_total",
			Help: "Failed health probes of the member cluster.",
		}, []string{"cluster"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "obsyk_hub_cluster_connections_total",
			Help: "Connections established to the member cluster (1 plus reconnections).",
		}, []string{"cluster"}),
		invalid: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "obsyk_hub_cluster_kubeconfig_rejected",
			Help: "1, with the reason, when the member cluster's kubeconfig Secret is rejected.",
		}, []string{"cluster", "reason"}),
	}
	var err error
	m.up, err = register(reg, m.up)
	if err != nil {
		return nil, err
	}
	if m.lastProbe, err = register(reg, m.lastProbe); err != nil {
		return nil, err
	}
	if m.failures, err = register(reg, m.failures); err != nil {
		return nil, err
	}
	if m.connects, err = register(reg, m.connects); err != nil {
		return nil, err
	}
	if m.invalid, err = register(reg, m.invalid); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under its name (a
// second Registry in one process shares the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}

func (m *registryMetrics) setConnected(cluster string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(cluster).Set(v)
	m.invalid.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
}

func (m *registryMetrics) setInvalid(cluster, reason string) {
	m.up.WithLabelValues(cluster).Set(0)
	m.invalid.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
	m.invalid.WithLabelValues(cluster, reason).Set(1)
}

func (m *registryMetrics) delete(cluster string) {
	l := prometheus.Labels{"cluster": cluster}
	m.up.DeletePartialMatch(l)
	m.lastProbe.DeletePartialMatch(l)
	m.failures.DeletePartialMatch(l)
	m.connects.DeletePartialMatch(l)
	m.invalid.DeletePartialMatch(l)
}
