package platform

import (
	"net"
	"sort"
	"time"
)

// RequestRecord is one request as the simulator saw it.
type RequestRecord struct {
	Time     time.Time     `json:"time"` // arrival, on the simulator's clock
	Duration time.Duration `json:"duration_ns"`
	// BodyRead is how long after arrival the body had been read in full; 0 when it was not
	// read for processing (rejected or faulted before). Duration minus BodyRead is the time
	// spent validating and applying it.
	BodyRead time.Duration `json:"body_read_ns,omitempty"`
	Endpoint Endpoint      `json:"endpoint"`
	Method   string        `json:"method"`
	Path     string        `json:"path"`
	// Status is the HTTP status answered, or that would have been answered when
	// ResponseDropped. 0 when the connection was closed without processing (a
	// close-connection fault, or the client went away during injected latency).
	Status int `json:"status"`
	// Accepted is true when the request changed state: a token was issued or a body was
	// applied (also when the response was then dropped).
	Accepted bool `json:"accepted"`
	// ResponseDropped is true when a drop-response fault closed the connection after the
	// request was processed.
	ResponseDropped bool `json:"response_dropped,omitempty"`
	// Fault is the deciding fault's mode, if one hit ("" otherwise; latency faults are in
	// Latency).
	Fault   FaultMode     `json:"fault,omitempty"`
	Latency time.Duration `json:"latency_ns,omitempty"` // injected latency
	// Error is why the request was rejected (the error_description sent).
	Error      string `json:"error,omitempty"`
	ClusterUID string `json:"cluster_uid,omitempty"`
	// Subject is the client_id: the bearer token's owner, or the assertion's iss on a token
	// request (as claimed, before verification).
	Subject              string `json:"subject,omitempty"`
	RemoteAddr           string `json:"remote_addr"`
	ContentLengthPresent bool   `json:"content_length_present"`
	Bytes                int64  `json:"bytes"` // body bytes read
	EventType            string `json:"event_type,omitempty"`
	EventKind            string `json:"event_kind,omitempty"`
	EventUID             string `json:"event_uid,omitempty"`
}

// ClientStats are the counters for one client, keyed either by client_id (token subject)
// or by remote IP address.
type ClientStats struct {
	TokenRequests int `json:"token_requests"` // requests to /oauth/token
	TokensIssued  int `json:"tokens_issued"`  // of which a token was issued
	// EventRequests counts requests to the events endpoint (every attempt, whatever its
	// outcome; by subject only once the bearer token was recognised).
	EventRequests int `json:"event_requests"`
	// Events counts accepted events (applied to state).
	Events int `json:"events"`
	// MaxEventRequestsPerSecond is the most EventRequests that arrived within any 1-second
	// sliding window (by arrival time).
	MaxEventRequestsPerSecond int `json:"max_event_requests_per_second"`
	// MaxEventsPerSecond is the most accepted events that arrived within any 1-second
	// sliding window (by arrival time). A hub limited to N/s with burst B must keep it at
	// most N+B.
	MaxEventsPerSecond int `json:"max_events_per_second"`
}

// Stats are the simulator's counters since it was created. Every map is non-nil.
type Stats struct {
	// Requests counts requests by endpoint and answered status (see RequestRecord.Status).
	Requests map[Endpoint]map[int]int `json:"requests"`
	// BytesReceived sums request body bytes read.
	BytesReceived int64 `json:"bytes_received"`
	// MissingContentLength counts requests without a Content-Length (chunked bodies).
	MissingContentLength int `json:"missing_content_length"`
	// EventsByCluster counts accepted events by cluster_uid.
	EventsByCluster map[string]int `json:"events_by_cluster"`
	// Clients are per client_id: token requests by the assertion's iss, events by the
	// bearer token's subject.
	Clients map[string]ClientStats `json:"clients"`
	// RemoteIPs are the same counters per remote IP address.
	RemoteIPs map[string]ClientStats `json:"remote_ips"`
	// FaultHits counts requests hit by injected faults, by mode.
	FaultHits map[FaultMode]int `json:"fault_hits"`
	// TokenExpiries counts Faults.ExpireTokens calls.
	TokenExpiries int `json:"token_expiries"`
}

// Total returns the number of requests to ep with the given status.
func (s Stats) Total(ep Endpoint, status int) int { return s.Requests[ep][status] }

// clientCounters are the live counters behind one ClientStats.
type clientCounters struct {
	ClientStats
	requests rateWindow
	accepted rateWindow
}

// windowHorizon is how far out of order (by arrival time) a request may be recorded and
// still count in the sliding windows.
const windowHorizon = time.Minute

// rateWindow finds the most points that fall in any 1-second window (t-1s, t]. Points may
// arrive out of order by up to windowHorizon.
type rateWindow struct {
	times []time.Time // sorted
	max   int
}

func (w *rateWindow) add(t time.Time) {
	i := sort.Search(len(w.times), func(i int) bool { return w.times[i].After(t) })
	w.times = append(w.times, time.Time{})
	copy(w.times[i+1:], w.times[i:])
	w.times[i] = t
	// Only the windows that end at t or at a later point less than 1 s after it grew.
	for j := i; j < len(w.times) && w.times[j].Sub(t) < time.Second; j++ {
		end := w.times[j]
		lo := sort.Search(len(w.times), func(k int) bool { return w.times[k].After(end.Add(-time.Second)) })
		if n := j - lo + 1; n > w.max {
			w.max = n
		}
	}
	if newest := w.times[len(w.times)-1]; newest.Sub(w.times[0]) > 2*windowHorizon {
		cut := sort.Search(len(w.times), func(k int) bool { return !w.times[k].Before(newest.Add(-windowHorizon)) })
		w.times = append([]time.Time(nil), w.times[cut:]...)
	}
}

// recordStats adds one finished request to the counters and the request log.
func (s *Server) recordStats(rec *RequestRecord) {
	ip := remoteIP(rec.RemoteAddr)
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	byStatus := s.requests[rec.Endpoint]
	if byStatus == nil {
		byStatus = map[int]int{}
		s.requests[rec.Endpoint] = byStatus
	}
	byStatus[rec.Status]++
	s.bytesReceived += rec.Bytes
	if !rec.ContentLengthPresent {
		s.missingContentLength++
	}
	if rec.Endpoint == EndpointEvents && rec.Accepted && rec.ClusterUID != "" {
		s.eventsByCluster[rec.ClusterUID]++
	}
	update := func(cs *clientCounters) {
		switch rec.Endpoint {
		case EndpointToken:
			cs.TokenRequests++
			if rec.Accepted {
				cs.TokensIssued++
			}
		case EndpointEvents:
			cs.EventRequests++
			cs.requests.add(rec.Time)
			cs.MaxEventRequestsPerSecond = cs.requests.max
			if rec.Accepted {
				cs.Events++
				cs.accepted.add(rec.Time)
				cs.MaxEventsPerSecond = cs.accepted.max
			}
		}
	}
	if rec.Subject != "" && (rec.Endpoint == EndpointToken || rec.Endpoint == EndpointEvents) {
		update(counterFor(s.clientStats, rec.Subject))
	}
	if rec.Endpoint == EndpointToken || rec.Endpoint == EndpointEvents {
		update(counterFor(s.ipStats, ip))
	}
	if s.opts.RequestLogSize > 0 {
		if len(s.reqLog) < s.opts.RequestLogSize {
			s.reqLog = append(s.reqLog, *rec)
		} else {
			s.reqLog[s.reqLogNext] = *rec
			s.reqLogNext = (s.reqLogNext + 1) % len(s.reqLog)
		}
	}
}

func counterFor(m map[string]*clientCounters, key string) *clientCounters {
	c := m[key]
	if c == nil {
		c = &clientCounters{}
		m[key] = c
	}
	return c
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	hits, expiries := s.faults.counters()
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := Stats{
		Requests:             make(map[Endpoint]map[int]int, len(s.requests)),
		BytesReceived:        s.bytesReceived,
		MissingContentLength: s.missingContentLength,
		EventsByCluster:      make(map[string]int, len(s.eventsByCluster)),
		Clients:              make(map[string]ClientStats, len(s.clientStats)),
		RemoteIPs:            make(map[string]ClientStats, len(s.ipStats)),
		FaultHits:            hits,
		TokenExpiries:        expiries,
	}
	for ep, m := range s.requests {
		c := make(map[int]int, len(m))
		for k, v := range m {
			c[k] = v
		}
		st.Requests[ep] = c
	}
	for k, v := range s.eventsByCluster {
		st.EventsByCluster[k] = v
	}
	for k, v := range s.clientStats {
		st.Clients[k] = v.ClientStats
	}
	for k, v := range s.ipStats {
		st.RemoteIPs[k] = v.ClientStats
	}
	return st
}

// Requests returns the most recent requests (at most Options.RequestLogSize), oldest first.
func (s *Server) Requests() []RequestRecord {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	out := make([]RequestRecord, 0, len(s.reqLog))
	out = append(out, s.reqLog[s.reqLogNext:]...)
	out = append(out, s.reqLog[:s.reqLogNext]...)
	return out
}

func remoteIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
