package clusterregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

// memberError is a connection failure with the Reason the member's status shows.
type memberError struct {
	reason string
	err    error
}

func (e *memberError) Error() string { return e.err.Error() }
func (e *memberError) Unwrap() error { return e.err }

func failure(reason string, format string, args ...any) error {
	return &memberError{reason: reason, err: fmt.Errorf(format, args...)}
}

// classify gives an API error its reason.
func classify(err error) string {
	var me *memberError
	switch {
	case errors.As(err, &me):
		return me.reason
	case apierrors.IsUnauthorized(err):
		return ReasonCredentialsRejected
	case apierrors.IsForbidden(err):
		return ReasonForbidden
	default:
		return ReasonUnreachable
	}
}

// runMember connects m, serves it until it fails, and reconnects with exponential backoff
// and jitter, until m's context ends.
func (r *Registry) runMember(m *member) {
	log := r.log.WithValues("cluster", m.name)
	backoff := r.opts.ReconnectBackoff
	for {
		connected, err := r.connectAndServe(m)
		if m.ctx.Err() != nil {
			return
		}
		if connected {
			backoff = r.opts.ReconnectBackoff
		}
		if err == nil {
			err = failure(ReasonUnreachable, "connection ended")
		}
		reason := classify(err)
		r.setStatus(m, func(s *MemberStatus) {
			s.State, s.Reason, s.LastError = StateDisconnected, reason, err.Error()
		})
		r.metrics.setConnected(m.name, false)
		if reason == ReasonCredentialsRejected {
			// The Secret may hold new credentials already: read it again.
			r.queue.Add(m.key)
		}
		delay := time.Duration(float64(backoff) * (1 - backoffJitter + 2*backoffJitter*rand.Float64()))
		log.Error(err, "cluster disconnected; reconnecting after backoff", "reason", reason, "duration", delay)
		timer := time.NewTimer(delay)
		select {
		case <-m.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, r.opts.ReconnectBackoffMax)
	}
}

// connectAndServe makes one connection to m: a fresh transport, the identity probe, the
// member's cache started on a context derived from m's, publication, engagement of the
// Aware, then health probes until FailureThreshold consecutive failures. It returns whether
// the member was connected, and why the connection ended (nil when m's context ended). The
// cache is stopped and waited for, and the transport's connections closed, before it returns.
func (r *Registry) connectAndServe(m *member) (bool, error) {
	log := r.log.WithValues("cluster", m.name)
	began := time.Now()
	r.setStatus(m, func(s *MemberStatus) { s.State = StateConnecting })

	cfg := rest.CopyConfig(m.config)
	cfg.UserAgent = "obsyk-hub/clusterregistry"
	if r.opts.QPS > 0 {
		cfg.QPS = r.opts.QPS
	}
	if r.opts.Burst > 0 {
		cfg.Burst = r.opts.Burst
	}
	cfg.Timeout = r.opts.RequestTimeout
	tr, err := newMemberTransport(cfg)
	if err != nil {
		return false, failure(ReasonUnreachable, "build transport: %w", err)
	}
	defer tr.close()
	kube, err := kubernetes.NewForConfigAndClient(tr.config, tr.client)
	if err != nil {
		return false, failure(ReasonUnreachable, "build client: %w", err)
	}

	uid, ver, err := r.identify(m.ctx, kube)
	if err != nil {
		return false, fmt.Errorf("identify member: %w", err)
	}

	connCtx, cancel := context.WithCancel(m.ctx)
	defer cancel()
	cl, err := cluster.New(tr.config, func(o *cluster.Options) {
		o.Scheme = r.opts.Scheme
		o.HTTPClient = tr.client
		o.Logger = log
	})
	if err != nil {
		return false, failure(ReasonCacheSyncFailed, "create cluster: %w", err)
	}
	r.mu.Lock()
	m.cluster = cl
	indexers := append([]fieldIndex(nil), r.indexers...)
	aware := r.aware
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if m.cluster == cl {
			m.cluster = nil
		}
		r.mu.Unlock()
	}()
	for _, ix := range indexers {
		// On a cache that has not started, this only registers the index.
		if err := cl.GetFieldIndexer().IndexField(connCtx, ix.obj, ix.field, ix.extract); err != nil {
			return false, failure(ReasonCacheSyncFailed, "index field %s: %w", ix.field, err)
		}
	}

	clusterDone := make(chan error, 1)
	go func() { clusterDone <- cl.Start(connCtx) }()
	defer func() {
		cancel()
		<-clusterDone
	}()
	syncCtx, syncCancel := context.WithTimeout(connCtx, r.opts.ConnectTimeout)
	ok := cl.GetCache().WaitForCacheSync(syncCtx)
	syncCancel()
	if !ok {
		if m.ctx.Err() != nil {
			return false, nil
		}
		return false, failure(ReasonCacheSyncFailed, "cache did not start within %s", r.opts.ConnectTimeout)
	}

	handed := newMemberCluster(cl, r.opts.ProbeTimeout, func(unavailable map[string]string) {
		r.setStatus(m, func(s *MemberStatus) { s.UnavailableKinds = unavailable })
	})
	now := time.Now()
	r.mu.Lock()
	m.published = handed
	m.status.State, m.status.Reason, m.status.LastError = StateConnected, "", ""
	m.status.UID, m.status.ServerVersion, m.status.LastProbe = uid, ver.GitVersion, now
	m.status.UnavailableKinds = nil
	r.mu.Unlock()
	// Runs first on the way out: Get stops returning the cluster before its cache stops.
	defer func() {
		r.mu.Lock()
		if m.published == handed {
			m.published = nil
		}
		r.mu.Unlock()
	}()
	r.metrics.setConnected(m.name, true)
	r.metrics.connects.WithLabelValues(m.name).Inc()
	r.metrics.lastProbe.WithLabelValues(m.name).Set(float64(now.Unix()))
	r.notify()
	log.Info("cluster connected", "uid", uid, "version", ver.GitVersion, "duration", time.Since(began))

	if aware != nil {
		if err := r.engage(connCtx, aware, m.name, handed); err != nil {
			return true, err
		}
		log.V(1).Info("cluster engaged")
	}
	return true, r.watchHealth(m, connCtx, kube, handed.cache, clusterDone)
}

// engage calls aware.Engage in its own goroutine and waits at most EngageTimeout: an Aware
// that blocks (a source waiting for a kind the member forbids, a controller lock held by
// such a wait) costs this member its connection, never the registry's other members. A
// timed-out Engage is not waited for; cancelling ctx (the caller tears the connection down)
// is what ends it, if anything can.
func (r *Registry) engage(ctx context.Context, aware multicluster.Aware, name string, cl cluster.Cluster) error {
	res := make(chan error, 1)
	go func() { res <- aware.Engage(ctx, multicluster.ClusterName(name), cl) }()
	timer := time.NewTimer(r.opts.EngageTimeout)
	defer timer.Stop()
	select {
	case err := <-res:
		if err != nil {
			return failure(ReasonEngageFailed, "engage cluster: %w", err)
		}
		return nil
	case <-timer.C:
		return failure(ReasonEngageFailed, "engage cluster: not done within %s", r.opts.EngageTimeout)
	case <-ctx.Done():
		return nil
	}
}

// watchHealth probes the member every ProbeInterval, one probe at a time, until
// FailureThreshold consecutive probes failed, the credentials were rejected, the cache
// stopped or ctx ended (nil).
func (r *Registry) watchHealth(m *member, ctx context.Context, kube kubernetes.Interface, kinds *memberCache, clusterDone <-chan error) error {
	ticker := time.NewTicker(r.opts.ProbeInterval)
	defer ticker.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-clusterDone:
			return failure(ReasonCacheSyncFailed, "member cache stopped: %v", err)
		case <-ticker.C:
		}
		err := r.probe(ctx, kube)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			failures = 0
			kinds.refresh() // a kind the member refused may be allowed now
			now := time.Now()
			r.setStatus(m, func(s *MemberStatus) { s.LastProbe, s.LastError = now, "" })
			r.metrics.lastProbe.WithLabelValues(m.name).Set(float64(now.Unix()))
			continue
		}
		failures++
		r.metrics.failures.WithLabelValues(m.name).Inc()
		r.setStatus(m, func(s *MemberStatus) { s.LastError = err.Error() })
		if apierrors.IsUnauthorized(err) {
			return failure(ReasonCredentialsRejected, "probe: %w", err)
		}
		if failures >= r.opts.FailureThreshold {
			return &memberError{reason: classify(err), err: fmt.Errorf("%d consecutive probes failed: %w", failures, err)}
		}
	}
}

// probe reads the kube-system namespace, bounded by ProbeTimeout.
func (r *Registry) probe(ctx context.Context, kube kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.ProbeTimeout)
	defer cancel()
	if _, err := kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("get namespace %s: %w", metav1.NamespaceSystem, err)
	}
	return nil
}

// identify reads the member's identity (the kube-system namespace's UID) and version, each
// bounded by ProbeTimeout.
func (r *Registry) identify(ctx context.Context, kube kubernetes.Interface) (types.UID, *version.Info, error) {
	pctx, cancel := context.WithTimeout(ctx, r.opts.ProbeTimeout)
	defer cancel()
	ns, err := kube.CoreV1().Namespaces().Get(pctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("get namespace %s: %w", metav1.NamespaceSystem, err)
	}
	vctx, vcancel := context.WithTimeout(ctx, r.opts.ProbeTimeout)
	defer vcancel()
	raw, err := kube.Discovery().RESTClient().Get().AbsPath("/version").Do(vctx).Raw()
	if err != nil {
		return "", nil, fmt.Errorf("get server version: %w", err)
	}
	ver := &version.Info{}
	if err := json.Unmarshal(raw, ver); err != nil {
		return "", nil, fmt.Errorf("decode server version: %w", err)
	}
	return ns.UID, ver, nil
}

func (r *Registry) setStatus(m *member, f func(*MemberStatus)) {
	r.mu.Lock()
	f(&m.status)
	r.mu.Unlock()
	r.notify()
}
