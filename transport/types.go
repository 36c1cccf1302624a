package transport

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
)

// Kind is one of the contract's 20 kind strings (contract §5.1).
type Kind string

// The kind strings, exactly as they go on the wire.
const (
	KindNamespace             Kind = "Namespace"
	KindPod                   Kind = "Pod"
	KindService               Kind = "Service"
	KindNode                  Kind = "Node"
	KindDeployment            Kind = "Deployment"
	KindStatefulSet           Kind = "StatefulSet"
	KindDaemonSet             Kind = "DaemonSet"
	KindJob                   Kind = "Job"
	KindCronJob               Kind = "CronJob"
	KindIngress               Kind = "Ingress"
	KindNetworkPolicy         Kind = "NetworkPolicy"
	KindConfigMap             Kind = "ConfigMap"
	KindSecret                Kind = "Secret"
	KindPersistentVolumeClaim Kind = "PersistentVolumeClaim"
	KindServiceAccount        Kind = "ServiceAccount"
	KindRole                  Kind = "Role"
	KindClusterRole           Kind = "ClusterRole"
	KindRoleBinding           Kind = "RoleBinding"
	KindClusterRoleBinding    Kind = "ClusterRoleBinding"
	KindEvent                 Kind = "Event"
)

// Kinds lists the 20 kinds in snapshot emission order (contract §3.2).
var Kinds = [...]Kind{
	KindNamespace, KindPod, KindService, KindNode, KindDeployment, KindStatefulSet,
	KindDaemonSet, KindJob, KindCronJob, KindIngress, KindNetworkPolicy, KindConfigMap,
	KindSecret, KindPersistentVolumeClaim, KindServiceAccount, KindRole, KindClusterRole,
	KindRoleBinding, KindClusterRoleBinding, KindEvent,
}

// Valid reports whether k is one of the 20 contract kinds.
func (k Kind) Valid() bool {
	_, ok := kindIndex[k]
	return ok
}

// ClusterScoped reports whether objects of kind k have no namespace, so that an event's
// `namespace` key is absent (contract §3.3).
func (k Kind) ClusterScoped() bool {
	switch k {
	case KindNamespace, KindNode, KindClusterRole, KindClusterRoleBinding:
		return true
	}
	return false
}

// SnapshotKey returns the kind's array key in a SnapshotPayload, e.g. "pvcs" for
// PersistentVolumeClaim, or "" for an unknown kind.
func (k Kind) SnapshotKey() string {
	if i, ok := kindIndex[k]; ok {
		return snapshotKeys[i]
	}
	return ""
}

var kindIndex = func() map[Kind]int {
	m := make(map[Kind]int, len(Kinds))
	for i, k := range Kinds {
		m[k] = i
	}
	return m
}()

// snapshotKeys are the snapshot array keys, index-aligned with Kinds.
var snapshotKeys = [len(Kinds)]string{
	"namespaces", "pods", "services", "nodes", "deployments", "statefulsets", "daemonsets",
	"jobs", "cronjobs", "ingresses", "network_policies", "configmaps", "secrets", "pvcs",
	"service_accounts", "roles", "cluster_roles", "role_bindings", "cluster_role_bindings",
	"events",
}

// EventType is the `type` of an EventPayload (contract §5.2), always lower case.
type EventType string

// The three event types.
const (
	EventAdded    EventType = "added"
	EventModified EventType = "modified"
	EventDeleted  EventType = "deleted"
)

// Valid reports whether t is one of the three event types.
func (t EventType) Valid() bool {
	return t == EventAdded || t == EventModified || t == EventDeleted
}

// Record is a resource record (contract §4): a pointer to one of the 19 record types. Records
// are immutable once built; the same pointer may sit in a snapshot and in events at once.
//
// The interface is sealed (only this package's record types implement it) because the send
// path encodes records with its own allocation-free encoder.
type Record interface {
	// Kind returns the record's kind string. RoleInfo and RoleBindingInfo answer by IsCluster.
	Kind() Kind
	// appendJSON appends the record's JSON, exactly as json.Marshal writes it.
	appendJSON(b []byte) []byte
}

// SnapshotPayload is the body of POST /api/v1/agent/snapshot (contract §3.1, §3.2).
//
// It is encoded by its own streaming encoder, not by reflection over this struct: the 20
// arrays are always written, in the contract's order, and a nil slice goes out as []. Nil
// elements are skipped. The slices and the records they point to must not change while a
// send is in progress: the body is encoded twice (once to count, once to send) and again on a
// retry. The struct tags document the keys and serve decoding.
type SnapshotPayload struct {
	ClusterUID        string `json:"cluster_uid"`
	ClusterName       string `json:"cluster_name"`
	KubernetesVersion string `json:"kubernetes_version,omitempty"`
	Platform          string `json:"platform,omitempty"`
	Region            string `json:"region,omitempty"`
	// AgentVersion is the hub's build version. When empty, the Client writes its own
	// Options.AgentVersion.
	AgentVersion string `json:"agent_version,omitempty"`

	Namespaces          []*NamespaceInfo      `json:"namespaces"`
	Pods                []*PodInfo            `json:"pods"`
	Services            []*ServiceInfo        `json:"services"`
	Nodes               []*NodeInfo           `json:"nodes"`
	Deployments         []*DeploymentInfo     `json:"deployments"`
	StatefulSets        []*StatefulSetInfo    `json:"statefulsets"`
	DaemonSets          []*DaemonSetInfo      `json:"daemonsets"`
	Jobs                []*JobInfo            `json:"jobs"`
	CronJobs            []*CronJobInfo        `json:"cronjobs"`
	Ingresses           []*IngressInfo        `json:"ingresses"`
	NetworkPolicies     []*NetworkPolicyInfo  `json:"network_policies"`
	ConfigMaps          []*ConfigMapInfo      `json:"configmaps"`
	Secrets             []*SecretInfo         `json:"secrets"`
	PVCs                []*PVCInfo            `json:"pvcs"`
	ServiceAccounts     []*ServiceAccountInfo `json:"service_accounts"`
	Roles               []*RoleInfo           `json:"roles"`
	ClusterRoles        []*RoleInfo           `json:"cluster_roles"`
	RoleBindings        []*RoleBindingInfo    `json:"role_bindings"`
	ClusterRoleBindings []*RoleBindingInfo    `json:"cluster_role_bindings"`
	Events              []*EventInfo          `json:"events"`
}

// MarshalJSON writes the snapshot exactly as the Client sends it (with the payload's own
// AgentVersion). It builds the whole body in memory; the Client streams instead.
func (s *SnapshotPayload) MarshalJSON() ([]byte, error) {
	e := newSnapshotEncoder(s, s.AgentVersion)
	e.fill(math.MaxInt)
	return e.buf, nil
}

// EventPayload is the body of POST /api/v1/agent/events: one change (contract §3.3).
type EventPayload struct {
	ClusterUID string    `json:"cluster_uid"`
	Type       EventType `json:"type"`
	Kind       Kind      `json:"kind"`
	UID        string    `json:"uid"`
	Name       string    `json:"name"`
	// Namespace is empty, and so absent, for cluster-scoped kinds.
	Namespace string `json:"namespace,omitempty"`
	// Object is the record of the new state for added and modified, and nil for deleted
	// (the key is then absent, never null).
	Object Record `json:"object,omitempty"`
}

// validate catches the payloads the contract cannot express, so that they fail here and
// not as a 400 from the platform.
func (e *EventPayload) validate() error {
	switch {
	case e == nil:
		return fmt.Errorf("nil event")
	case !e.Type.Valid():
		return fmt.Errorf("unknown event type %q", e.Type)
	case !e.Kind.Valid():
		return fmt.Errorf("unknown kind %q", e.Kind)
	case e.Type == EventDeleted && !isNilRecord(e.Object):
		return fmt.Errorf("a deleted event carries no object")
	case e.Type != EventDeleted && isNilRecord(e.Object):
		return fmt.Errorf("an %s event needs its object", e.Type)
	case !isNilRecord(e.Object) && e.Object.Kind() != e.Kind:
		return fmt.Errorf("event kind %s carries a %s record", e.Kind, e.Object.Kind())
	}
	return nil
}

// UnmarshalJSON decodes an event, choosing the record type of `object` by `kind`.
func (e *EventPayload) UnmarshalJSON(b []byte) error {
	var raw struct {
		ClusterUID string          `json:"cluster_uid"`
		Type       EventType       `json:"type"`
		Kind       Kind            `json:"kind"`
		UID        string          `json:"uid"`
		Name       string          `json:"name"`
		Namespace  string          `json:"namespace"`
		Object     json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = EventPayload{ClusterUID: raw.ClusterUID, Type: raw.Type, Kind: raw.Kind, UID: raw.UID,
		Name: raw.Name, Namespace: raw.Namespace}
	if len(raw.Object) == 0 || string(raw.Object) == "null" {
		return nil
	}
	rec := NewRecord(raw.Kind)
	if rec == nil {
		return fmt.Errorf("transport: event object of unknown kind %q", raw.Kind)
	}
	if err := json.Unmarshal(raw.Object, rec); err != nil {
		return err
	}
	e.Object = rec
	return nil
}

// HeartbeatPayload is the body of POST /api/v1/agent/heartbeat (contract §3.4).
type HeartbeatPayload struct {
	ClusterUID string `json:"cluster_uid"`
	// AgentVersion is the hub's build version. When empty, the Client writes its own
	// Options.AgentVersion.
	AgentVersion string `json:"agent_version,omitempty"`
}

// NewRecord returns a pointer to a zero record of the type that carries kind k, or nil for
// an unknown kind. Role and RoleBinding records come back with IsCluster set for the
// cluster-scoped kinds.
func NewRecord(k Kind) Record {
	switch k {
	case KindNamespace:
		return &NamespaceInfo{}
	case KindPod:
		return &PodInfo{}
	case KindService:
		return &ServiceInfo{}
	case KindNode:
		return &NodeInfo{}
	case KindDeployment:
		return &DeploymentInfo{}
	case KindStatefulSet:
		return &StatefulSetInfo{}
	case KindDaemonSet:
		return &DaemonSetInfo{}
	case KindJob:
		return &JobInfo{}
	case KindCronJob:
		return &CronJobInfo{}
	case KindIngress:
		return &IngressInfo{}
	case KindNetworkPolicy:
		return &NetworkPolicyInfo{}
	case KindConfigMap:
		return &ConfigMapInfo{}
	case KindSecret:
		return &SecretInfo{}
	case KindPersistentVolumeClaim:
		return &PVCInfo{}
	case KindServiceAccount:
		return &ServiceAccountInfo{}
	case KindRole:
		return &RoleInfo{}
	case KindClusterRole:
		return &RoleInfo{IsCluster: true}
	case KindRoleBinding:
		return &RoleBindingInfo{}
	case KindClusterRoleBinding:
		return &RoleBindingInfo{IsCluster: true}
	case KindEvent:
		return &EventInfo{}
	}
	return nil
}

// isNilRecord reports whether r is nil or a nil pointer inside a non-nil interface (which
// encoding/json would write as null).
func isNilRecord(r Record) bool {
	if r == nil {
		return true
	}
	v := reflect.ValueOf(r)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
