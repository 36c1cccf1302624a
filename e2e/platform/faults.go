package platform

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Endpoint names one of the simulator's four endpoints.
type Endpoint string

// The contract's endpoints (§1.1).
const (
	EndpointToken     Endpoint = "token"     // POST /oauth/token
	EndpointSnapshot  Endpoint = "snapshot"  // POST /api/v1/agent/snapshot
	EndpointEvents    Endpoint = "events"    // POST /api/v1/agent/events
	EndpointHeartbeat Endpoint = "heartbeat" // POST /api/v1/agent/heartbeat
	// EndpointOther is any other path (answered 404); faults never apply to it.
	EndpointOther Endpoint = "other"
)

// APIEndpoints are the endpoints a Fault applies to when it names none.
var APIEndpoints = []Endpoint{EndpointSnapshot, EndpointEvents, EndpointHeartbeat}

var allEndpoints = []Endpoint{EndpointToken, EndpointSnapshot, EndpointEvents, EndpointHeartbeat}

// FaultMode is what a fault does to a request it hits.
type FaultMode string

const (
	// FaultStatus answers Fault.Status (default 503) with a JSON error body. The request is
	// not processed: no state changes.
	FaultStatus FaultMode = "status"
	// FaultRateLimited answers 429 with `Retry-After` (Fault.RetryAfter, rounded up to whole
	// seconds, or an HTTP-date when Fault.RetryAfterHTTPDate). Not processed.
	FaultRateLimited FaultMode = "rate-limited"
	// FaultLatency delays the request by Fault.Latency, then processes it normally (other
	// faults still apply). Several latency faults add up.
	FaultLatency FaultMode = "latency"
	// FaultCloseConnection closes the connection without reading the body or answering
	// (HTTP/1.1: hijack and close; HTTP/2: reset the stream). Not processed.
	FaultCloseConnection FaultMode = "close-connection"
	// FaultDropResponse processes the request completely (state applied, token issued,
	// jti consumed) and then closes the connection instead of answering. The client sees a
	// connection error and will retry; the state must tolerate the duplicate.
	FaultDropResponse FaultMode = "drop-response"
)

// Fault is one injected failure. A fault hits the requests to its Endpoints while it is
// active; it stops being active when Count hits are used up, when Until passes, or on
// Faults.Clear. With Count 0, Probability 0 and Until zero it hits every matching request
// until cleared.
//
// Faults are checked in the order they were injected: every latency fault that hits adds its
// delay; the first other fault that hits decides the outcome, and later ones are not
// consulted (and do not use up their Count).
//
// Examples:
//
//	Fault{Mode: FaultStatus, Status: 500, Count: 2}                          // next two API requests fail
//	Fault{Mode: FaultStatus, Status: 503, Probability: 0.3}                  // 30 % of API requests fail
//	Fault{Mode: FaultStatus, Status: 503, Until: time.Now().Add(time.Minute)} // outage window
//	Fault{Mode: FaultRateLimited, RetryAfter: 2 * time.Second, Count: 1}
//	Fault{Mode: FaultDropResponse, Count: 1, Endpoints: []Endpoint{EndpointEvents}}
type Fault struct {
	Mode FaultMode
	// Status is FaultStatus's answer, 400–599. Default 503.
	Status int
	// RetryAfter is FaultRateLimited's Retry-After, rounded up to whole seconds. Default 0:
	// the header is left out.
	RetryAfter time.Duration
	// RetryAfterHTTPDate sends Retry-After as an HTTP-date (now + RetryAfter) instead of
	// delta-seconds. Default false.
	RetryAfterHTTPDate bool
	// Latency is FaultLatency's added delay (cut short if the client goes away). Required
	// for FaultLatency.
	Latency time.Duration
	// Count is how many requests the fault hits before it is used up. Default 0: no limit.
	Count int
	// Probability is the chance, in (0, 1], that a matching request is hit. Default 0:
	// every matching request.
	Probability float64
	// Until ends the fault at this time (the simulator's clock, Options.Now). Default zero:
	// no end.
	Until time.Time
	// Endpoints are the endpoints the fault applies to. Default nil: APIEndpoints (the token
	// endpoint is hit only when listed).
	Endpoints []Endpoint
}

// validate checks a fault and fills its defaults.
func (f *Fault) validate() error {
	switch f.Mode {
	case FaultStatus:
		if f.Status == 0 {
			f.Status = 503
		}
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("fault status %d: want 400-599", f.Status)
		}
	case FaultRateLimited:
		if f.RetryAfter < 0 {
			return fmt.Errorf("fault retry-after %s: must not be negative", f.RetryAfter)
		}
	case FaultLatency:
		if f.Latency <= 0 {
			return fmt.Errorf("latency fault needs a positive latency")
		}
	case FaultCloseConnection, FaultDropResponse:
	default:
		return fmt.Errorf("unknown fault mode %q", f.Mode)
	}
	if f.Count < 0 {
		return fmt.Errorf("fault count %d: must not be negative", f.Count)
	}
	if f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("fault probability %v: want 0 to 1", f.Probability)
	}
	for _, e := range f.Endpoints {
		if !slices.Contains(allEndpoints, e) {
			return fmt.Errorf("fault endpoint %q: want one of token, snapshot, events, heartbeat", e)
		}
	}
	if len(f.Endpoints) == 0 {
		f.Endpoints = slices.Clone(APIEndpoints)
	} else {
		f.Endpoints = slices.Clone(f.Endpoints)
	}
	return nil
}

// ActiveFault is an injected fault that is still active.
type ActiveFault struct {
	Fault
	ID   int // assigned at injection, for Remove
	Hits int // requests hit so far
	// Remaining is how many hits are left; -1 when the fault has no Count.
	Remaining int
}

// Faults injects failures into the simulator's endpoints. It is safe for concurrent use.
type Faults struct {
	now          func() time.Time
	expireTokens func()

	mu sync.Mutex // guards active, nextID, rng, hits, tokenExpiries
	// active are the faults still in effect, in injection order.
	active []*ActiveFault
	nextID int
	rng    *mrand.Rand
	// hits counts the requests hit, by mode, over the server's lifetime.
	hits map[FaultMode]int
	// tokenExpiries counts ExpireTokens calls.
	tokenExpiries int
}

func newFaults(now func() time.Time, seed uint64, expireTokens func()) *Faults {
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	return &Faults{
		now:          now,
		expireTokens: expireTokens,
		rng:          mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		hits:         map[FaultMode]int{},
	}
}

// Inject adds a fault and returns its id. It fails on an invalid fault (unknown mode, a
// status outside 400–599, a latency fault without latency, a probability outside [0, 1],
// an unknown endpoint).
func (fs *Faults) Inject(f Fault) (int, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	rem := -1
	if f.Count > 0 {
		rem = f.Count
	}
	fs.active = append(fs.active, &ActiveFault{Fault: f, ID: fs.nextID, Remaining: rem})
	return fs.nextID, nil
}

// Remove deactivates the fault with the given id; it reports whether it was active.
func (fs *Faults) Remove(id int) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, a := range fs.active {
		if a.ID == id {
			fs.active = slices.Delete(fs.active, i, i+1)
			return true
		}
	}
	return false
}

// Clear deactivates every fault.
func (fs *Faults) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.active = nil
}

// Active returns the faults still in effect, in injection order.
func (fs *Faults) Active() []ActiveFault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expireLocked(fs.now())
	out := make([]ActiveFault, 0, len(fs.active))
	for _, a := range fs.active {
		c := *a
		c.Endpoints = slices.Clone(a.Endpoints)
		out = append(out, c)
	}
	return out
}

// ExpireTokens makes every access token issued so far expired, now. Requests that carry one
// get 401 invalid_token; new tokens work as usual.
func (fs *Faults) ExpireTokens() {
	fs.mu.Lock()
	fs.tokenExpiries++
	fs.mu.Unlock()
	fs.expireTokens()
}

// decision is what the faults do to one request.
type decision struct {
	latency time.Duration
	// fault is the deciding (non-latency) fault, nil when none hit.
	fault *Fault
}

// decide picks the faults that hit one request to ep, using up their counts.
func (fs *Faults) decide(ep Endpoint) decision {
	var d decision
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expireLocked(fs.now())
	kept := fs.active[:0]
	for _, a := range fs.active {
		if d.fault == nil || a.Mode == FaultLatency {
			if slices.Contains(a.Endpoints, ep) && (a.Probability == 0 || fs.rng.Float64() < a.Probability) {
				a.Hits++
				fs.hits[a.Mode]++
				if a.Remaining > 0 {
					a.Remaining--
				}
				if a.Mode == FaultLatency {
					d.latency += a.Latency
				} else {
					f := a.Fault
					d.fault = &f
				}
			}
		}
		if a.Remaining != 0 {
			kept = append(kept, a)
		}
	}
	clear(fs.active[len(kept):])
	fs.active = kept
	return d
}

// expireLocked drops faults whose Until has passed. fs.mu must be held.
func (fs *Faults) expireLocked(now time.Time) {
	fs.active = slices.DeleteFunc(fs.active, func(a *ActiveFault) bool {
		return !a.Until.IsZero() && !now.Before(a.Until)
	})
}

// counters returns the hits by mode and the number of token expiries.
func (fs *Faults) counters() (map[FaultMode]int, int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	m := make(map[FaultMode]int, len(fs.hits))
	for k, v := range fs.hits {
		m[k] = v
	}
	return m, fs.tokenExpiries
}
