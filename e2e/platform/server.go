package platform

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// Options configure a Server. The zero value is valid.
type Options struct {
	// Addr is the listen address. Default "127.0.0.1:0" (a free loopback port).
	Addr string
	// PlainHTTP serves http:// instead of https://. Default false: HTTPS with a CA
	// generated in memory (see CACertPEM).
	PlainHTTP bool
	// TokenLifetime is the lifetime of issued access tokens (`expires_in`). Default 1h.
	TokenLifetime time.Duration
	// Logger receives request logs (V(1)) and rejections (V(0)). Default logr.Discard().
	Logger logr.Logger
	// Audience is the exact `aud` string an assertion must carry. Default URL(), which is
	// what a client configured with platformURL = URL() sends.
	Audience string
	// ClockSkew is the tolerance for an assertion's iat in the future and added to the
	// maximum assertion lifetime. Default 10s.
	ClockSkew time.Duration
	// MaxAssertionLifetime is the largest exp-iat accepted. Default 300s (contract §2.3).
	MaxAssertionLifetime time.Duration
	// MaxBodyBytes caps a request body; larger bodies get 413. Default 64 MiB.
	MaxBodyBytes int64
	// RequestLogSize is how many recent requests Requests() keeps. Default 1000; negative
	// keeps none.
	RequestLogSize int
	// ExtraHosts are more IP addresses or DNS names for the server certificate, besides
	// 127.0.0.1, ::1 and localhost. Default none.
	ExtraHosts []string
	// Now is the clock for token and assertion expiry, fault windows and request times
	// (the sliding rate windows use it). Default time.Now.
	Now func() time.Time
	// FaultSeed seeds the random choice of Fault.Probability. Default 0: a random seed.
	FaultSeed uint64
}

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = time.Hour
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.ClockSkew == 0 {
		o.ClockSkew = 10 * time.Second
	}
	if o.MaxAssertionLifetime == 0 {
		o.MaxAssertionLifetime = 300 * time.Second
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 64 << 20
	}
	if o.RequestLogSize == 0 {
		o.RequestLogSize = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is the platform simulator. Create it with New, run it with Start.
type Server struct {
	opts    Options
	log     logr.Logger
	ln      net.Listener
	url     string
	tls     *serverTLS // nil for PlainHTTP
	faults  *Faults
	started atomic.Bool

	authMu sync.Mutex // guards clients, tokens, jtis, lastPrune
	// clients are the registered public keys by client_id.
	clients map[string]*ecdsa.PublicKey
	// tokens are the issued access tokens.
	tokens map[string]accessToken
	// jtis are the assertion ids seen, with their exp, kept until then.
	jtis      map[string]time.Time
	lastPrune time.Time

	stateMu sync.RWMutex // guards clusters (and everything reachable from it)
	// clusters is the platform's state by cluster_uid.
	clusters map[string]*ClusterState

	statsMu sync.Mutex // guards requests, bytesReceived, missingContentLength, eventsByCluster, clientStats, ipStats, reqLog, reqLogNext
	// requests counts by endpoint and status.
	requests             map[Endpoint]map[int]int
	bytesReceived        int64
	missingContentLength int
	eventsByCluster      map[string]int
	clientStats          map[string]*clientCounters
	ipStats              map[string]*clientCounters
	// reqLog is a ring of the latest requests; reqLogNext is the oldest once it is full.
	reqLog     []RequestRecord
	reqLogNext int

	transMu sync.Mutex // guards transports
	// transports are those of the clients HTTPClient returned, closed on stop.
	transports []*http.Transport
}

// New creates a simulator and binds its listener, so URL works at once. It starts no
// goroutine; call Start.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	s := &Server{
		opts:            opts,
		log:             opts.Logger,
		clients:         map[string]*ecdsa.PublicKey{},
		tokens:          map[string]accessToken{},
		jtis:            map[string]time.Time{},
		clusters:        map[string]*ClusterState{},
		requests:        map[Endpoint]map[int]int{},
		eventsByCluster: map[string]int{},
		clientStats:     map[string]*clientCounters{},
		ipStats:         map[string]*clientCounters{},
	}
	s.faults = newFaults(opts.Now, opts.FaultSeed, s.expireAllTokens)
	if !opts.PlainHTTP {
		t, err := newServerTLS(opts.ExtraHosts)
		if err != nil {
			return nil, err
		}
		s.tls = t
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	s.url = baseURL(ln.Addr(), !opts.PlainHTTP)
	return s, nil
}

// baseURL renders the listener address as a URL; an unspecified host becomes 127.0.0.1.
func baseURL(addr net.Addr, https bool) string {
	scheme := "http"
	if https {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Start serves until ctx is done, then shuts down (in-flight requests get 5 s) and returns
// nil. It may be called once.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("platform simulator already started")
	}
	// Requests get a context of their own, cancelled only when a graceful shutdown failed,
	// so a request waiting in injected latency does not outlive the server.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(logWriter{s.log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.tls != nil {
			srv.TLSConfig = &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{s.tls.cert},
				NextProtos:   []string{"h2", "http/1.1"},
			}
			err = srv.ServeTLS(s.ln, "", "")
		} else {
			err = srv.Serve(s.ln)
		}
		errc <- err
	}()
	s.log.Info("platform simulator serving", "url", s.url)

	select {
	case err := <-errc:
		s.closeTransports()
		return fmt.Errorf("serve platform simulator: %w", err)
	case <-ctx.Done():
	}
	// Our own clients close their idle connections first: an HTTP/2 connection that the
	// client does not close keeps a graceful shutdown waiting for a second after GOAWAY.
	s.closeTransports()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if err != nil {
		cancelBase()
		_ = srv.Close()
	}
	<-errc // http.ErrServerClosed
	s.closeTransports()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down platform simulator: %w", err)
	}
	return nil
}

// StartForTest creates a simulator, starts it in the background and stops it (waiting for
// Start to return) in t.Cleanup. It fails the test on any error.
func StartForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("start platform simulator: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("platform simulator: %v", err)
		}
	})
	return s
}

// URL is the base URL, e.g. https://127.0.0.1:41234 (no trailing slash).
func (s *Server) URL() string { return s.url }

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// CACertPEM is the generated CA certificate in PEM form; nil for PlainHTTP.
func (s *Server) CACertPEM() []byte {
	if s.tls == nil {
		return nil
	}
	return append([]byte(nil), s.tls.caPEM...)
}

// HTTPClient returns a new client (30 s timeout, HTTP/2 when offered) that trusts the
// simulator's CA and nothing else. Its idle connections are closed when the server stops.
func (s *Server) HTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if s.tls != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.tls.pool, MinVersion: tls.VersionTLS12}
	}
	s.transMu.Lock()
	s.transports = append(s.transports, tr)
	s.transMu.Unlock()
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func (s *Server) closeTransports() {
	s.transMu.Lock()
	ts := s.transports
	s.transports = nil
	s.transMu.Unlock()
	for _, t := range ts {
		t.CloseIdleConnections()
	}
}

// Faults is the fault injector.
func (s *Server) Faults() *Faults { return s.faults }

// Cluster returns a deep copy of the state of one cluster; an unknown cluster gives a
// zero-valued state with ClusterUID set and a non-nil, empty Objects map.
func (s *Server) Cluster(clusterUID string) ClusterState {
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	c, ok := s.clusters[clusterUID]
	if !ok {
		return ClusterState{ClusterUID: clusterUID, Objects: map[string]map[string]Object{}}
	}
	return c.deepCopy()
}

// ClusterIn is Cluster without the namespaced objects outside namespaces: every
// cluster-scoped object (Namespace, Node, ClusterRole, ClusterRoleBinding) and the namespaced
// objects of the given namespaces. It is the cheap copy for polling a few namespaces of a
// cluster that holds many objects, and it is what a converge check limited to those
// namespaces compares.
func (s *Server) ClusterIn(clusterUID string, namespaces ...string) ClusterState {
	want := make(map[string]bool, len(namespaces))
	for _, ns := range namespaces {
		want[ns] = true
	}
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	c, ok := s.clusters[clusterUID]
	if !ok {
		return ClusterState{ClusterUID: clusterUID, Objects: map[string]map[string]Object{}}
	}
	out := *c
	out.Objects = make(map[string]map[string]Object, len(c.Objects))
	for kind, byUID := range c.Objects {
		m := map[string]Object{}
		for uid, o := range byUID {
			if o.Namespace == "" || want[o.Namespace] {
				m[uid] = o.deepCopy()
			}
		}
		out.Objects[kind] = m
	}
	return out
}

// ObjectUIDs returns the uids of the objects of kind that the platform holds for a cluster
// in namespace ("" for cluster-scoped kinds), in no order. Nothing else is copied, so it is
// the cheap poll for "has the platform got these objects yet" while a cluster holds many.
func (s *Server) ObjectUIDs(clusterUID, kind, namespace string) []string {
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	c, ok := s.clusters[clusterUID]
	if !ok {
		return nil
	}
	var out []string
	for uid, o := range c.Objects[kind] {
		if o.Namespace == namespace {
			out = append(out, uid)
		}
	}
	return out
}

// Clusters returns the known cluster_uids, sorted.
func (s *Server) Clusters() []string {
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	out := make([]string, 0, len(s.clusters))
	for uid := range s.clusters {
		out = append(out, uid)
	}
	sort.Strings(out)
	return out
}

// PutObject stores obj in a cluster's state without a request (a test seam), replacing any
// object of the same kind and uid. The record is copied.
func (s *Server) PutObject(clusterUID string, obj Object) {
	obj = obj.deepCopy()
	if obj.Record == nil {
		obj.Record = map[string]any{}
	}
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	c := s.clusterLocked(clusterUID)
	if c.Objects[obj.Kind] == nil {
		c.Objects[obj.Kind] = map[string]Object{}
	}
	c.Objects[obj.Kind][obj.UID] = obj
}

// RemoveObject deletes an object from a cluster's state without a request (a test seam).
func (s *Server) RemoveObject(clusterUID, kind, uid string) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if c, ok := s.clusters[clusterUID]; ok {
		delete(c.Objects[kind], uid)
	}
}

// clusterLocked returns the cluster's state, creating it. stateMu must be held for writing.
func (s *Server) clusterLocked(uid string) *ClusterState {
	c, ok := s.clusters[uid]
	if !ok {
		c = &ClusterState{ClusterUID: uid, Objects: map[string]map[string]Object{}}
		s.clusters[uid] = c
	}
	return c
}

// logWriter sends net/http's own error log (TLS handshake errors and the like) to logr.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.V(1).Info("http server", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}
