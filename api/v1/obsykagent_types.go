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

	// syncInterval is the heartbeat period, as a Go duration such as "30s" or "5m".
	// +optional
	// +kubebuilder:default="5m"
	SyncInterval string `json:"syncInterval,omitempty"`

	// rateLimit limits how fast change events are sent to the platform.
	// +optional
	RateLimit *RateLimitConfig `json:"rateLimit,omitempty"`
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
}

// ObsykAgent streams one Kubernetes cluster's metadata to the Obsyk platform.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oa
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterName`
// +kubebuilder:printcolumn:name="Platform",type=string,JSONPath=`.spec.platformURL`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
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
