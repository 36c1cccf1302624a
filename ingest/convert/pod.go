package convert

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/obsyk/obsyk-hub/transport"
)

// Pod returns the record of a Pod (contract §4.2). Containers are matched to their statuses
// by name; env values, valueFrom and envFrom are never read.
//
// The nested lists of all containers (ports, volume mounts, env names) each share one backing
// array, cut with full slice expressions, so a pod costs a handful of allocations whatever
// its number of containers.
func Pod(o *corev1.Pod) *transport.PodInfo {
	r := &transport.PodInfo{
		UID:               string(o.UID),
		Name:              o.Name,
		Namespace:         o.Namespace,
		Labels:            nonEmpty(o.Labels),
		Annotations:       FilterAnnotations(o.Annotations),
		NodeName:          o.Spec.NodeName,
		ServiceAccount:    o.Spec.ServiceAccountName,
		Phase:             string(o.Status.Phase),
		QOSClass:          string(o.Status.QOSClass),
		PriorityClassName: o.Spec.PriorityClassName,
		HostIP:            o.Status.HostIP,
		PodIP:             o.Status.PodIP,
		CreatedAt:         ts(o.CreationTimestamp),
	}
	if n := len(o.Status.Conditions); n > 0 {
		r.Conditions = make([]transport.PodCondition, n)
		for i := range o.Status.Conditions {
			c := &o.Status.Conditions[i]
			r.Conditions[i] = transport.PodCondition{Type: string(c.Type), Status: string(c.Status)}
		}
	}

	nc, ni := len(o.Spec.Containers), len(o.Spec.InitContainers)
	if nc+ni > 0 {
		var a arena
		a.size(o.Spec.Containers)
		a.size(o.Spec.InitContainers)
		a.alloc()
		all := make([]transport.ContainerInfo, nc+ni)
		for i := range o.Spec.Containers {
			a.container(&all[i], &o.Spec.Containers[i], o.Status.ContainerStatuses)
		}
		for i := range o.Spec.InitContainers {
			a.container(&all[nc+i], &o.Spec.InitContainers[i], o.Status.InitContainerStatuses)
		}
		if nc > 0 {
			r.Containers = all[:nc:nc]
		}
		if ni > 0 {
			r.InitContainers = all[nc:]
		}
	}

	if n := len(o.Spec.Volumes); n > 0 {
		r.Volumes = make([]transport.VolumeInfo, n)
		for i := range o.Spec.Volumes {
			r.Volumes[i] = volume(&o.Spec.Volumes[i])
		}
	}
	return r
}

// arena holds the shared backing arrays of a pod's container lists.
type arena struct {
	nPorts, nMounts, nEnv, nSec int
	ports                       []transport.ContainerPort
	mounts                      []transport.VolumeMount
	env                         []string
	sec                         []transport.ContainerSecurityContext
}

func (a *arena) size(cs []corev1.Container) {
	for i := range cs {
		c := &cs[i]
		a.nPorts += len(c.Ports)
		a.nMounts += len(c.VolumeMounts)
		a.nEnv += len(c.Env)
		if c.SecurityContext != nil {
			a.nSec++
		}
	}
}

func (a *arena) alloc() {
	if a.nPorts > 0 {
		a.ports = make([]transport.ContainerPort, 0, a.nPorts)
	}
	if a.nMounts > 0 {
		a.mounts = make([]transport.VolumeMount, 0, a.nMounts)
	}
	if a.nEnv > 0 {
		a.env = make([]string, 0, a.nEnv)
	}
	if a.nSec > 0 {
		a.sec = make([]transport.ContainerSecurityContext, a.nSec)
	}
}

// container fills out from the container spec c and its status, found by name in statuses.
func (a *arena) container(out *transport.ContainerInfo, c *corev1.Container, statuses []corev1.ContainerStatus) {
	out.Name = c.Name
	out.Image = c.Image
	for i := range statuses {
		st := &statuses[i]
		if st.Name != c.Name {
			continue
		}
		switch {
		case st.State.Running != nil:
			out.State = "running"
		case st.State.Waiting != nil:
			out.State = "waiting"
		case st.State.Terminated != nil:
			out.State = "terminated"
		}
		out.Ready = st.Ready
		out.RestartCount = st.RestartCount
		break
	}
	out.Resources = transport.ResourceRequirements{
		CPURequest:    quantity(c.Resources.Requests, corev1.ResourceCPU),
		CPULimit:      quantity(c.Resources.Limits, corev1.ResourceCPU),
		MemoryRequest: quantity(c.Resources.Requests, corev1.ResourceMemory),
		MemoryLimit:   quantity(c.Resources.Limits, corev1.ResourceMemory),
	}
	if n := len(c.Ports); n > 0 {
		start := len(a.ports)
		for i := range c.Ports {
			p := &c.Ports[i]
			a.ports = append(a.ports, transport.ContainerPort{
				ContainerPort: p.ContainerPort, Protocol: string(p.Protocol), Name: p.Name})
		}
		out.Ports = a.ports[start : start+n : start+n]
	}
	if n := len(c.VolumeMounts); n > 0 {
		start := len(a.mounts)
		for i := range c.VolumeMounts {
			m := &c.VolumeMounts[i]
			a.mounts = append(a.mounts, transport.VolumeMount{
				Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
		}
		out.VolumeMounts = a.mounts[start : start+n : start+n]
	}
	if n := len(c.Env); n > 0 {
		start := len(a.env)
		for i := range c.Env {
			// Names only: Value and ValueFrom are never touched.
			a.env = append(a.env, c.Env[i].Name)
		}
		out.EnvVarNames = a.env[start : start+n : start+n]
	}
	if sc := c.SecurityContext; sc != nil {
		s := &a.sec[0]
		a.sec = a.sec[1:]
		s.Privileged = boolPtr(sc.Privileged)
		s.RunAsRoot = (sc.RunAsUser != nil && *sc.RunAsUser == 0) ||
			(sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot)
		if sc.Capabilities != nil {
			s.Capabilities = stringsOf(sc.Capabilities.Add)
		}
		out.SecurityContext = s
	}
}

// volume returns the record of one pod volume, checking the sources in the contract's order
// (§4.2, VolumeInfo): the first one set wins.
func volume(v *corev1.Volume) transport.VolumeInfo {
	r := transport.VolumeInfo{Name: v.Name}
	s := &v.VolumeSource
	switch {
	case s.EmptyDir != nil:
		r.Type = "emptyDir"
	case s.ConfigMap != nil:
		r.Type, r.Source = "configMap", s.ConfigMap.Name
	case s.Secret != nil:
		r.Type, r.Source = "secret", s.Secret.SecretName
	case s.PersistentVolumeClaim != nil:
		r.Type, r.Source = "pvc", s.PersistentVolumeClaim.ClaimName
	case s.HostPath != nil:
		r.Type, r.Source = "hostPath", s.HostPath.Path
	case s.Projected != nil:
		r.Type = "projected"
	case s.DownwardAPI != nil:
		r.Type = "downwardAPI"
	case s.CSI != nil:
		r.Type, r.Source = "csi", s.CSI.Driver
	case s.NFS != nil:
		r.Type, r.Source = "nfs", s.NFS.Server+":"+s.NFS.Path
	case s.Ephemeral != nil:
		r.Type = "ephemeral"
	default:
		r.Type = "unknown"
	}
	return r
}
