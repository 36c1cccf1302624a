package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ObsykAgentSpec says which platform an agent streams to and how.
type ObsykAgentSpec struct {
	// platformURL is the base URL of the Obsyk platform, used verbatim: request URLs are this
	// value plus the API path, and it is the audience of the agent's token assertion.
	// +required
	// +kubebuilder:validation:Pattern=`^https?://`
	PlatformURL string `json:"platformURL"`

	// clusterName is the name the platform shows for this cluster.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClusterName string `json:"clusterName"`

	// credentialsSecretRef names a Secret in the agent's namespace with the keys client_id
	// and private_key (a PEM-encoded ECDSA P-256 key).
	// +required
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// syncInterval is the heartbeat period, as a Go duration such as "30s" or "5m". The hub
	// defaults it to 60s (the reference operator used 5m): heartbeats are cheap and have a
	// lane of their own, so the platform learns sooner that a cluster went quiet.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	SyncInterval string `json:"syncInterval,omitempty"`

	// rateLimit limits how fast change events are sent to the platform.
	// +optional
	RateLimit *RateLimitConfig `json:"rateLimit,omitempty"`

	// clusterRef names the member cluster this agent streams: a cluster registered with the
	// hub (the name of its kubeconfig Secret, e.g. from `obsyk-hub cluster add`). Without it
	// the agent streams the hub's own cluster. An agent outside the hub's namespace may target
	// a cluster only when the cluster's Secret lists the agent's namespace in its
	// obsyk.io/allowed-namespaces annotation.
	// +optional
	ClusterRef *ClusterReference `json:"clusterRef,omitempty"`

	// kinds are the contract kinds to collect. Default: all 20 except Secret. Listing Secret
	// opts in to collecting Secret key names (never values); the hub's identity in the member
	// then needs cluster-wide Secret read, which is also the keys to every ServiceAccount
	// token there.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	Kinds []Kind `json:"kinds,omitempty"`

	// namespaces limits the namespaced objects collected; Namespace objects are filtered by
	// their own name. Node, ClusterRole and ClusterRoleBinding are not affected.
	// +optional
	Namespaces *NamespaceFilter `json:"namespaces,omitempty"`

	// resyncInterval is how often a full snapshot is sent again as anti-entropy, as a Go
	// duration; "0s" turns it off. Snapshots are also sent at every hub start, after a
	// reconnection, when the platform or credentials change, and when the agent's backlog
	// outgrows its budget.
	// +optional
	// +kubebuilder:default="6h"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	ResyncInterval string `json:"resyncInterval,omitempty"`
}

// ClusterReference names a member cluster registered with the hub.
type ClusterReference struct {
	// name of the cluster: the name of its kubeconfig Secret in the hub's cluster namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// Kind is one of the 20 kinds of the platform contract.
// +kubebuilder:validation:Enum=Namespace;Pod;Service;Node;Deployment;StatefulSet;DaemonSet;Job;CronJob;Ingress;NetworkPolicy;ConfigMap;Secret;PersistentVolumeClaim;ServiceAccount;Role;ClusterRole;RoleBinding;ClusterRoleBinding;Event
type Kind string

// NamespaceFilter selects namespaces by name.
type NamespaceFilter struct {
	// include, when set, collects namespaced objects only from these namespaces.
	// +optional
	// +listType=set
	// +kubebuilder:validation:items:MaxLength=63
	Include []string `json:"include,omitempty"`

	// exclude never collects namespaced objects from these namespaces; it wins over include.
	// +optional
	// +listType=set
	// +kubebuilder:validation:items:MaxLength=63
	Exclude []string `json:"exclude,omitempty"`
}

// SecretReference names a Secret in the ObsykAgent's own namespace.
type SecretReference struct {
	// name of the Secret.
	// +required
	Name string `json:"name"`
}

// RateLimitConfig is a token bucket for change events.
type RateLimitConfig struct {
	// eventsPerSecond is the sustained rate of change events.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=10
	EventsPerSecond int32 `json:"eventsPerSecond,omitempty"`

	// burstSize is how many events may be sent at once above the sustained rate.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=20
	BurstSize int32 `json:"burstSize,omitempty"`
}

// ObsykAgentStatus is what the hub last observed and did for an agent.
type ObsykAgentStatus struct {
	// clusterUID is the UID of the target cluster's kube-system namespace, the cluster's
	// identity on the platform.
	// +optional
	ClusterUID string `json:"clusterUID,omitempty"`

	// conditions describe the agent's state.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastSyncTime is the time of the last accepted snapshot or heartbeat.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// lastSnapshotTime is the time of the last accepted snapshot.
	// +optional
	LastSnapshotTime *metav1.Time `json:"lastSnapshotTime,omitempty"`

	// observedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// lastHeartbeatTime is the time of the last accepted heartbeat.
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`

	// objectCount is the number of objects collected for the platform, over all kinds.
	// +optional
	ObjectCount int64 `json:"objectCount,omitempty"`

	// resourceCounts are the collected objects per kind (the reference operator's field).
	// +optional
	ResourceCounts *ResourceCounts `json:"resourceCounts,omitempty"`

	// outbox describes the changes waiting to be sent.
	// +optional
	Outbox *OutboxStatus `json:"outbox,omitempty"`

	// servedBy is the hub replica that streams this agent's cluster and writes this status,
	// when the hub shards clusters across replicas (--sharding).
	// +optional
	ServedBy string `json:"servedBy,omitempty"`
}

// ResourceCounts counts collected objects per kind. Keys are camelCase as in the reference
// operator's status (the wire contract's own keys are snake_case).
type ResourceCounts struct {
	Namespaces          int32 `json:"namespaces,omitempty"`
	Pods                int32 `json:"pods,omitempty"`
	Services            int32 `json:"services,omitempty"`
	Nodes               int32 `json:"nodes,omitempty"`
	Deployments         int32 `json:"deployments,omitempty"`
	StatefulSets        int32 `json:"statefulSets,omitempty"`
	DaemonSets          int32 `json:"daemonSets,omitempty"`
	Jobs                int32 `json:"jobs,omitempty"`
	CronJobs            int32 `json:"cronJobs,omitempty"`
	Ingresses           int32 `json:"ingresses,omitempty"`
	NetworkPolicies     int32 `json:"networkPolicies,omitempty"`
	ConfigMaps          int32 `json:"configMaps,omitempty"`
	Secrets             int32 `json:"secrets,omitempty"`
	PVCs                int32 `json:"pvcs,omitempty"`
	ServiceAccounts     int32 `json:"serviceAccounts,omitempty"`
	Roles               int32 `json:"roles,omitempty"`
	ClusterRoles        int32 `json:"clusterRoles,omitempty"`
	RoleBindings        int32 `json:"roleBindings,omitempty"`
	ClusterRoleBindings int32 `json:"clusterRoleBindings,omitempty"`
	Events              int32 `json:"events,omitempty"`
}

// OutboxStatus describes an agent's pending changes.
type OutboxStatus struct {
	// depth is the number of objects with a change waiting to be sent.
	// +optional
	Depth int64 `json:"depth,omitempty"`

	// oldestPendingSeconds is the age of the oldest waiting change, in seconds.
	// +optional
	OldestPendingSeconds int64 `json:"oldestPendingSeconds,omitempty"`
}

// ObsykAgent streams one Kubernetes cluster's metadata to the Obsyk platform.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oa
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Objects",type=integer,JSONPath=`.status.objectCount`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.clusterRef.name`,priority=1
// +kubebuilder:printcolumn:name="Platform",type=string,JSONPath=`.spec.platformURL`,priority=1
// +kubebuilder:printcolumn:name="Replica",type=string,JSONPath=`.status.servedBy`,priority=1
type ObsykAgent struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ObsykAgentSpec `json:"spec"`
	// +optional
	Status ObsykAgentStatus `json:"status,omitempty"`
}

// ObsykAgentList is a list of ObsykAgents.
//
// +kubebuilder:object:root=true
type ObsykAgentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ObsykAgent `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ObsykAgent{}, &ObsykAgentList{})
}
