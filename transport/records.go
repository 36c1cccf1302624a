package transport

import "encoding/json"

// The record types of contract §4. Field order is the contract's key order; tags carry its
// presence rules:
//   - always: no omit option;
//   - omitempty: `omitempty` (strings, numbers, bools, slices, maps) or `omitzero` (Time);
//   - unset-only: a *bool with `omitempty`, so an explicit false is written.
// Nested records are values, not pointers, except ContainerSecurityContext, whose key is
// present exactly when the container's securityContext is set. Records are immutable once
// built: converters fill them once, and nobody writes to them after they are shared.
// Quantities (cpu, memory, storage, pods) are their canonical Kubernetes strings.

// NamespaceInfo is the record of a Namespace (contract §4.1).
type NamespaceInfo struct {
	UID         string            `json:"uid"`
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Phase       string            `json:"phase,omitempty"`
	CreatedAt   Time              `json:"k8s_created_at"`
}

// PodInfo is the record of a Pod (contract §4.2).
type PodInfo struct {
	UID               string            `json:"uid"`
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	NodeName          string            `json:"node_name,omitempty"`
	ServiceAccount    string            `json:"service_account,omitempty"`
	Phase             string            `json:"phase,omitempty"`
	QOSClass          string            `json:"qos_class,omitempty"`
	PriorityClassName string            `json:"priority_class_name,omitempty"`
	HostIP            string            `json:"host_ip,omitempty"`
	PodIP             string            `json:"pod_ip,omitempty"`
	Conditions        []PodCondition    `json:"conditions,omitempty"`
	Containers        []ContainerInfo   `json:"containers,omitempty"`
	InitContainers    []ContainerInfo   `json:"init_containers,omitempty"`
	Volumes           []VolumeInfo      `json:"volumes,omitempty"`
	CreatedAt         Time              `json:"k8s_created_at"`
}

// PodCondition is one entry of a pod's status.conditions: type and status only.
type PodCondition struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

// ContainerInfo describes one container or init container of a pod.
type ContainerInfo struct {
	Name         string `json:"name"`
	Image        string `json:"image"`
	State        string `json:"state,omitempty"`
	Ready        bool   `json:"ready"`
	RestartCount int32  `json:"restart_count"`
	// Resources is always written, as {} when nothing is set.
	Resources    ResourceRequirements `json:"resources"`
	Ports        []ContainerPort      `json:"ports,omitempty"`
	VolumeMounts []VolumeMount        `json:"volume_mounts,omitempty"`
	// EnvVarNames holds env[].name only; values are never read.
	EnvVarNames []string `json:"env_var_names,omitempty"`
	// SecurityContext is non-nil exactly when the container's securityContext is set; it may
	// then encode as {}.
	SecurityContext *ContainerSecurityContext `json:"security_context,omitempty"`
}

// ResourceRequirements holds the cpu and memory requests and limits as quantity strings.
type ResourceRequirements struct {
	CPURequest    string `json:"cpu_request,omitempty"`
	CPULimit      string `json:"cpu_limit,omitempty"`
	MemoryRequest string `json:"memory_request,omitempty"`
	MemoryLimit   string `json:"memory_limit,omitempty"`
}

// ContainerPort is one entry of a container's ports.
type ContainerPort struct {
	ContainerPort int32  `json:"container_port"`
	Protocol      string `json:"protocol,omitempty"`
	Name          string `json:"name,omitempty"`
}

// VolumeMount is one entry of a container's volumeMounts.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mount_path"`
	ReadOnly  bool   `json:"read_only"`
}

// ContainerSecurityContext is the part of a container's securityContext the contract carries.
type ContainerSecurityContext struct {
	// Privileged is nil when unset; an explicit false is written.
	Privileged *bool `json:"privileged,omitempty"`
	// RunAsRoot is true or absent, never false on the wire.
	RunAsRoot bool `json:"run_as_root,omitempty"`
	// Capabilities holds capabilities.add only.
	Capabilities []string `json:"capabilities,omitempty"`
}

// VolumeInfo is one entry of a pod's spec.volumes.
type VolumeInfo struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Source string `json:"source,omitempty"`
}

// ServiceInfo is the record of a Service (contract §4.3).
type ServiceInfo struct {
	UID         string            `json:"uid"`
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	ServiceType string            `json:"service_type,omitempty"`
	ClusterIP   string            `json:"cluster_ip,omitempty"`
	Ports       []PortInfo        `json:"ports,omitempty"`
	Selector    map[string]string `json:"selector,omitempty"`
	CreatedAt   Time              `json:"k8s_created_at"`
}

// PortInfo is one entry of a Service's spec.ports. TargetPort is the contract's only
// camelCase key.
type PortInfo struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol"`
	Port       int32  `json:"port"`
	TargetPort string `json:"targetPort,omitempty"`
}

// NodeInfo is the record of a Node (contract §4.4). It has no namespace. The capacities are
// always written; converters put "0" for a missing one.
type NodeInfo struct {
	UID              string            `json:"uid"`
	Name             string            `json:"name"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	Status           string            `json:"status"`
	Roles            []string          `json:"roles,omitempty"`
	KubeletVersion   string            `json:"kubelet_version,omitempty"`
	ContainerRuntime string            `json:"container_runtime,omitempty"`
	OSImage          string            `json:"os_image,omitempty"`
	Architecture     string            `json:"architecture,omitempty"`
	CPUCapacity      string            `json:"cpu_capacity"`
	MemoryCapacity   string            `json:"memory_capacity"`
	PodCapacity      string            `json:"pod_capacity"`
	CreatedAt        Time              `json:"k8s_created_at"`
}

// DeploymentInfo is the record of a Deployment (contract §4.5).
type DeploymentInfo struct {
	UID               string            `json:"uid"`
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	Replicas          int32             `json:"replicas"`
	ReadyReplicas     int32             `json:"ready_replicas"`
	AvailableReplicas int32             `json:"available_replicas"`
	UpdatedReplicas   int32             `json:"updated_replicas"`
	Strategy          string            `json:"strategy,omitempty"`
	Selector          map[string]string `json:"selector,omitempty"`
	Image             string            `json:"image,omitempty"`
	CreatedAt         Time              `json:"k8s_created_at"`
}

// StatefulSetInfo is the record of a StatefulSet (contract §4.6).
type StatefulSetInfo struct {
	UID             string            `json:"uid"`
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
	Replicas        int32             `json:"replicas"`
	ReadyReplicas   int32             `json:"ready_replicas"`
	CurrentReplicas int32             `json:"current_replicas"`
	UpdateStrategy  string            `json:"update_strategy,omitempty"`
	ServiceName     string            `json:"service_name,omitempty"`
	Selector        map[string]string `json:"selector,omitempty"`
	Image           string            `json:"image,omitempty"`
	CreatedAt       Time              `json:"k8s_created_at"`
}

// DaemonSetInfo is the record of a DaemonSet (contract §4.7).
type DaemonSetInfo struct {
	UID                    string            `json:"uid"`
	Name                   string            `json:"name"`
	Namespace              string            `json:"namespace"`
	Labels                 map[string]string `json:"labels,omitempty"`
	Annotations            map[string]string `json:"annotations,omitempty"`
	DesiredNumberScheduled int32             `json:"desired_number_scheduled"`
	CurrentNumberScheduled int32             `json:"current_number_scheduled"`
	NumberReady            int32             `json:"number_ready"`
	NumberAvailable        int32             `json:"number_available"`
	UpdateStrategy         string            `json:"update_strategy,omitempty"`
	Selector               map[string]string `json:"selector,omitempty"`
	NodeSelector           map[string]string `json:"node_selector,omitempty"`
	Image                  string            `json:"image,omitempty"`
	CreatedAt              Time              `json:"k8s_created_at"`
}

// JobInfo is the record of a Job (contract §4.8).
type JobInfo struct {
	UID            string            `json:"uid"`
	Name           string            `json:"name"`
	Namespace      string            `json:"namespace"`
	Labels         map[string]string `json:"labels,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Completions    int32             `json:"completions"`
	Parallelism    int32             `json:"parallelism"`
	Succeeded      int32             `json:"succeeded"`
	Failed         int32             `json:"failed"`
	Active         int32             `json:"active"`
	StartTime      Time              `json:"start_time,omitzero"`
	CompletionTime Time              `json:"completion_time,omitzero"`
	// OwnerRef is the name of the first owning CronJob.
	OwnerRef  string `json:"owner_ref,omitempty"`
	CreatedAt Time   `json:"k8s_created_at"`
}

// CronJobInfo is the record of a CronJob (contract §4.9).
type CronJobInfo struct {
	UID               string            `json:"uid"`
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	Schedule          string            `json:"schedule"`
	Suspend           bool              `json:"suspend"`
	ConcurrencyPolicy string            `json:"concurrency_policy,omitempty"`
	LastScheduleTime  Time              `json:"last_schedule_time,omitzero"`
	// ActiveJobs is the count of status.active.
	ActiveJobs int32 `json:"active_jobs"`
	CreatedAt  Time  `json:"k8s_created_at"`
}

// IngressInfo is the record of an Ingress (contract §4.10).
type IngressInfo struct {
	UID              string            `json:"uid"`
	Name             string            `json:"name"`
	Namespace        string            `json:"namespace"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	IngressClassName string            `json:"ingress_class_name,omitempty"`
	Rules            []IngressRule     `json:"rules,omitempty"`
	TLS              []IngressTLS      `json:"tls,omitempty"`
	LoadBalancerIPs  []string          `json:"load_balancer_ips,omitempty"`
	CreatedAt        Time              `json:"k8s_created_at"`
}

// IngressRule is one entry of an Ingress's spec.rules.
type IngressRule struct {
	Host  string        `json:"host,omitempty"`
	Paths []IngressPath `json:"paths,omitempty"`
}

// IngressPath is one HTTP path of an IngressRule. ServicePort is 0, and so absent, for a
// named backend port.
type IngressPath struct {
	Path        string `json:"path,omitempty"`
	PathType    string `json:"path_type,omitempty"`
	ServiceName string `json:"service_name,omitempty"`
	ServicePort int32  `json:"service_port,omitempty"`
}

// IngressTLS is one entry of an Ingress's spec.tls.
type IngressTLS struct {
	Hosts      []string `json:"hosts,omitempty"`
	SecretName string   `json:"secret_name,omitempty"`
}

// NetworkPolicyInfo is the record of a NetworkPolicy (contract §4.11). The rule counts are Go
// ints, as in the reference.
type NetworkPolicyInfo struct {
	UID          string            `json:"uid"`
	Name         string            `json:"name"`
	Namespace    string            `json:"namespace"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	PodSelector  map[string]string `json:"pod_selector,omitempty"`
	PolicyTypes  []string          `json:"policy_types,omitempty"`
	IngressRules int               `json:"ingress_rules"`
	EgressRules  int               `json:"egress_rules"`
	CreatedAt    Time              `json:"k8s_created_at"`
}

// ConfigMapInfo is the record of a ConfigMap (contract §4.12): key names, never values.
type ConfigMapInfo struct {
	UID         string            `json:"uid"`
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	DataKeys    []string          `json:"data_keys,omitempty"`
	BinaryKeys  []string          `json:"binary_keys,omitempty"`
	Immutable   bool              `json:"immutable"`
	CreatedAt   Time              `json:"k8s_created_at"`
}

// SecretInfo is the record of a Secret (contract §4.13): key names, never values.
type SecretInfo struct {
	UID         string            `json:"uid"`
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Type        string            `json:"type,omitempty"`
	DataKeys    []string          `json:"data_keys,omitempty"`
	Immutable   bool              `json:"immutable"`
	CreatedAt   Time              `json:"k8s_created_at"`
}

// PVCInfo is the record of a PersistentVolumeClaim (contract §4.14).
type PVCInfo struct {
	UID              string            `json:"uid"`
	Name             string            `json:"name"`
	Namespace        string            `json:"namespace"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	StorageClassName string            `json:"storage_class_name,omitempty"`
	AccessModes      []string          `json:"access_modes,omitempty"`
	StorageRequest   string            `json:"storage_request,omitempty"`
	VolumeName       string            `json:"volume_name,omitempty"`
	Phase            string            `json:"phase,omitempty"`
	VolumeMode       string            `json:"volume_mode,omitempty"`
	CreatedAt        Time              `json:"k8s_created_at"`
}

// ServiceAccountInfo is the record of a ServiceAccount (contract §4.15).
type ServiceAccountInfo struct {
	UID              string            `json:"uid"`
	Name             string            `json:"name"`
	Namespace        string            `json:"namespace"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	Secrets          []string          `json:"secrets,omitempty"`
	ImagePullSecrets []string          `json:"image_pull_secrets,omitempty"`
	// AutomountServiceAccountToken is nil when unset; an explicit false is written.
	AutomountServiceAccountToken *bool `json:"automount_service_account_token,omitempty"`
	CreatedAt                    Time  `json:"k8s_created_at"`
}

// RoleInfo is the record of a Role or, with IsCluster, a ClusterRole (contract §4.16).
type RoleInfo struct {
	UID         string            `json:"uid"`
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	IsCluster   bool              `json:"is_cluster"`
	RuleCount   int               `json:"rule_count"`
	// Resources is always written; nil goes out as [].
	Resources Strings `json:"resources"`
	CreatedAt Time    `json:"k8s_created_at"`
}

// RoleBindingInfo is the record of a RoleBinding or, with IsCluster, a ClusterRoleBinding
// (contract §4.17).
type RoleBindingInfo struct {
	UID         string            `json:"uid"`
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	IsCluster   bool              `json:"is_cluster"`
	RoleRef     RoleRef           `json:"role_ref"`
	Subjects    []Subject         `json:"subjects,omitempty"`
	CreatedAt   Time              `json:"k8s_created_at"`
}

// RoleRef is a binding's roleRef, without apiGroup.
type RoleRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Subject is one of a binding's subjects, without apiGroup.
type Subject struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// EventInfo is the record of a core/v1 Event (contract §4.18). It has no labels or
// annotations; Source is always written, as {} when empty.
type EventInfo struct {
	UID            string          `json:"uid"`
	Name           string          `json:"name"`
	Namespace      string          `json:"namespace"`
	Type           string          `json:"type"`
	Reason         string          `json:"reason"`
	Message        string          `json:"message"`
	InvolvedObject ObjectReference `json:"involved_object"`
	Source         EventSource     `json:"source"`
	FirstTimestamp Time            `json:"first_timestamp,omitzero"`
	LastTimestamp  Time            `json:"last_timestamp,omitzero"`
	Count          int32           `json:"count"`
	CreatedAt      Time            `json:"k8s_created_at"`
}

// ObjectReference is an event's involvedObject.
type ObjectReference struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	UID       string `json:"uid,omitempty"`
}

// EventSource is an event's source.
type EventSource struct {
	Component string `json:"component,omitempty"`
	Host      string `json:"host,omitempty"`
}

// Strings is a string list that is always written as an array: nil encodes as [], never
// null. A []string converts to it directly.
type Strings []string

// MarshalJSON writes s as a JSON array, [] when s is nil.
func (s Strings) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(s))
}

// Kind implements Record.
func (*NamespaceInfo) Kind() Kind { return KindNamespace }

// Kind implements Record.
func (*PodInfo) Kind() Kind { return KindPod }

// Kind implements Record.
func (*ServiceInfo) Kind() Kind { return KindService }

// Kind implements Record.
func (*NodeInfo) Kind() Kind { return KindNode }

// Kind implements Record.
func (*DeploymentInfo) Kind() Kind { return KindDeployment }

// Kind implements Record.
func (*StatefulSetInfo) Kind() Kind { return KindStatefulSet }

// Kind implements Record.
func (*DaemonSetInfo) Kind() Kind { return KindDaemonSet }

// Kind implements Record.
func (*JobInfo) Kind() Kind { return KindJob }

// Kind implements Record.
func (*CronJobInfo) Kind() Kind { return KindCronJob }

// Kind implements Record.
func (*IngressInfo) Kind() Kind { return KindIngress }

// Kind implements Record.
func (*NetworkPolicyInfo) Kind() Kind { return KindNetworkPolicy }

// Kind implements Record.
func (*ConfigMapInfo) Kind() Kind { return KindConfigMap }

// Kind implements Record.
func (*SecretInfo) Kind() Kind { return KindSecret }

// Kind implements Record.
func (*PVCInfo) Kind() Kind { return KindPersistentVolumeClaim }

// Kind implements Record.
func (*ServiceAccountInfo) Kind() Kind { return KindServiceAccount }

// Kind implements Record: ClusterRole when IsCluster, otherwise Role.
func (r *RoleInfo) Kind() Kind {
	if r.IsCluster {
		return KindClusterRole
	}
	return KindRole
}

// Kind implements Record: ClusterRoleBinding when IsCluster, otherwise RoleBinding.
func (r *RoleBindingInfo) Kind() Kind {
	if r.IsCluster {
		return KindClusterRoleBinding
	}
	return KindRoleBinding
}

// Kind implements Record.
func (*EventInfo) Kind() Kind { return KindEvent }
