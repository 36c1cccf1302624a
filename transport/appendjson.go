package transport

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file is the send path's JSON encoder: hand-written, append-only and allocation-free
// per record, so that encoding a 100k-object snapshot twice makes no garbage to speak of. It
// writes exactly what encoding/json writes for the record structs and their tags (compact,
// struct order, sorted map keys, HTML-safe escaping, invalid UTF-8 as \ufffd); the
// differential tests in appendjson_test.go hold it to that byte for byte. The struct tags
// stay the documentation and serve json.Marshal and json.Unmarshal.

// obj writes one JSON object's members, adding the commas.
type obj struct {
	b []byte
	n int // members written
}

func openObj(b []byte) obj { return obj{b: append(b, '{')} }

func (o *obj) close() []byte { return append(o.b, '}') }

// key writes the member name k, which must need no escaping.
func (o *obj) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *obj) str(k, v string) {
	o.key(k)
	o.b = appendString(o.b, v)
}

func (o *obj) strOmit(k, v string) {
	if v != "" {
		o.str(k, v)
	}
}

func (o *obj) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *obj) intOmit(k string, v int64) {
	if v != 0 {
		o.int(k, v)
	}
}

func (o *obj) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *obj) boolOmit(k string, v bool) {
	if v {
		o.bool(k, v)
	}
}

func (o *obj) boolPtr(k string, v *bool) {
	if v != nil {
		o.bool(k, *v)
	}
}

func (o *obj) time(k string, t Time) {
	o.key(k)
	o.b = appendTime(o.b, t)
}

func (o *obj) timeOmit(k string, t Time) {
	if !t.IsZero() {
		o.time(k, t)
	}
}

func (o *obj) mapOmit(k string, m map[string]string) {
	if len(m) > 0 {
		o.key(k)
		o.b = appendMap(o.b, m)
	}
}

func (o *obj) strsOmit(k string, s []string) {
	if len(s) > 0 {
		o.key(k)
		o.b = appendStrings(o.b, s)
	}
}

// list writes key k with the array of s, each element written by app; omitempty.
func list[T any](o *obj, k string, s []T, app func([]byte, *T) []byte) {
	if len(s) == 0 {
		return
	}
	o.key(k)
	o.b = append(o.b, '[')
	for i := range s {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = app(o.b, &s[i])
	}
	o.b = append(o.b, ']')
}

func appendTime(b []byte, t Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = time.Unix(t.unix, 0).UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

func appendStrings(b []byte, s []string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

// appendMap writes m with its keys sorted, as encoding/json does.
func appendMap(b []byte, m map[string]string) []byte {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// safeASCII marks the ASCII bytes written as they are: printable, and not one of `"`, `\`,
// or the HTML-sensitive `<`, `>`, `&`.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string exactly as encoding/json does with HTML escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// The records. Each writes its keys in struct order with the struct tags' presence rules.

func (r *NamespaceInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.strOmit("phase", r.Phase)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *PodInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.strOmit("node_name", r.NodeName)
	o.strOmit("service_account", r.ServiceAccount)
	o.strOmit("phase", r.Phase)
	o.strOmit("qos_class", r.QOSClass)
	o.strOmit("priority_class_name", r.PriorityClassName)
	o.strOmit("host_ip", r.HostIP)
	o.strOmit("pod_ip", r.PodIP)
	list(&o, "conditions", r.Conditions, appendPodCondition)
	list(&o, "containers", r.Containers, appendContainer)
	list(&o, "init_containers", r.InitContainers, appendContainer)
	list(&o, "volumes", r.Volumes, appendVolume)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func appendPodCondition(b []byte, c *PodCondition) []byte {
	o := openObj(b)
	o.str("type", c.Type)
	o.str("status", c.Status)
	return o.close()
}

func appendContainer(b []byte, c *ContainerInfo) []byte {
	o := openObj(b)
	o.str("name", c.Name)
	o.str("image", c.Image)
	o.strOmit("state", c.State)
	o.bool("ready", c.Ready)
	o.int("restart_count", int64(c.RestartCount))
	o.key("resources")
	o.b = appendResources(o.b, &c.Resources)
	list(&o, "ports", c.Ports, appendContainerPort)
	list(&o, "volume_mounts", c.VolumeMounts, appendVolumeMount)
	o.strsOmit("env_var_names", c.EnvVarNames)
	if c.SecurityContext != nil {
		o.key("security_context")
		o.b = appendSecurityContext(o.b, c.SecurityContext)
	}
	return o.close()
}

func appendResources(b []byte, r *ResourceRequirements) []byte {
	o := openObj(b)
	o.strOmit("cpu_request", r.CPURequest)
	o.strOmit("cpu_limit", r.CPULimit)
	o.strOmit("memory_request", r.MemoryRequest)
	o.strOmit("memory_limit", r.MemoryLimit)
	return o.close()
}

func appendContainerPort(b []byte, p *ContainerPort) []byte {
	o := openObj(b)
	o.int("container_port", int64(p.ContainerPort))
	o.strOmit("protocol", p.Protocol)
	o.strOmit("name", p.Name)
	return o.close()
}

func appendVolumeMount(b []byte, m *VolumeMount) []byte {
	o := openObj(b)
	o.str("name", m.Name)
	o.str("mount_path", m.MountPath)
	o.bool("read_only", m.ReadOnly)
	return o.close()
}

func appendSecurityContext(b []byte, s *ContainerSecurityContext) []byte {
	o := openObj(b)
	o.boolPtr("privileged", s.Privileged)
	o.boolOmit("run_as_root", s.RunAsRoot)
	o.strsOmit("capabilities", s.Capabilities)
	return o.close()
}

func appendVolume(b []byte, v *VolumeInfo) []byte {
	o := openObj(b)
	o.str("name", v.Name)
	o.str("type", v.Type)
	o.strOmit("source", v.Source)
	return o.close()
}

func (r *ServiceInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.strOmit("service_type", r.ServiceType)
	o.strOmit("cluster_ip", r.ClusterIP)
	list(&o, "ports", r.Ports, appendPortInfo)
	o.mapOmit("selector", r.Selector)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func appendPortInfo(b []byte, p *PortInfo) []byte {
	o := openObj(b)
	o.strOmit("name", p.Name)
	o.str("protocol", p.Protocol)
	o.int("port", int64(p.Port))
	o.strOmit("targetPort", p.TargetPort)
	return o.close()
}

func (r *NodeInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.str("status", r.Status)
	o.strsOmit("roles", r.Roles)
	o.strOmit("kubelet_version", r.KubeletVersion)
	o.strOmit("container_runtime", r.ContainerRuntime)
	o.strOmit("os_image", r.OSImage)
	o.strOmit("architecture", r.Architecture)
	o.str("cpu_capacity", r.CPUCapacity)
	o.str("memory_capacity", r.MemoryCapacity)
	o.str("pod_capacity", r.PodCapacity)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *DeploymentInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.int("replicas", int64(r.Replicas))
	o.int("ready_replicas", int64(r.ReadyReplicas))
	o.int("available_replicas", int64(r.AvailableReplicas))
	o.int("updated_replicas", int64(r.UpdatedReplicas))
	o.strOmit("strategy", r.Strategy)
	o.mapOmit("selector", r.Selector)
	o.strOmit("image", r.Image)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *StatefulSetInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.int("replicas", int64(r.Replicas))
	o.int("ready_replicas", int64(r.ReadyReplicas))
	o.int("current_replicas", int64(r.CurrentReplicas))
	o.strOmit("update_strategy", r.UpdateStrategy)
	o.strOmit("service_name", r.ServiceName)
	o.mapOmit("selector", r.Selector)
	o.strOmit("image", r.Image)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *DaemonSetInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.int("desired_number_scheduled", int64(r.DesiredNumberScheduled))
	o.int("current_number_scheduled", int64(r.CurrentNumberScheduled))
	o.int("number_ready", int64(r.NumberReady))
	o.int("number_available", int64(r.NumberAvailable))
	o.strOmit("update_strategy", r.UpdateStrategy)
	o.mapOmit("selector", r.Selector)
	o.mapOmit("node_selector", r.NodeSelector)
	o.strOmit("image", r.Image)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *JobInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.int("completions", int64(r.Completions))
	o.int("parallelism", int64(r.Parallelism))
	o.int("succeeded", int64(r.Succeeded))
	o.int("failed", int64(r.Failed))
	o.int("active", int64(r.Active))
	o.timeOmit("start_time", r.StartTime)
	o.timeOmit("completion_time", r.CompletionTime)
	o.strOmit("owner_ref", r.OwnerRef)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *CronJobInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.str("schedule", r.Schedule)
	o.bool("suspend", r.Suspend)
	o.strOmit("concurrency_policy", r.ConcurrencyPolicy)
	o.timeOmit("last_schedule_time", r.LastScheduleTime)
	o.int("active_jobs", int64(r.ActiveJobs))
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *IngressInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.strOmit("ingress_class_name", r.IngressClassName)
	list(&o, "rules", r.Rules, appendIngressRule)
	list(&o, "tls", r.TLS, appendIngressTLS)
	o.strsOmit("load_balancer_ips", r.LoadBalancerIPs)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func appendIngressRule(b []byte, r *IngressRule) []byte {
	o := openObj(b)
	o.strOmit("host", r.Host)
	list(&o, "paths", r.Paths, appendIngressPath)
	return o.close()
}

func appendIngressPath(b []byte, p *IngressPath) []byte {
	o := openObj(b)
	o.strOmit("path", p.Path)
	o.strOmit("path_type", p.PathType)
	o.strOmit("service_name", p.ServiceName)
	o.intOmit("service_port", int64(p.ServicePort))
	return o.close()
}

func appendIngressTLS(b []byte, t *IngressTLS) []byte {
	o := openObj(b)
	o.strsOmit("hosts", t.Hosts)
	o.strOmit("secret_name", t.SecretName)
	return o.close()
}

func (r *NetworkPolicyInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.mapOmit("pod_selector", r.PodSelector)
	o.strsOmit("policy_types", r.PolicyTypes)
	o.int("ingress_rules", int64(r.IngressRules))
	o.int("egress_rules", int64(r.EgressRules))
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *ConfigMapInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.strsOmit("data_keys", r.DataKeys)
	o.strsOmit("binary_keys", r.BinaryKeys)
	o.bool("immutable", r.Immutable)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *SecretInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.strOmit("type", r.Type)
	o.strsOmit("data_keys", r.DataKeys)
	o.bool("immutable", r.Immutable)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *PVCInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.strOmit("storage_class_name", r.StorageClassName)
	o.strsOmit("access_modes", r.AccessModes)
	o.strOmit("storage_request", r.StorageRequest)
	o.strOmit("volume_name", r.VolumeName)
	o.strOmit("phase", r.Phase)
	o.strOmit("volume_mode", r.VolumeMode)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *ServiceAccountInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.strsOmit("secrets", r.Secrets)
	o.strsOmit("image_pull_secrets", r.ImagePullSecrets)
	o.boolPtr("automount_service_account_token", r.AutomountServiceAccountToken)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *RoleInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.strOmit("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.bool("is_cluster", r.IsCluster)
	o.int("rule_count", int64(r.RuleCount))
	o.key("resources")
	if r.Resources == nil {
		o.b = append(o.b, '[', ']')
	} else {
		o.b = appendStrings(o.b, r.Resources)
	}
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func (r *RoleBindingInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.strOmit("namespace", r.Namespace)
	o.mapOmit("labels", r.Labels)
	o.mapOmit("annotations", r.Annotations)
	o.bool("is_cluster", r.IsCluster)
	o.key("role_ref")
	ref := openObj(o.b)
	ref.str("kind", r.RoleRef.Kind)
	ref.str("name", r.RoleRef.Name)
	o.b = ref.close()
	list(&o, "subjects", r.Subjects, appendSubject)
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

func appendSubject(b []byte, s *Subject) []byte {
	o := openObj(b)
	o.str("kind", s.Kind)
	o.str("name", s.Name)
	o.strOmit("namespace", s.Namespace)
	return o.close()
}

func (r *EventInfo) appendJSON(b []byte) []byte {
	o := openObj(b)
	o.str("uid", r.UID)
	o.str("name", r.Name)
	o.str("namespace", r.Namespace)
	o.str("type", r.Type)
	o.str("reason", r.Reason)
	o.str("message", r.Message)
	o.key("involved_object")
	ref := openObj(o.b)
	ref.str("kind", r.InvolvedObject.Kind)
	ref.str("name", r.InvolvedObject.Name)
	ref.strOmit("namespace", r.InvolvedObject.Namespace)
	ref.strOmit("uid", r.InvolvedObject.UID)
	o.b = ref.close()
	o.key("source")
	src := openObj(o.b)
	src.strOmit("component", r.Source.Component)
	src.strOmit("host", r.Source.Host)
	o.b = src.close()
	o.timeOmit("first_timestamp", r.FirstTimestamp)
	o.timeOmit("last_timestamp", r.LastTimestamp)
	o.int("count", int64(r.Count))
	o.time("k8s_created_at", r.CreatedAt)
	return o.close()
}

// appendEvent writes an EventPayload as json.Marshal does; Object must be nil or non-nil
// pointer (SendEvent normalises typed nils).
func appendEvent(b []byte, e *EventPayload) []byte {
	o := openObj(b)
	o.str("cluster_uid", e.ClusterUID)
	o.str("type", string(e.Type))
	o.str("kind", string(e.Kind))
	o.str("uid", e.UID)
	o.str("name", e.Name)
	o.strOmit("namespace", e.Namespace)
	if e.Object != nil {
		o.key("object")
		o.b = e.Object.appendJSON(o.b)
	}
	return o.close()
}
