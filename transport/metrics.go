package transport

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Endpoint label values.
const (
	endpointSnapshot  = "snapshot"
	endpointEvents    = "events"
	endpointHeartbeat = "heartbeat"
)

// Outcome label values of obsyk_hub_transport_requests_total (one per HTTP request).
const (
	outcomeSuccess      = "success"
	outcomeUnauthorized = "unauthorized"  // 401
	outcomeThrottled    = "throttled"     // 429
	outcomeClientError  = "client_error"  // other 4xx, 1xx, 3xx
	outcomeServerError  = "server_error"  // 5xx
	outcomeNetworkError = "network_error" // no response: dial, TLS, reset, timeout
	outcomeCanceled     = "canceled"      // the caller's context ended mid-request
)

// Metrics holds the transport's Prometheus collectors. One Metrics serves every Client of a
// process; it has no per-agent labels (their number is unbounded). A nil *Metrics records
// nothing.
type Metrics struct {
	requests       *prometheus.CounterVec
	retries        *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	sentBytes      *prometheus.CounterVec
	tokenRefreshes *prometheus.CounterVec
}

// NewMetrics creates the transport's collectors and registers them with reg (nil: not
// registered). Calling it again with the same registerer reuses the collectors registered
// the first time, so registration happens once.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "obsyk_hub_transport_requests_total",
			Help: "HTTP requests to the platform API, by endpoint and outcome (success, unauthorized, throttled, client_error, server_error, network_error, canceled).",
		}, []string{"endpoint", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "obsyk_hub_transport_retries_total",
			Help: "Requests to the platform API repeated after a failed attempt, by endpoint and reason (unauthorized, throttled, server_error, network_error).",
		}, []string{"endpoint", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "obsyk_hub_transport_request_duration_seconds",
			Help:    "Duration of one HTTP request to the platform API, body included, by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"endpoint"}),
		sentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "obsyk_hub_transport_sent_bytes_total",
			Help: "Request body bytes delivered to the platform API (requests that got a response), by endpoint.",
		}, []string{"endpoint"}),
		tokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "obsyk_hub_transport_token_refreshes_total",
			Help: "Token exchanges with the platform's /oauth/token, by outcome (success, failure).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.retries = register(reg, m.retries)
		m.duration = register(reg, m.duration)
		m.sentBytes = register(reg, m.sentBytes)
		m.tokenRefreshes = register(reg, m.tokenRefreshes)
	}
	return m
}

// register registers c, or returns the equal collector registered before.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *Metrics) observeRequest(endpoint, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, outcome).Inc()
	m.duration.WithLabelValues(endpoint).Observe(d.Seconds())
}

func (m *Metrics) retry(endpoint, reason string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(endpoint, reason).Inc()
}

func (m *Metrics) sent(endpoint string, n int64) {
	if m == nil {
		return
	}
	m.sentBytes.WithLabelValues(endpoint).Add(float64(n))
}

func (m *Metrics) tokenRefresh(err error) {
	if m == nil {
		return
	}
	outcome := "success"
	if err != nil {
		outcome = "failure"
	}
	m.tokenRefreshes.WithLabelValues(outcome).Inc()
}
