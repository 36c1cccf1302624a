package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/obsyk/obsyk-hub/auth"
	"github.com/obsyk/obsyk-hub/transport"
)

// platformClient is what a binding needs from its transport client; *transport.Client
// satisfies it.
type platformClient interface {
	SendSnapshot(ctx context.Context, s *transport.SnapshotPayload) error
	SendEvent(ctx context.Context, e *transport.EventPayload) error
	SendHeartbeat(ctx context.Context, hb *transport.HeartbeatPayload) error
}

// observer sits between a binding's ingest agent (and heartbeat lane) and its transport
// client. It passes every call through unchanged and remembers what the platform's answers
// say about the agent: whether the credentials work, whether the platform is reachable,
// when the last snapshot and heartbeat were accepted. It calls notify when one of those
// facts changes, so the reconciler rewrites the status without polling for it.
type observer struct {
	client platformClient
	notify func() // must not block
	now    func() time.Time

	ready     chan struct{} // closed when the first snapshot was accepted
	readyOnce sync.Once

	// mu guards every field below.
	mu            sync.Mutex
	lastOK        time.Time // any 2xx
	lastSnapshot  time.Time
	snapshotUID   string // cluster_uid of the last accepted snapshot
	snapshotCount int    // objects in the last accepted snapshot
	lastHeartbeat time.Time
	credErr       *auth.CredentialError // the token endpoint's last refusal; nil after a 2xx
	platformErr   string                // last temporary failure; empty after a 2xx
	snapshotErr   string                // last snapshot refusal; empty after an accepted one
}

func newObserver(c platformClient, notify func()) *observer {
	return &observer{client: c, notify: notify, now: time.Now, ready: make(chan struct{})}
}

// The endpoints an outcome comes from.
const (
	endpointSnapshot  = "snapshot"
	endpointEvents    = "events"
	endpointHeartbeat = "heartbeat"
)

// snapshotLen counts the records of a snapshot.
func snapshotLen(s *transport.SnapshotPayload) int {
	return len(s.Namespaces) + len(s.Pods) + len(s.Services) + len(s.Nodes) +
		len(s.Deployments) + len(s.StatefulSets) + len(s.DaemonSets) + len(s.Jobs) +
		len(s.CronJobs) + len(s.Ingresses) + len(s.NetworkPolicies) + len(s.ConfigMaps) +
		len(s.Secrets) + len(s.PVCs) + len(s.ServiceAccounts) + len(s.Roles) +
		len(s.ClusterRoles) + len(s.RoleBindings) + len(s.ClusterRoleBindings) + len(s.Events)
}

// observation is a copy of what an observer knows.
type observation struct {
	lastOK, lastSnapshot, lastHeartbeat time.Time
	snapshotUID                         string
	snapshotCount                       int
	credErr                             *auth.CredentialError
	platformErr, snapshotErr            string
}

func (o *observer) get() observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return observation{
		lastOK: o.lastOK, lastSnapshot: o.lastSnapshot, lastHeartbeat: o.lastHeartbeat,
		snapshotUID: o.snapshotUID, snapshotCount: o.snapshotCount,
		credErr: o.credErr, platformErr: o.platformErr, snapshotErr: o.snapshotErr,
	}
}

func (o *observer) SendSnapshot(ctx context.Context, s *transport.SnapshotPayload) error {
	err := o.client.SendSnapshot(ctx, s)
	o.record(ctx, endpointSnapshot, err, s)
	return err
}

func (o *observer) SendEvent(ctx context.Context, e *transport.EventPayload) error {
	err := o.client.SendEvent(ctx, e)
	o.record(ctx, endpointEvents, err, nil)
	return err
}

func (o *observer) SendHeartbeat(ctx context.Context, hb *transport.HeartbeatPayload) error {
	err := o.client.SendHeartbeat(ctx, hb)
	o.record(ctx, endpointHeartbeat, err, nil)
	return err
}

// record folds one outcome into what the observer knows.
func (o *observer) record(ctx context.Context, endpoint string, err error, snap *transport.SnapshotPayload) {
	if err != nil && ctx.Err() != nil {
		return // cancelled by the hub (rebinding, shutdown): says nothing about the platform
	}
	now := o.now()
	changed, first := false, false
	o.mu.Lock()
	var cred *auth.CredentialError
	switch {
	case err == nil:
		changed = o.credErr != nil || o.platformErr != "" || o.lastOK.IsZero()
		o.lastOK, o.credErr, o.platformErr = now, nil, ""
		switch endpoint {
		case endpointSnapshot:
			changed = true
			first = o.lastSnapshot.IsZero()
			o.lastSnapshot, o.snapshotErr = now, ""
			o.snapshotUID = snap.ClusterUID
			o.snapshotCount = snapshotLen(snap)
		case endpointHeartbeat:
			o.lastHeartbeat = now
		}
	case errors.As(err, &cred):
		changed = o.credErr == nil || o.credErr.Reason != cred.Reason
		o.credErr = cred
	case transport.IsPermanent(err):
		// A refused event is one poison object, counted by ingest; it says nothing about
		// the agent. A refused snapshot or heartbeat does.
		if endpoint != endpointEvents {
			changed = o.snapshotErr == ""
			o.snapshotErr = err.Error()
		}
	default:
		changed = o.platformErr == ""
		o.platformErr = err.Error()
	}
	o.mu.Unlock()
	if first {
		o.readyOnce.Do(func() { close(o.ready) })
	}
	if changed && o.notify != nil {
		o.notify()
	}
}
