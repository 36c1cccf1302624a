package convert

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/obsyk/obsyk-hub/transport"
)

// Namespace returns the record of a Namespace (contract §4.1).
func Namespace(o *corev1.Namespace) *transport.NamespaceInfo {
	return &transport.NamespaceInfo{
		UID:         string(o.UID),
		Name:        o.Name,
		Labels:      nonEmpty(o.Labels),
		Annotations: FilterAnnotations(o.Annotations),
		Phase:       string(o.Status.Phase),
		CreatedAt:   ts(o.CreationTimestamp),
	}
}

// Service returns the record of a Service (contract §4.3). targetPort is the port's number in
// decimal or its name; an unset one is "0".
func Service(o *corev1.Service) *transport.ServiceInfo {
	r := &transport.ServiceInfo{
		UID:         string(o.UID),
		Name:        o.Name,
		Namespace:   o.Namespace,
		Labels:      nonEmpty(o.Labels),
		Annotations: FilterAnnotations(o.Annotations),
		ServiceType: string(o.Spec.Type),
		ClusterIP:   o.Spec.ClusterIP,
		Selector:    nonEmpty(o.Spec.Selector),
		CreatedAt:   ts(o.CreationTimestamp),
	}
	if n := len(o.Spec.Ports); n > 0 {
		r.Ports = make([]transport.PortInfo, n)
		for i := range o.Spec.Ports {
			p := &o.Spec.Ports[i]
			r.Ports[i] = transport.PortInfo{
				Name:       p.Name,
				Protocol:   string(p.Protocol),
				Port:       p.Port,
				TargetPort: p.TargetPort.String(),
			}
		}
	}
	return r
}

// nodeRolePrefix starts the label keys that name a node's roles.
const nodeRolePrefix = "node-role.kubernetes.io/"

// Node returns the record of a Node (contract §4.4). Roles are sorted and de-duplicated
// (`master` and `control-plane` both give "control-plane").
func Node(o *corev1.Node) *transport.NodeInfo {
	r := &transport.NodeInfo{
		UID:              string(o.UID),
		Name:             o.Name,
		Labels:           nonEmpty(o.Labels),
		Annotations:      FilterAnnotations(o.Annotations),
		Status:           "NotReady",
		KubeletVersion:   o.Status.NodeInfo.KubeletVersion,
		ContainerRuntime: o.Status.NodeInfo.ContainerRuntimeVersion,
		OSImage:          o.Status.NodeInfo.OSImage,
		Architecture:     o.Status.NodeInfo.Architecture,
		CPUCapacity:      quantityOr0(o.Status.Capacity, corev1.ResourceCPU),
		MemoryCapacity:   quantityOr0(o.Status.Capacity, corev1.ResourceMemory),
		PodCapacity:      quantityOr0(o.Status.Capacity, corev1.ResourcePods),
		CreatedAt:        ts(o.CreationTimestamp),
	}
	for i := range o.Status.Conditions {
		if c := &o.Status.Conditions[i]; c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				r.Status = "Ready"
			}
			break
		}
	}
	for k := range o.Labels {
		role, ok := strings.CutPrefix(k, nodeRolePrefix)
		if !ok {
			continue
		}
		if role == "master" {
			role = "control-plane"
		}
		r.Roles = append(r.Roles, role)
	}
	if len(r.Roles) > 1 {
		slices.Sort(r.Roles)
		r.Roles = slices.Clip(slices.Compact(r.Roles))
	}
	return r
}

// ConfigMap returns the record of a ConfigMap (contract §4.12): the key names of data and
// binaryData, sorted. Values are never read.
func ConfigMap(o *corev1.ConfigMap) *transport.ConfigMapInfo {
	return &transport.ConfigMapInfo{
		UID:         string(o.UID),
		Name:        o.Name,
		Namespace:   o.Namespace,
		Labels:      nonEmpty(o.Labels),
		Annotations: FilterAnnotations(o.Annotations),
		DataKeys:    sortedKeys(o.Data),
		BinaryKeys:  sortedKeys(o.BinaryData),
		Immutable:   boolValue(o.Immutable),
		CreatedAt:   ts(o.CreationTimestamp),
	}
}

// Secret returns the record of a Secret (contract §4.13): the key names of data, sorted.
// Values are never read, and stringData (write-only, never returned by the API) is ignored.
func Secret(o *corev1.Secret) *transport.SecretInfo {
	return &transport.SecretInfo{
		UID:         string(o.UID),
		Name:        o.Name,
		Namespace:   o.Namespace,
		Labels:      nonEmpty(o.Labels),
		Annotations: FilterAnnotations(o.Annotations),
		Type:        string(o.Type),
		DataKeys:    sortedKeys(o.Data),
		Immutable:   boolValue(o.Immutable),
		CreatedAt:   ts(o.CreationTimestamp),
	}
}

// PersistentVolumeClaim returns the record of a PersistentVolumeClaim (contract §4.14).
func PersistentVolumeClaim(o *corev1.PersistentVolumeClaim) *transport.PVCInfo {
	r := &transport.PVCInfo{
		UID:            string(o.UID),
		Name:           o.Name,
		Namespace:      o.Namespace,
		Labels:         nonEmpty(o.Labels),
		Annotations:    FilterAnnotations(o.Annotations),
		AccessModes:    stringsOf(o.Spec.AccessModes),
		StorageRequest: quantity(o.Spec.Resources.Requests, corev1.ResourceStorage),
		VolumeName:     o.Spec.VolumeName,
		Phase:          string(o.Status.Phase),
		CreatedAt:      ts(o.CreationTimestamp),
	}
	if o.Spec.StorageClassName != nil {
		r.StorageClassName = *o.Spec.StorageClassName
	}
	if o.Spec.VolumeMode != nil {
		r.VolumeMode = string(*o.Spec.VolumeMode)
	}
	return r
}

// ServiceAccount returns the record of a ServiceAccount (contract §4.15).
func ServiceAccount(o *corev1.ServiceAccount) *transport.ServiceAccountInfo {
	r := &transport.ServiceAccountInfo{
		UID:                          string(o.UID),
		Name:                         o.Name,
		Namespace:                    o.Namespace,
		Labels:                       nonEmpty(o.Labels),
		Annotations:                  FilterAnnotations(o.Annotations),
		AutomountServiceAccountToken: boolPtr(o.AutomountServiceAccountToken),
		CreatedAt:                    ts(o.CreationTimestamp),
	}
	if n := len(o.Secrets); n > 0 {
		r.Secrets = make([]string, n)
		for i := range o.Secrets {
			r.Secrets[i] = o.Secrets[i].Name
		}
	}
	if n := len(o.ImagePullSecrets); n > 0 {
		r.ImagePullSecrets = make([]string, n)
		for i := range o.ImagePullSecrets {
			r.ImagePullSecrets[i] = o.ImagePullSecrets[i].Name
		}
	}
	return r
}

// Event returns the record of a core/v1 Event (contract §4.18). It carries no labels or
// annotations; the first and last timestamps are kept only when set (eventTime and series are
// not consulted).
func Event(o *corev1.Event) *transport.EventInfo {
	return &transport.EventInfo{
		UID:       string(o.UID),
		Name:      o.Name,
		Namespace: o.Namespace,
		Type:      o.Type,
		Reason:    o.Reason,
		Message:   o.Message,
		InvolvedObject: transport.ObjectReference{
			Kind:      o.InvolvedObject.Kind,
			Name:      o.InvolvedObject.Name,
			Namespace: o.InvolvedObject.Namespace,
			UID:       string(o.InvolvedObject.UID),
		},
		Source:         transport.EventSource{Component: o.Source.Component, Host: o.Source.Host},
		FirstTimestamp: ts(o.FirstTimestamp),
		LastTimestamp:  ts(o.LastTimestamp),
		Count:          o.Count,
		CreatedAt:      ts(o.CreationTimestamp),
	}
}
