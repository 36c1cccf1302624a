package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/obsyk/obsyk-hub/transport"
)

// HeartbeatSender is what the heartbeat lane needs from the platform client;
// *transport.Client satisfies it.
type HeartbeatSender interface {
	SendHeartbeat(ctx context.Context, hb *transport.HeartbeatPayload) error
}

// Default heartbeat settings.
const (
	DefaultHeartbeatInterval = 60 * time.Second
	DefaultHeartbeatTimeout  = 10 * time.Second
)

// HeartbeatOptions configures a Heartbeat. Sender, ClusterUID and Ready are required.
type HeartbeatOptions struct {
	// Sender sends the heartbeats. Required.
	Sender HeartbeatSender
	// ClusterUID is the cluster's identity (the kube-system namespace's UID). Required.
	ClusterUID string
	// AgentVersion is sent as agent_version. Default: empty (the client fills in its own).
	AgentVersion string
	// Ready is closed once the agent's first snapshot was accepted; no heartbeat is sent
	// before (contract: heartbeats follow the snapshot). Required.
	Ready <-chan struct{}
	// Interval is the heartbeat period (the agent's spec.syncInterval). Default 60s.
	Interval time.Duration
	// Timeout bounds one heartbeat, its retries included. Default 10s, and never more than
	// Interval.
	Timeout time.Duration
	// OnResult, when set, is called after every heartbeat with its time and outcome (nil on
	// success), for status and metrics. It must not block.
	OnResult func(at time.Time, err error)
	// Logger receives one line per failed heartbeat. Default logr.Discard().
	Logger logr.Logger
}

// Heartbeat is one agent's heartbeat lane: a ticker of its own, so heartbeats never wait
// behind change events, are not counted against the event rate limit, and do not depend on
// reconciles (the reference operator heartbeated on every watch-triggered reconcile).
type Heartbeat struct {
	opts HeartbeatOptions
}

// NewHeartbeat validates opts and returns a lane; it starts nothing.
func NewHeartbeat(opts HeartbeatOptions) (*Heartbeat, error) {
	if opts.Sender == nil || opts.ClusterUID == "" || opts.Ready == nil {
		return nil, errors.New("heartbeat: Sender, ClusterUID and Ready are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultHeartbeatInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultHeartbeatTimeout
	}
	opts.Timeout = min(opts.Timeout, opts.Interval)
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	return &Heartbeat{opts: opts}, nil
}

// Start waits for Ready, sends a heartbeat at once and then every Interval until ctx ends;
// it returns nil then. A failed heartbeat is reported and the lane goes on: the next one is
// sent at the next tick, or later when the platform asked for a longer pause (a 429's
// Retry-After that outlasted the heartbeat's own retries).
func (h *Heartbeat) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-h.opts.Ready:
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		timer.Reset(h.beat(ctx))
	}
}

// beat sends one heartbeat and returns how long to wait before the next.
func (h *Heartbeat) beat(ctx context.Context) time.Duration {
	sendCtx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	started := time.Now()
	err := h.opts.Sender.SendHeartbeat(sendCtx, &transport.HeartbeatPayload{
		ClusterUID: h.opts.ClusterUID, AgentVersion: h.opts.AgentVersion,
	})
	if err != nil && ctx.Err() != nil {
		return h.opts.Interval // stopping: not a failure worth reporting
	}
	if err != nil {
		err = fmt.Errorf("send heartbeat: %w", err)
		h.opts.Logger.Info("heartbeat failed", "error", err.Error(), "duration", time.Since(started))
	}
	if h.opts.OnResult != nil {
		h.opts.OnResult(started, err)
	}
	next := h.opts.Interval - time.Since(started)
	var temp *transport.TemporaryError
	if errors.As(err, &temp) && temp.RetryAfter > next {
		next = temp.RetryAfter
	}
	return max(next, 0)
}
