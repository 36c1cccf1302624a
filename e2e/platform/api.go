package platform

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Paths of the contract (§1.1). Only these exact paths are served: a client that joins a
// platformURL with a trailing `/` sends `//oauth/token` and gets 404, as it should.
const (
	PathToken     = "/oauth/token"
	PathSnapshot  = "/api/v1/agent/snapshot"
	PathEvents    = "/api/v1/agent/events"
	PathHeartbeat = "/api/v1/agent/heartbeat"
)

func endpointFor(path string) Endpoint {
	switch path {
	case PathToken:
		return EndpointToken
	case PathSnapshot:
		return EndpointSnapshot
	case PathEvents:
		return EndpointEvents
	case PathHeartbeat:
		return EndpointHeartbeat
	}
	return EndpointOther
}

// ServeHTTP serves the platform's four endpoints, applying injected faults first.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := endpointFor(r.URL.Path)
	rec := &exchange{start: time.Now(), RequestRecord: RequestRecord{
		Time:                 s.opts.Now(),
		Endpoint:             ep,
		Method:               r.Method,
		Path:                 r.URL.Path,
		RemoteAddr:           r.RemoteAddr,
		ContentLengthPresent: r.ContentLength >= 0,
	}}
	defer s.finish(rec) // for the paths that end without an answer

	if ep == EndpointOther {
		s.writeOAuthError(w, rec, &oauthError{http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint at %q", r.URL.Path)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeOAuthError(w, rec, &oauthError{http.StatusMethodNotAllowed, "method_not_allowed", "want POST, got " + r.Method})
		return
	}

	d := s.faults.decide(ep)
	if d.latency > 0 {
		rec.Latency = d.latency
		t := time.NewTimer(d.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			rec.Error = "client went away during injected latency"
			return
		}
	}
	if d.fault != nil {
		rec.Fault = d.fault.Mode
		switch d.fault.Mode {
		case FaultCloseConnection:
			rec.Error = "connection closed by an injected fault"
			s.finish(rec)
			abortConnection(w)
			return
		case FaultStatus:
			s.drainBody(r, rec)
			s.writeOAuthError(w, rec, &oauthError{d.fault.Status, "injected_fault",
				fmt.Sprintf("injected fault: status %d", d.fault.Status)})
			return
		case FaultRateLimited:
			s.drainBody(r, rec)
			if ra := d.fault.RetryAfter; ra > 0 {
				if d.fault.RetryAfterHTTPDate {
					w.Header().Set("Retry-After", s.opts.Now().Add(ra).UTC().Format(http.TimeFormat))
				} else {
					secs := int64((ra + time.Second - 1) / time.Second)
					w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
				}
			}
			s.writeOAuthError(w, rec, &oauthError{http.StatusTooManyRequests, "rate_limited", "injected fault: too many requests"})
			return
		case FaultDropResponse:
			// Process for real against a writer that discards the answer, then cut the
			// connection.
			rec.ResponseDropped = true
			s.serveEndpoint(discardWriter{h: http.Header{}}, r, rec)
			abortConnection(w)
			return
		}
	}
	s.serveEndpoint(w, r, rec)
}

func (s *Server) serveEndpoint(w http.ResponseWriter, r *http.Request, rec *exchange) {
	if rec.Endpoint == EndpointToken {
		s.serveToken(w, r, rec)
		return
	}
	s.serveAPI(w, r, rec)
}

// serveAPI is POST /api/v1/agent/{snapshot,events,heartbeat} (§3).
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rec *exchange) {
	subject, aerr := s.authenticate(r)
	rec.Subject = subject
	if aerr != nil {
		s.drainBody(r, rec)
		s.writeOAuthError(w, rec, aerr)
		return
	}
	if r.URL.RawQuery != "" {
		s.drainBody(r, rec)
		s.writeOAuthError(w, rec, invalidRequest("the API takes no query string"))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.drainBody(r, rec)
		s.writeOAuthError(w, rec, &oauthError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type: want application/json, got %q", ct)})
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" {
		s.drainBody(r, rec)
		s.writeOAuthError(w, rec, &oauthError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Encoding %q: request bodies are never compressed (§1.2)", ce)})
		return
	}
	body, oerr := s.readBody(w, r, rec, s.opts.MaxBodyBytes)
	if oerr != nil {
		s.writeOAuthError(w, rec, oerr)
		return
	}

	var err error
	switch rec.Endpoint {
	case EndpointSnapshot:
		var sb *snapshotBody
		if sb, err = parseSnapshot(body); err == nil {
			rec.ClusterUID = sb.clusterUID
			s.applySnapshot(sb)
		}
	case EndpointEvents:
		var eb *eventBody
		if eb, err = parseEvent(body); err == nil {
			rec.ClusterUID, rec.EventType, rec.EventKind, rec.EventUID = eb.clusterUID, eb.typ, eb.kind, eb.uid
			s.applyEvent(eb)
		}
	case EndpointHeartbeat:
		var hb *heartbeatBody
		if hb, err = parseHeartbeat(body); err == nil {
			rec.ClusterUID = hb.clusterUID
			s.applyHeartbeat(hb)
		}
	}
	if err != nil {
		s.writeValidationError(w, rec, err)
		return
	}
	rec.Accepted = true
	s.respond(w, rec, http.StatusOK, map[string]any{})
}

func (s *Server) writeValidationError(w http.ResponseWriter, rec *exchange, err error) {
	problems := []string{err.Error()}
	var ve *ValidationError
	if errors.As(err, &ve) {
		problems = ve.Problems
	}
	rec.Error = err.Error()
	s.respond(w, rec, http.StatusBadRequest, map[string]any{
		"error":             "invalid_body",
		"error_description": err.Error(),
		"problems":          problems,
	})
}

// readBody reads the whole body, at most limit bytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, rec *exchange, limit int64) ([]byte, *oauthError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	rec.Bytes += int64(len(body))
	rec.BodyRead = time.Since(rec.start)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &oauthError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body exceeds %d bytes", limit)}
		}
		return nil, invalidRequest("read body: %v", err)
	}
	return body, nil
}

// drainBody reads and counts a body that will not be used (at most MaxBodyBytes), so the
// client sees a clean answer rather than a reset.
func (s *Server) drainBody(r *http.Request, rec *exchange) {
	n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, s.opts.MaxBodyBytes))
	rec.Bytes += n
}

// applySnapshot replaces the cluster's objects (every kind).
func (s *Server) applySnapshot(sb *snapshotBody) {
	now := s.opts.Now()
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	c := s.clusterLocked(sb.clusterUID)
	c.ClusterName = sb.clusterName
	c.AgentVersion = sb.agentVersion
	c.Objects = sb.objects
	c.Snapshots++
	c.LastSnapshot = now
}

// applyEvent applies one change idempotently: added and modified upsert by uid; deleted
// removes, and a delete of an unknown uid is counted in UnknownDeletes.
func (s *Server) applyEvent(eb *eventBody) {
	now := s.opts.Now()
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	c := s.clusterLocked(eb.clusterUID)
	if c.Snapshots == 0 {
		c.EventsBeforeSnapshot++
	}
	c.Events++
	c.LastEvent = now
	byUID := c.Objects[eb.kind]
	if byUID == nil {
		byUID = map[string]Object{}
		c.Objects[eb.kind] = byUID
	}
	switch eb.typ {
	case EventAdded, EventModified:
		byUID[eb.uid] = Object{Kind: eb.kind, UID: eb.uid, Name: eb.name, Namespace: eb.namespace, Record: eb.object}
	case EventDeleted:
		if _, ok := byUID[eb.uid]; !ok {
			c.UnknownDeletes++
		}
		delete(byUID, eb.uid)
	}
}

func (s *Server) applyHeartbeat(hb *heartbeatBody) {
	now := s.opts.Now()
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	c := s.clusterLocked(hb.clusterUID)
	if c.Snapshots == 0 {
		c.HeartbeatsBeforeSnapshot++
	}
	c.Heartbeats++
	c.LastHeartbeat = now
	c.AgentVersion = hb.agentVersion
}

// exchange is one request in flight: its record and when it started.
type exchange struct {
	RequestRecord
	start    time.Time
	finished bool
}

// finish records the request in the stats, the request log and the log, once.
func (s *Server) finish(rec *exchange) {
	if rec.finished {
		return
	}
	rec.finished = true
	rec.Duration = time.Since(rec.start)
	s.recordStats(&rec.RequestRecord)
	s.logRequest(&rec.RequestRecord)
}

func (s *Server) logRequest(rec *RequestRecord) {
	kv := []any{"endpoint", rec.Endpoint, "status", rec.Status, "duration", rec.Duration}
	if rec.ClusterUID != "" {
		kv = append(kv, "cluster", rec.ClusterUID)
	}
	if rec.Subject != "" {
		kv = append(kv, "client", rec.Subject)
	}
	if rec.EventKind != "" {
		kv = append(kv, "type", rec.EventType, "kind", rec.EventKind, "uid", rec.EventUID)
	}
	if rec.Fault != "" {
		kv = append(kv, "fault", rec.Fault)
	}
	if rec.Error != "" && rec.Fault == "" {
		s.log.Info("request rejected", append(kv, "reason", rec.Error)...)
		return
	}
	s.log.V(1).Info("request", kv...)
}

// abortConnection closes the connection without an answer: HTTP/1.1 hijacks and closes it;
// HTTP/2 (no Hijacker) resets the stream via http.ErrAbortHandler, which net/http recovers
// silently.
func abortConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// discardWriter is the ResponseWriter of a request whose answer will be dropped.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
