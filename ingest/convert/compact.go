package convert

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/obsyk/obsyk-hub/ingest/intern"
	"github.com/obsyk/obsyk-hub/transport"
)

// Compact is Convert for records that are kept (an informer's cache): the record it
// returns encodes exactly as Convert's, but holds no reference into obj, and its repeated
// parts are canonical copies shared with every other compact record (package intern).
//
// The object's own name and UID, a pod's IP, a service's cluster IP, a PVC's volume name
// and an ingress's load balancer addresses are copied. Every other string is interned;
// label, annotation and selector maps are canonical maps; the lists that repeat from
// object to object (a pod's conditions, containers — their ports, mounts, env names and
// capabilities included — and volumes; a service's ports; a binding's subjects; key names,
// roles, resources, access modes) are canonical lists. The replicas of one Deployment
// thus share everything but their names, UIDs, IPs and whatever status sets them apart.
func Compact(obj runtime.Object) (transport.Record, error) {
	r, err := Convert(obj)
	if err != nil {
		return nil, err
	}
	compact(r)
	return r, nil
}

// own returns a copy of a string that is unique to one object, so it keeps nothing of the
// source alive.
func own(s string) string { return strings.Clone(s) }

// in interns a string that repeats across objects.
func in(s string) string { return intern.String(s) }

// compact rewrites a record fresh from a converter, and not yet shared with anyone, into
// its compact form. It writes into the record's own lists, which converters always build
// afresh, and replaces (never writes into) the maps and lists a record shares with its
// source: labels, annotations, selectors and an ingress TLS entry's hosts (see the package
// doc).
func compact(r transport.Record) {
	switch o := r.(type) {
	case *transport.NamespaceInfo:
		o.UID, o.Name = own(o.UID), in(o.Name) // namespace names repeat in every namespaced record
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.Phase = in(o.Phase)
	case *transport.PodInfo:
		compactPod(o)
	case *transport.ServiceInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.ServiceType, o.ClusterIP = in(o.ServiceType), own(o.ClusterIP)
		for i := range o.Ports {
			p := &o.Ports[i]
			p.Name, p.Protocol, p.TargetPort = in(p.Name), in(p.Protocol), in(p.TargetPort)
		}
		o.Ports = servicePorts.Get(o.Ports)
		o.Selector = intern.Map(o.Selector)
	case *transport.NodeInfo:
		o.UID, o.Name = own(o.UID), in(o.Name) // node names repeat in every pod record
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.Status, o.Roles = in(o.Status), strs(o.Roles)
		o.KubeletVersion, o.ContainerRuntime = in(o.KubeletVersion), in(o.ContainerRuntime)
		o.OSImage, o.Architecture = in(o.OSImage), in(o.Architecture)
		o.CPUCapacity, o.MemoryCapacity, o.PodCapacity = in(o.CPUCapacity), in(o.MemoryCapacity), in(o.PodCapacity)
	case *transport.DeploymentInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.Strategy, o.Selector, o.Image = in(o.Strategy), intern.Map(o.Selector), in(o.Image)
	case *transport.StatefulSetInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.UpdateStrategy, o.ServiceName = in(o.UpdateStrategy), in(o.ServiceName)
		o.Selector, o.Image = intern.Map(o.Selector), in(o.Image)
	case *transport.DaemonSetInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.UpdateStrategy, o.Selector = in(o.UpdateStrategy), intern.Map(o.Selector)
		o.NodeSelector, o.Image = intern.Map(o.NodeSelector), in(o.Image)
	case *transport.JobInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.OwnerRef = in(o.OwnerRef)
	case *transport.CronJobInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.Schedule, o.ConcurrencyPolicy = in(o.Schedule), in(o.ConcurrencyPolicy)
	case *transport.IngressInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.IngressClassName = in(o.IngressClassName)
		for i := range o.Rules {
			rule := &o.Rules[i]
			rule.Host = in(rule.Host)
			for j := range rule.Paths {
				p := &rule.Paths[j]
				p.Path, p.PathType, p.ServiceName = in(p.Path), in(p.PathType), in(p.ServiceName)
			}
		}
		for i := range o.TLS {
			t := &o.TLS[i]
			t.Hosts = strs(slices.Clone(t.Hosts)) // the source's own list: never written into
			t.SecretName = in(t.SecretName)
		}
		for i := range o.LoadBalancerIPs {
			o.LoadBalancerIPs[i] = own(o.LoadBalancerIPs[i])
		}
	case *transport.NetworkPolicyInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.PodSelector, o.PolicyTypes = intern.Map(o.PodSelector), strs(o.PolicyTypes)
	case *transport.ConfigMapInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.DataKeys, o.BinaryKeys = strs(o.DataKeys), strs(o.BinaryKeys)
	case *transport.SecretInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.Type, o.DataKeys = in(o.Type), strs(o.DataKeys)
	case *transport.PVCInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.StorageClassName, o.AccessModes = in(o.StorageClassName), strs(o.AccessModes)
		o.StorageRequest, o.VolumeName = in(o.StorageRequest), own(o.VolumeName)
		o.Phase, o.VolumeMode = in(o.Phase), in(o.VolumeMode)
	case *transport.ServiceAccountInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.Secrets, o.ImagePullSecrets = strs(o.Secrets), strs(o.ImagePullSecrets)
	case *transport.RoleInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.Resources = strs(o.Resources)
	case *transport.RoleBindingInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
		o.RoleRef = transport.RoleRef{Kind: in(o.RoleRef.Kind), Name: in(o.RoleRef.Name)}
		for i := range o.Subjects {
			s := &o.Subjects[i]
			s.Kind, s.Name, s.Namespace = in(s.Kind), in(s.Name), in(s.Namespace)
		}
		o.Subjects = subjects.Get(o.Subjects)
	case *transport.EventInfo:
		o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
		o.Type, o.Reason, o.Message = in(o.Type), in(o.Reason), in(o.Message)
		ref := &o.InvolvedObject
		ref.Kind, ref.Name, ref.Namespace, ref.UID = in(ref.Kind), in(ref.Name), in(ref.Namespace), in(ref.UID)
		o.Source = transport.EventSource{Component: in(o.Source.Component), Host: in(o.Source.Host)}
	}
}

func compactPod(o *transport.PodInfo) {
	o.UID, o.Name, o.Namespace = own(o.UID), own(o.Name), in(o.Namespace)
	o.Labels, o.Annotations = intern.Map(o.Labels), intern.Map(o.Annotations)
	o.NodeName, o.ServiceAccount = in(o.NodeName), in(o.ServiceAccount)
	o.Phase, o.QOSClass, o.PriorityClassName = in(o.Phase), in(o.QOSClass), in(o.PriorityClassName)
	o.HostIP, o.PodIP = in(o.HostIP), own(o.PodIP)
	for i := range o.Conditions {
		c := &o.Conditions[i]
		c.Type, c.Status = in(c.Type), in(c.Status)
	}
	o.Conditions = conditions.Get(o.Conditions)
	o.Containers = compactContainers(o.Containers)
	o.InitContainers = compactContainers(o.InitContainers)
	for i := range o.Volumes {
		v := &o.Volumes[i]
		v.Name, v.Type, v.Source = in(v.Name), in(v.Type), in(v.Source)
	}
	o.Volumes = volumes.Get(o.Volumes)
}

func compactContainers(cs []transport.ContainerInfo) []transport.ContainerInfo {
	for i := range cs {
		c := &cs[i]
		c.Name, c.Image, c.State = in(c.Name), in(c.Image), in(c.State)
		r := &c.Resources
		r.CPURequest, r.CPULimit = in(r.CPURequest), in(r.CPULimit)
		r.MemoryRequest, r.MemoryLimit = in(r.MemoryRequest), in(r.MemoryLimit)
		for j := range c.Ports {
			p := &c.Ports[j]
			p.Protocol, p.Name = in(p.Protocol), in(p.Name)
		}
		c.Ports = containerPorts.Get(c.Ports)
		for j := range c.VolumeMounts {
			m := &c.VolumeMounts[j]
			m.Name, m.MountPath = in(m.Name), in(m.MountPath)
		}
		c.VolumeMounts = volumeMounts.Get(c.VolumeMounts)
		c.EnvVarNames = strs(c.EnvVarNames)
		if sc := c.SecurityContext; sc != nil {
			sc.Capabilities = strs(sc.Capabilities)
		}
	}
	return containers.Get(cs)
}

// The tables of the lists that repeat across records.
var (
	stringLists = intern.NewSlices(func(h intern.Hash, s *string) intern.Hash { return h.String(*s) }, eq[string])
	conditions  = intern.NewSlices(func(h intern.Hash, c *transport.PodCondition) intern.Hash {
		return h.String(c.Type).String(c.Status)
	}, eq[transport.PodCondition])
	containerPorts = intern.NewSlices(hashPort, eq[transport.ContainerPort])
	volumeMounts   = intern.NewSlices(hashMount, eq[transport.VolumeMount])
	volumes        = intern.NewSlices(func(h intern.Hash, v *transport.VolumeInfo) intern.Hash {
		return h.String(v.Name).String(v.Type).String(v.Source)
	}, eq[transport.VolumeInfo])
	servicePorts = intern.NewSlices(func(h intern.Hash, p *transport.PortInfo) intern.Hash {
		return h.String(p.Name).String(p.Protocol).Int(int64(p.Port)).String(p.TargetPort)
	}, eq[transport.PortInfo])
	subjects = intern.NewSlices(func(h intern.Hash, s *transport.Subject) intern.Hash {
		return h.String(s.Kind).String(s.Name).String(s.Namespace)
	}, eq[transport.Subject])
	containers = intern.NewSlices(hashContainer, equalContainer)
)

func eq[T comparable](a, b *T) bool { return *a == *b }

// strs interns, in place, the strings of a list a converter built afresh, and returns the
// list's canonical copy.
func strs(s []string) []string {
	for i := range s {
		s[i] = in(s[i])
	}
	return stringLists.Get(s)
}

func hashPort(h intern.Hash, p *transport.ContainerPort) intern.Hash {
	return h.Int(int64(p.ContainerPort)).String(p.Protocol).String(p.Name)
}

func hashMount(h intern.Hash, m *transport.VolumeMount) intern.Hash {
	return h.String(m.Name).String(m.MountPath).Bool(m.ReadOnly)
}

func hashContainer(h intern.Hash, c *transport.ContainerInfo) intern.Hash {
	h = h.String(c.Name).String(c.Image).String(c.State).Bool(c.Ready).Int(int64(c.RestartCount))
	r := &c.Resources
	h = h.String(r.CPURequest).String(r.CPULimit).String(r.MemoryRequest).String(r.MemoryLimit)
	h = h.Int(int64(len(c.Ports)))
	for i := range c.Ports {
		h = hashPort(h, &c.Ports[i])
	}
	h = h.Int(int64(len(c.VolumeMounts)))
	for i := range c.VolumeMounts {
		h = hashMount(h, &c.VolumeMounts[i])
	}
	h = h.Int(int64(len(c.EnvVarNames)))
	for _, e := range c.EnvVarNames {
		h = h.String(e)
	}
	sc := c.SecurityContext
	if sc == nil {
		return h.Int(0)
	}
	switch {
	case sc.Privileged == nil:
		h = h.Int(1)
	case *sc.Privileged:
		h = h.Int(2)
	default:
		h = h.Int(3)
	}
	h = h.Bool(sc.RunAsRoot).Int(int64(len(sc.Capabilities)))
	for _, c := range sc.Capabilities {
		h = h.String(c)
	}
	return h
}

func equalContainer(a, b *transport.ContainerInfo) bool {
	if a.Name != b.Name || a.Image != b.Image || a.State != b.State || a.Ready != b.Ready ||
		a.RestartCount != b.RestartCount || a.Resources != b.Resources ||
		!slices.Equal(a.Ports, b.Ports) || !slices.Equal(a.VolumeMounts, b.VolumeMounts) ||
		!slices.Equal(a.EnvVarNames, b.EnvVarNames) {
		return false
	}
	x, y := a.SecurityContext, b.SecurityContext
	switch {
	case x == nil || y == nil:
		return x == y
	case (x.Privileged == nil) != (y.Privileged == nil):
		return false
	case x.Privileged != nil && *x.Privileged != *y.Privileged:
		return false
	}
	return x.RunAsRoot == y.RunAsRoot && slices.Equal(x.Capabilities, y.Capabilities)
}

// Identity returns the namespace (empty for a cluster-scoped record), name and UID a
// record carries.
func Identity(r transport.Record) (namespace, name, uid string) {
	switch o := r.(type) {
	case *transport.NamespaceInfo:
		return "", o.Name, o.UID
	case *transport.PodInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.ServiceInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.NodeInfo:
		return "", o.Name, o.UID
	case *transport.DeploymentInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.StatefulSetInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.DaemonSetInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.JobInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.CronJobInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.IngressInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.NetworkPolicyInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.ConfigMapInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.SecretInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.PVCInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.ServiceAccountInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.RoleInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.RoleBindingInfo:
		return o.Namespace, o.Name, o.UID
	case *transport.EventInfo:
		return o.Namespace, o.Name, o.UID
	}
	return "", "", ""
}
