package platform

import (
	"sort"
	"time"
)

// Kinds lists the contract's 20 kind strings (contract §5.1) in snapshot emission order.
var Kinds = []string{
	"Namespace", "Pod", "Service", "Node", "Deployment", "StatefulSet", "DaemonSet", "Job",
	"CronJob", "Ingress", "NetworkPolicy", "ConfigMap", "Secret", "PersistentVolumeClaim",
	"ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "Event",
}

// Object is one object as the platform holds it for a cluster.
type Object struct {
	Kind      string `json:"kind"` // contract kind string, e.g. "Pod"
	UID       string `json:"uid"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"` // empty for cluster-scoped kinds
	// Record is the record exactly as it arrived, decoded with encoding/json into generic
	// values (objects as map[string]any, arrays as []any, numbers as float64).
	Record map[string]any `json:"record"`
}

// ClusterState is a deep copy of what the platform knows about one cluster (keyed by
// cluster_uid). Callers may keep and modify it freely.
type ClusterState struct {
	ClusterUID   string `json:"cluster_uid"`
	ClusterName  string `json:"cluster_name"`  // from the last snapshot
	AgentVersion string `json:"agent_version"` // from the last snapshot or heartbeat
	// Objects maps kind -> uid -> object.
	Objects map[string]map[string]Object `json:"objects"`

	Snapshots      int       `json:"snapshots"`       // accepted snapshots
	LastSnapshot   time.Time `json:"last_snapshot"`   // when the last snapshot was accepted
	Events         int       `json:"events"`          // accepted events
	UnknownDeletes int       `json:"unknown_deletes"` // accepted deletes of a uid the platform did not hold
	Heartbeats     int       `json:"heartbeats"`      // accepted heartbeats
	LastHeartbeat  time.Time `json:"last_heartbeat"`  // when the last heartbeat was accepted

	// EventsBeforeSnapshot counts accepted events that arrived while the cluster had no
	// accepted snapshot yet. The hub promises "snapshot first", so a hub test expects 0.
	EventsBeforeSnapshot int `json:"events_before_snapshot"`
	// HeartbeatsBeforeSnapshot counts accepted heartbeats that arrived before the first
	// accepted snapshot (the hub sends heartbeats only after it).
	HeartbeatsBeforeSnapshot int `json:"heartbeats_before_snapshot"`
	// LastEvent is when the last event was accepted.
	LastEvent time.Time `json:"last_event"`
}

// Get returns the object of kind with uid.
func (c ClusterState) Get(kind, uid string) (Object, bool) {
	o, ok := c.Objects[kind][uid]
	return o, ok
}

// Find returns the objects of kind with the given namespace and name, sorted by uid. More
// than one means the platform still holds an older object of the same name (a different
// uid) that was never deleted.
func (c ClusterState) Find(kind, namespace, name string) []Object {
	var out []Object
	for _, o := range c.Objects[kind] {
		if o.Namespace == namespace && o.Name == name {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out
}

// Count returns how many objects of kind the platform holds.
func (c ClusterState) Count(kind string) int { return len(c.Objects[kind]) }

// deepCopy returns a copy that shares nothing with c.
func (c *ClusterState) deepCopy() ClusterState {
	out := *c
	out.Objects = make(map[string]map[string]Object, len(c.Objects))
	for kind, byUID := range c.Objects {
		m := make(map[string]Object, len(byUID))
		for uid, o := range byUID {
			m[uid] = o.deepCopy()
		}
		out.Objects[kind] = m
	}
	return out
}

func (o Object) deepCopy() Object {
	if o.Record != nil {
		o.Record = copyValue(o.Record).(map[string]any)
	}
	return o
}

// copyValue deep-copies a generic JSON value.
func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = copyValue(e)
		}
		return a
	case map[string]string:
		m := make(map[string]string, len(t))
		for k, e := range t {
			m[k] = e
		}
		return m
	case []string:
		return append([]string(nil), t...)
	}
	return v
}
