package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/transport"
)

// binding is one served agent: its ingest binding (by key), platform client, observer
// and heartbeat lane. Reconciles of one agent are serialised by the controller, so only
// they touch a binding's fields, except hbCancel, which Start also reads under r.mu.
type binding struct {
	key           types.NamespacedName
	cluster       string
	local         bool
	secretName    string
	fingerprint   string
	client        *transport.Client
	obs           *observer
	creds         credentials
	credsChecked  time.Time
	warnedSecrets bool

	hbInterval time.Duration      // guarded by Reconciler.mu
	hbCancel   context.CancelFunc // guarded by Reconciler.mu
}

func (r *Reconciler) newBinding(key types.NamespacedName, s *spec, c *transport.Client, creds credentials, fp string) *binding {
	return &binding{
		key: key, cluster: s.cluster, local: s.local, secretName: s.secretName,
		fingerprint: fp, client: c, creds: creds, credsChecked: creds.checked,
		obs: newObserver(c, func() { r.wakeOne(key) }),
	}
}

// current returns the agent's binding, or nil.
func (r *Reconciler) current(key types.NamespacedName) *binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bindings[key]
}

// install makes b the agent's binding, stopping the heartbeat lane of the one it replaces.
func (r *Reconciler) install(key types.NamespacedName, b *binding) {
	r.mu.Lock()
	old := r.bindings[key]
	r.bindings[key] = b
	if old != nil {
		old.stopHeartbeatLocked()
	}
	r.mu.Unlock()
}

// release stops an agent's binding: heartbeats, ingest agent and platform client.
func (r *Reconciler) release(key types.NamespacedName) {
	r.mu.Lock()
	b := r.bindings[key]
	delete(r.bindings, key)
	if b != nil {
		b.stopHeartbeatLocked()
	}
	r.mu.Unlock()
	r.ingest.Unbind(key.String())
	r.pool.Remove(key.String())
}

// stopHeartbeat stops the binding's heartbeat lane; Start waits for it.
func (b *binding) stopHeartbeat() { b.stopHeartbeatLocked() }

func (b *binding) stopHeartbeatLocked() {
	if b.hbCancel != nil {
		b.hbCancel()
		b.hbCancel = nil
	}
}

// ensureHeartbeat runs the binding's heartbeat lane at interval, restarting it when the
// interval changed. The lane waits for the first accepted snapshot.
func (r *Reconciler) ensureHeartbeat(b *binding, interval time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil || (b.hbCancel != nil && b.hbInterval == interval) {
		return
	}
	b.stopHeartbeatLocked()
	ctx, cancel := context.WithCancel(r.ctx)
	b.hbCancel, b.hbInterval = cancel, interval
	log := r.log.WithValues("agent", b.key.String())
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		select {
		case <-ctx.Done():
			return
		case <-b.obs.ready:
		}
		hb, err := NewHeartbeat(HeartbeatOptions{
			Sender: b.obs, ClusterUID: b.obs.get().snapshotUID, AgentVersion: r.opts.AgentVersion,
			Ready: b.obs.ready, Interval: interval, Timeout: r.opts.HeartbeatTimeout, Logger: log,
		})
		if err != nil {
			log.Error(err, "heartbeat lane not started")
			return
		}
		_ = hb.Start(ctx)
	}()
}

// fillStatus writes the binding's state into the agent's status and detail conditions.
// A nil binding (the agent was refused) keeps the times and counts it had and drops the
// outbox figures.
func (r *Reconciler) fillStatus(agent *obsykv1.ObsykAgent, conds *conditionSet, b *binding) {
	st := &agent.Status
	if r.ownership != nil {
		st.ServedBy = r.ownership.Identity()
	}
	if b == nil {
		st.Outbox = nil
		return
	}
	ob := b.obs.get()
	key := b.key.String()
	cs, csOK := r.ingest.ClusterStats(b.cluster)

	// ClusterConnected.
	var memberUID string
	if b.local {
		if csOK && cs.ClusterUID != "" {
			conds.set(ConditionClusterConnected, metav1.ConditionTrue, ReasonConnected,
				"streaming the hub's own cluster"+unavailableNote(cs.Unavailable))
		} else {
			conds.set(ConditionClusterConnected, metav1.ConditionFalse, ReasonClusterUnreachable,
				"connecting to the hub's own cluster")
		}
	} else {
		m, _ := r.registry.Member(b.cluster)
		memberUID = string(m.UID)
		if m.State == clusterregistry.StateConnected {
			conds.set(ConditionClusterConnected, metav1.ConditionTrue, ReasonConnected,
				fmt.Sprintf("connected to cluster %q (Kubernetes %s)%s", b.cluster, m.ServerVersion, unavailableNote(cs.Unavailable)))
		} else {
			msg := fmt.Sprintf("cluster %q is %s", b.cluster, strings.ToLower(m.State))
			if m.Reason != "" {
				msg += " (" + m.Reason + ")"
			}
			if m.LastError != "" {
				msg += ": " + m.LastError
			}
			conds.set(ConditionClusterConnected, metav1.ConditionFalse, ReasonClusterUnreachable,
				msg+"; the hub reconnects with backoff and changes made meanwhile are picked up")
		}
	}

	// CredentialsValid and PlatformReachable, from the platform's answers.
	switch {
	case ob.credErr != nil:
		conds.set(ConditionCredentialsValid, metav1.ConditionFalse, ob.credErr.Reason,
			ob.credErr.Error()+"; fix the credentials Secret "+b.secretName+" (it is re-read at once)")
	case !ob.lastOK.IsZero():
		conds.set(ConditionCredentialsValid, metav1.ConditionTrue, ReasonCredentialsAccepted, "the platform issued a token")
	default:
		conds.set(ConditionCredentialsValid, metav1.ConditionUnknown, ReasonCredentialsUnused, "not used yet: the first request waits for the cluster's snapshot")
	}
	switch {
	case ob.platformErr != "":
		conds.set(ConditionPlatformReachable, metav1.ConditionFalse, ReasonPlatformUnavailable,
			ob.platformErr+"; changes stay queued and are retried")
	case !ob.lastOK.IsZero():
		conds.set(ConditionPlatformReachable, metav1.ConditionTrue, ReasonReachable, "the platform accepted the last request")
	case ob.credErr == nil:
		conds.set(ConditionPlatformReachable, metav1.ConditionUnknown, ReasonNotYetContacted, "not contacted yet: the first request waits for the cluster's snapshot")
	}

	// SnapshotAccepted.
	switch {
	case ob.snapshotErr != "":
		conds.set(ConditionSnapshotAccepted, metav1.ConditionFalse, ReasonSnapshotFailed, ob.snapshotErr)
	case !ob.lastSnapshot.IsZero():
		conds.set(ConditionSnapshotAccepted, metav1.ConditionTrue, ReasonSnapshotAccepted,
			fmt.Sprintf("a snapshot of %d objects was accepted", ob.snapshotCount))
	case !csOK || !cs.Synced:
		conds.set(ConditionSnapshotAccepted, metav1.ConditionFalse, ReasonWaitingForSync,
			"waiting for the cluster's informers to sync before the first snapshot")
	default:
		conds.set(ConditionSnapshotAccepted, metav1.ConditionFalse, ReasonWaitingForSync,
			"the first snapshot is being sent")
	}
	conds.summarise()

	switch {
	case ob.snapshotUID != "":
		st.ClusterUID = ob.snapshotUID
	case memberUID != "":
		st.ClusterUID = memberUID
	case csOK && cs.ClusterUID != "":
		st.ClusterUID = cs.ClusterUID
	}
	if !ob.lastSnapshot.IsZero() {
		st.LastSnapshotTime = statusTime(ob.lastSnapshot)
	}
	if !ob.lastHeartbeat.IsZero() {
		st.LastHeartbeatTime = statusTime(ob.lastHeartbeat)
	}
	st.LastSyncTime = st.LastSnapshotTime
	if st.LastHeartbeatTime != nil && (st.LastSyncTime == nil || st.LastHeartbeatTime.After(st.LastSyncTime.Time)) {
		st.LastSyncTime = st.LastHeartbeatTime
	}
	if counts, ok := r.ingest.AgentObjects(key); ok {
		rc, total := resourceCounts(counts)
		st.ResourceCounts, st.ObjectCount = rc, total
	}
	if as, ok := r.ingest.AgentStats(key); ok {
		st.Outbox = &obsykv1.OutboxStatus{
			Depth:                int64(as.Outbox.Depth + as.Outbox.InFlight),
			OldestPendingSeconds: int64(as.Outbox.Oldest / time.Second),
		}
		if *st.Outbox == (obsykv1.OutboxStatus{}) {
			st.Outbox = nil
		}
	}
}

// unavailableNote lists the kinds a cluster does not let the hub collect.
func unavailableNote(un map[transport.Kind]string) string {
	if len(un) == 0 {
		return ""
	}
	parts := make([]string, 0, len(un))
	for k, why := range un {
		parts = append(parts, fmt.Sprintf("%s (%s)", k, why))
	}
	sort.Strings(parts)
	return "; kinds not collected: " + strings.Join(parts, ", ")
}

// statusTime is t as the API server stores it: whole seconds, UTC.
func statusTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// resourceCounts maps per-kind counts to the status's camelCase counts.
func resourceCounts(counts map[transport.Kind]int) (*obsykv1.ResourceCounts, int64) {
	rc := &obsykv1.ResourceCounts{}
	var total int64
	for k, n := range counts {
		total += int64(n)
		v := int32(n)
		switch k {
		case transport.KindNamespace:
			rc.Namespaces = v
		case transport.KindPod:
			rc.Pods = v
		case transport.KindService:
			rc.Services = v
		case transport.KindNode:
			rc.Nodes = v
		case transport.KindDeployment:
			rc.Deployments = v
		case transport.KindStatefulSet:
			rc.StatefulSets = v
		case transport.KindDaemonSet:
			rc.DaemonSets = v
		case transport.KindJob:
			rc.Jobs = v
		case transport.KindCronJob:
			rc.CronJobs = v
		case transport.KindIngress:
			rc.Ingresses = v
		case transport.KindNetworkPolicy:
			rc.NetworkPolicies = v
		case transport.KindConfigMap:
			rc.ConfigMaps = v
		case transport.KindSecret:
			rc.Secrets = v
		case transport.KindPersistentVolumeClaim:
			rc.PVCs = v
		case transport.KindServiceAccount:
			rc.ServiceAccounts = v
		case transport.KindRole:
			rc.Roles = v
		case transport.KindClusterRole:
			rc.ClusterRoles = v
		case transport.KindRoleBinding:
			rc.RoleBindings = v
		case transport.KindClusterRoleBinding:
			rc.ClusterRoleBindings = v
		case transport.KindEvent:
			rc.Events = v
		}
	}
	if *rc == (obsykv1.ResourceCounts{}) {
		return nil, total
	}
	return rc, total
}
