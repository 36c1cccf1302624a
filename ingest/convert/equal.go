package convert

import (
	"maps"
	"slices"

	"github.com/obsyk/obsyk-hub/transport"
)

// Equal reports whether a and b would encode to the same JSON: same record type (and so the
// same kind) and equal values field by field. A nil list or map equals an empty one, as both
// leave the key out (or, for RoleInfo.Resources, both write []); a nil *bool or security
// context does not equal a set one. List order matters, so records built by this package,
// which sort the lists the contract leaves unordered, compare equal exactly when their
// objects carry the same contract data.
//
// It is the "only real changes" check (shared/ARCHITECTURE.md, delivery item 4): a typed,
// allocation-free comparison, much cheaper than encoding both records. Two nil records are
// equal; a nil and a non-nil one are not.
func Equal(a, b transport.Record) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case *transport.NamespaceInfo:
		y, ok := b.(*transport.NamespaceInfo)
		return ok && eqPtr(x, y, eqNamespace)
	case *transport.PodInfo:
		y, ok := b.(*transport.PodInfo)
		return ok && eqPtr(x, y, eqPod)
	case *transport.ServiceInfo:
		y, ok := b.(*transport.ServiceInfo)
		return ok && eqPtr(x, y, eqService)
	case *transport.NodeInfo:
		y, ok := b.(*transport.NodeInfo)
		return ok && eqPtr(x, y, eqNode)
	case *transport.DeploymentInfo:
		y, ok := b.(*transport.DeploymentInfo)
		return ok && eqPtr(x, y, eqDeployment)
	case *transport.StatefulSetInfo:
		y, ok := b.(*transport.StatefulSetInfo)
		return ok && eqPtr(x, y, eqStatefulSet)
	case *transport.DaemonSetInfo:
		y, ok := b.(*transport.DaemonSetInfo)
		return ok && eqPtr(x, y, eqDaemonSet)
	case *transport.JobInfo:
		y, ok := b.(*transport.JobInfo)
		return ok && eqPtr(x, y, eqJob)
	case *transport.CronJobInfo:
		y, ok := b.(*transport.CronJobInfo)
		return ok && eqPtr(x, y, eqCronJob)
	case *transport.IngressInfo:
		y, ok := b.(*transport.IngressInfo)
		return ok && eqPtr(x, y, eqIngress)
	case *transport.NetworkPolicyInfo:
		y, ok := b.(*transport.NetworkPolicyInfo)
		return ok && eqPtr(x, y, eqNetworkPolicy)
	case *transport.ConfigMapInfo:
		y, ok := b.(*transport.ConfigMapInfo)
		return ok && eqPtr(x, y, eqConfigMap)
	case *transport.SecretInfo:
		y, ok := b.(*transport.SecretInfo)
		return ok && eqPtr(x, y, eqSecret)
	case *transport.PVCInfo:
		y, ok := b.(*transport.PVCInfo)
		return ok && eqPtr(x, y, eqPVC)
	case *transport.ServiceAccountInfo:
		y, ok := b.(*transport.ServiceAccountInfo)
		return ok && eqPtr(x, y, eqServiceAccount)
	case *transport.RoleInfo:
		y, ok := b.(*transport.RoleInfo)
		return ok && eqPtr(x, y, eqRole)
	case *transport.RoleBindingInfo:
		y, ok := b.(*transport.RoleBindingInfo)
		return ok && eqPtr(x, y, eqRoleBinding)
	case *transport.EventInfo:
		y, ok := b.(*transport.EventInfo)
		return ok && eqPtr(x, y, eqEvent)
	}
	return false
}

// eqPtr compares two record pointers: identical pointers are equal without a look, nil
// pointers (which encode as null) equal only each other.
func eqPtr[T any](a, b *T, eq func(a, b *T) bool) bool {
	switch {
	case a == b:
		return true
	case a == nil || b == nil:
		return false
	}
	return eq(a, b)
}

// eqBoolPtr compares unset-only bools: unset differs from false.
func eqBoolPtr(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func eqNamespace(a, b *transport.NamespaceInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Phase == b.Phase && a.CreatedAt == b.CreatedAt &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqPod(a, b *transport.PodInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.NodeName == b.NodeName && a.ServiceAccount == b.ServiceAccount && a.Phase == b.Phase &&
		a.QOSClass == b.QOSClass && a.PriorityClassName == b.PriorityClassName &&
		a.HostIP == b.HostIP && a.PodIP == b.PodIP && a.CreatedAt == b.CreatedAt &&
		slices.Equal(a.Conditions, b.Conditions) && slices.Equal(a.Volumes, b.Volumes) &&
		slices.EqualFunc(a.Containers, b.Containers, eqContainer) &&
		slices.EqualFunc(a.InitContainers, b.InitContainers, eqContainer) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqContainer(a, b transport.ContainerInfo) bool {
	return a.Name == b.Name && a.Image == b.Image && a.State == b.State && a.Ready == b.Ready &&
		a.RestartCount == b.RestartCount && a.Resources == b.Resources &&
		slices.Equal(a.Ports, b.Ports) && slices.Equal(a.VolumeMounts, b.VolumeMounts) &&
		slices.Equal(a.EnvVarNames, b.EnvVarNames) && eqSecurityContext(a.SecurityContext, b.SecurityContext)
}

func eqSecurityContext(a, b *transport.ContainerSecurityContext) bool {
	switch {
	case a == b:
		return true
	case a == nil || b == nil:
		return false
	}
	return eqBoolPtr(a.Privileged, b.Privileged) && a.RunAsRoot == b.RunAsRoot &&
		slices.Equal(a.Capabilities, b.Capabilities)
}

func eqService(a, b *transport.ServiceInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.ServiceType == b.ServiceType && a.ClusterIP == b.ClusterIP && a.CreatedAt == b.CreatedAt &&
		slices.Equal(a.Ports, b.Ports) && maps.Equal(a.Selector, b.Selector) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqNode(a, b *transport.NodeInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Status == b.Status &&
		a.KubeletVersion == b.KubeletVersion && a.ContainerRuntime == b.ContainerRuntime &&
		a.OSImage == b.OSImage && a.Architecture == b.Architecture &&
		a.CPUCapacity == b.CPUCapacity && a.MemoryCapacity == b.MemoryCapacity &&
		a.PodCapacity == b.PodCapacity && a.CreatedAt == b.CreatedAt &&
		slices.Equal(a.Roles, b.Roles) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqDeployment(a, b *transport.DeploymentInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.Replicas == b.Replicas && a.ReadyReplicas == b.ReadyReplicas &&
		a.AvailableReplicas == b.AvailableReplicas && a.UpdatedReplicas == b.UpdatedReplicas &&
		a.Strategy == b.Strategy && a.Image == b.Image && a.CreatedAt == b.CreatedAt &&
		maps.Equal(a.Selector, b.Selector) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqStatefulSet(a, b *transport.StatefulSetInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.Replicas == b.Replicas && a.ReadyReplicas == b.ReadyReplicas &&
		a.CurrentReplicas == b.CurrentReplicas && a.UpdateStrategy == b.UpdateStrategy &&
		a.ServiceName == b.ServiceName && a.Image == b.Image && a.CreatedAt == b.CreatedAt &&
		maps.Equal(a.Selector, b.Selector) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqDaemonSet(a, b *transport.DaemonSetInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.DesiredNumberScheduled == b.DesiredNumberScheduled &&
		a.CurrentNumberScheduled == b.CurrentNumberScheduled &&
		a.NumberReady == b.NumberReady && a.NumberAvailable == b.NumberAvailable &&
		a.UpdateStrategy == b.UpdateStrategy && a.Image == b.Image && a.CreatedAt == b.CreatedAt &&
		maps.Equal(a.Selector, b.Selector) && maps.Equal(a.NodeSelector, b.NodeSelector) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqJob(a, b *transport.JobInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.Completions == b.Completions && a.Parallelism == b.Parallelism &&
		a.Succeeded == b.Succeeded && a.Failed == b.Failed && a.Active == b.Active &&
		a.StartTime == b.StartTime && a.CompletionTime == b.CompletionTime &&
		a.OwnerRef == b.OwnerRef && a.CreatedAt == b.CreatedAt &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqCronJob(a, b *transport.CronJobInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.Schedule == b.Schedule && a.Suspend == b.Suspend &&
		a.ConcurrencyPolicy == b.ConcurrencyPolicy && a.LastScheduleTime == b.LastScheduleTime &&
		a.ActiveJobs == b.ActiveJobs && a.CreatedAt == b.CreatedAt &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqIngress(a, b *transport.IngressInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.IngressClassName == b.IngressClassName && a.CreatedAt == b.CreatedAt &&
		slices.EqualFunc(a.Rules, b.Rules, func(x, y transport.IngressRule) bool {
			return x.Host == y.Host && slices.Equal(x.Paths, y.Paths)
		}) &&
		slices.EqualFunc(a.TLS, b.TLS, func(x, y transport.IngressTLS) bool {
			return x.SecretName == y.SecretName && slices.Equal(x.Hosts, y.Hosts)
		}) &&
		slices.Equal(a.LoadBalancerIPs, b.LoadBalancerIPs) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqNetworkPolicy(a, b *transport.NetworkPolicyInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.IngressRules == b.IngressRules && a.EgressRules == b.EgressRules &&
		a.CreatedAt == b.CreatedAt && slices.Equal(a.PolicyTypes, b.PolicyTypes) &&
		maps.Equal(a.PodSelector, b.PodSelector) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqConfigMap(a, b *transport.ConfigMapInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.Immutable == b.Immutable && a.CreatedAt == b.CreatedAt &&
		slices.Equal(a.DataKeys, b.DataKeys) && slices.Equal(a.BinaryKeys, b.BinaryKeys) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqSecret(a, b *transport.SecretInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.Type == b.Type && a.Immutable == b.Immutable && a.CreatedAt == b.CreatedAt &&
		slices.Equal(a.DataKeys, b.DataKeys) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqPVC(a, b *transport.PVCInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.StorageClassName == b.StorageClassName && a.StorageRequest == b.StorageRequest &&
		a.VolumeName == b.VolumeName && a.Phase == b.Phase && a.VolumeMode == b.VolumeMode &&
		a.CreatedAt == b.CreatedAt && slices.Equal(a.AccessModes, b.AccessModes) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqServiceAccount(a, b *transport.ServiceAccountInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		eqBoolPtr(a.AutomountServiceAccountToken, b.AutomountServiceAccountToken) &&
		a.CreatedAt == b.CreatedAt && slices.Equal(a.Secrets, b.Secrets) &&
		slices.Equal(a.ImagePullSecrets, b.ImagePullSecrets) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqRole(a, b *transport.RoleInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.IsCluster == b.IsCluster && a.RuleCount == b.RuleCount && a.CreatedAt == b.CreatedAt &&
		slices.Equal(a.Resources, b.Resources) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqRoleBinding(a, b *transport.RoleBindingInfo) bool {
	return a.UID == b.UID && a.Name == b.Name && a.Namespace == b.Namespace &&
		a.IsCluster == b.IsCluster && a.RoleRef == b.RoleRef && a.CreatedAt == b.CreatedAt &&
		slices.Equal(a.Subjects, b.Subjects) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

func eqEvent(a, b *transport.EventInfo) bool {
	return *a == *b
}
