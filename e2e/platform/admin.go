package platform

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// FaultRequest is the JSON form of a Fault for the admin endpoint POST /faults. Durations
// are Go duration strings ("250ms", "2s").
type FaultRequest struct {
	Mode               FaultMode  `json:"mode"`
	Status             int        `json:"status,omitempty"`
	RetryAfter         string     `json:"retry_after,omitempty"`
	RetryAfterHTTPDate bool       `json:"retry_after_http_date,omitempty"`
	Latency            string     `json:"latency,omitempty"`
	Count              int        `json:"count,omitempty"`
	Probability        float64    `json:"probability,omitempty"`
	Until              *time.Time `json:"until,omitempty"`
	// For sets Until to now + For (an outage window of that length).
	For       string     `json:"for,omitempty"`
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// Fault converts the request; now is the base for For.
func (fr FaultRequest) Fault(now time.Time) (Fault, error) {
	f := Fault{
		Mode: fr.Mode, Status: fr.Status, RetryAfterHTTPDate: fr.RetryAfterHTTPDate,
		Count: fr.Count, Probability: fr.Probability, Endpoints: fr.Endpoints,
	}
	var err error
	if f.RetryAfter, err = parseOptionalDuration("retry_after", fr.RetryAfter); err != nil {
		return f, err
	}
	if f.Latency, err = parseOptionalDuration("latency", fr.Latency); err != nil {
		return f, err
	}
	forD, err := parseOptionalDuration("for", fr.For)
	if err != nil {
		return f, err
	}
	switch {
	case fr.Until != nil && forD != 0:
		return f, fmt.Errorf("give until or for, not both")
	case fr.Until != nil:
		f.Until = *fr.Until
	case forD != 0:
		f.Until = now.Add(forD)
	}
	return f, nil
}

func parseOptionalDuration(name, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// activeFaultJSON is how GET /faults lists a fault.
type activeFaultJSON struct {
	ID                 int        `json:"id"`
	Mode               FaultMode  `json:"mode"`
	Status             int        `json:"status,omitempty"`
	RetryAfter         string     `json:"retry_after,omitempty"`
	RetryAfterHTTPDate bool       `json:"retry_after_http_date,omitempty"`
	Latency            string     `json:"latency,omitempty"`
	Count              int        `json:"count,omitempty"`
	Probability        float64    `json:"probability,omitempty"`
	Until              *time.Time `json:"until,omitempty"`
	Endpoints          []Endpoint `json:"endpoints"`
	Hits               int        `json:"hits"`
	Remaining          int        `json:"remaining"`
}

// clientRequest is the body of POST /clients.
type clientRequest struct {
	ClientID     string `json:"client_id"`
	PublicKeyPEM string `json:"public_key_pem"`
}

// AdminHandler serves the simulator's admin API, meant for a separate, local listener (it
// has no authentication):
//
//	GET  /clusters              the known cluster_uids
//	GET  /clusters/{uid}        one ClusterState (404 if unknown)
//	GET  /stats                 Stats
//	GET  /requests              the recent RequestRecords
//	GET  /faults                the active faults
//	POST /faults                inject a fault (FaultRequest); answers {"id": N}
//	POST /faults/clear          remove every fault
//	POST /faults/expire-tokens  expire every issued access token now
//	POST /clients               register a client {"client_id": "...", "public_key_pem": "..."}
//	GET  /ca                    the CA certificate (PEM) that clients of the platform URL must
//	                            trust; 404 with PlainHTTP
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ca", func(w http.ResponseWriter, _ *http.Request) {
		ca := s.CACertPEM()
		if ca == nil {
			adminError(w, http.StatusNotFound, fmt.Errorf("the simulator serves plain http: there is no CA"))
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(ca) // the client may have gone; nothing to do about it
	})
	mux.HandleFunc("GET /clusters", func(w http.ResponseWriter, _ *http.Request) {
		adminJSON(w, http.StatusOK, s.Clusters())
	})
	mux.HandleFunc("GET /clusters/{uid}", func(w http.ResponseWriter, r *http.Request) {
		uid := r.PathValue("uid")
		if !s.hasCluster(uid) {
			adminError(w, http.StatusNotFound, fmt.Errorf("unknown cluster %q", uid))
			return
		}
		adminJSON(w, http.StatusOK, s.Cluster(uid))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		adminJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, _ *http.Request) {
		adminJSON(w, http.StatusOK, s.Requests())
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		active := s.faults.Active()
		out := make([]activeFaultJSON, 0, len(active))
		for _, a := range active {
			j := activeFaultJSON{
				ID: a.ID, Mode: a.Mode, Status: a.Status, RetryAfterHTTPDate: a.RetryAfterHTTPDate,
				Count: a.Count, Probability: a.Probability, Endpoints: a.Endpoints,
				Hits: a.Hits, Remaining: a.Remaining,
			}
			if a.RetryAfter != 0 {
				j.RetryAfter = a.RetryAfter.String()
			}
			if a.Latency != 0 {
				j.Latency = a.Latency.String()
			}
			if !a.Until.IsZero() {
				u := a.Until
				j.Until = &u
			}
			out = append(out, j)
		}
		adminJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var fr FaultRequest
		if err := decodeAdmin(r, &fr); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		f, err := fr.Fault(s.opts.Now())
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		id, err := s.faults.Inject(f)
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, map[string]int{"id": id})
	})
	mux.HandleFunc("POST /faults/clear", func(w http.ResponseWriter, _ *http.Request) {
		s.faults.Clear()
		adminJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("POST /faults/expire-tokens", func(w http.ResponseWriter, _ *http.Request) {
		s.faults.ExpireTokens()
		adminJSON(w, http.StatusOK, map[string]any{})
	})
	mux.HandleFunc("POST /clients", func(w http.ResponseWriter, r *http.Request) {
		var cr clientRequest
		if err := decodeAdmin(r, &cr); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		if err := s.RegisterClientPEM(cr.ClientID, []byte(cr.PublicKeyPEM)); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, map[string]any{})
	})
	return mux
}

func (s *Server) hasCluster(uid string) bool {
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	_, ok := s.clusters[uid]
	return ok
}

func decodeAdmin(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may have gone; nothing to do about it
}

func adminError(w http.ResponseWriter, status int, err error) {
	adminJSON(w, status, map[string]string{"error": err.Error()})
}
