package converge

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Record returns the contract kind string of obj and the record (contract §4) that the
// platform should hold for it, in the form the platform stores: decoded JSON, so objects are
// map[string]any, arrays []any and numbers float64. It is written from the contract alone and
// shares no code with the hub's conversion. Keys that the contract leaves out when empty are
// left out; Check treats an absent key and an empty value alike anyway.
//
// obj must be a typed object of one of the 20 kinds (core/v1 Event for "Event").
func Record(obj runtime.Object) (kind string, record map[string]any, err error) {
	var r map[string]any
	switch o := obj.(type) {
	case *corev1.Namespace:
		kind, r = "Namespace", namespaceRecord(o)
	case *corev1.Pod:
		kind, r = "Pod", podRecord(o)
	case *corev1.Service:
		kind, r = "Service", serviceRecord(o)
	case *corev1.Node:
		kind, r = "Node", nodeRecord(o)
	case *appsv1.Deployment:
		kind, r = "Deployment", deploymentRecord(o)
	case *appsv1.StatefulSet:
		kind, r = "StatefulSet", statefulSetRecord(o)
	case *appsv1.DaemonSet:
		kind, r = "DaemonSet", daemonSetRecord(o)
	case *batchv1.Job:
		kind, r = "Job", jobRecord(o)
	case *batchv1.CronJob:
		kind, r = "CronJob", cronJobRecord(o)
	case *networkingv1.Ingress:
		kind, r = "Ingress", ingressRecord(o)
	case *networkingv1.NetworkPolicy:
		kind, r = "NetworkPolicy", networkPolicyRecord(o)
	case *corev1.ConfigMap:
		kind, r = "ConfigMap", configMapRecord(o)
	case *corev1.Secret:
		kind, r = "Secret", secretRecord(o)
	case *corev1.PersistentVolumeClaim:
		kind, r = "PersistentVolumeClaim", pvcRecord(o)
	case *corev1.ServiceAccount:
		kind, r = "ServiceAccount", serviceAccountRecord(o)
	case *rbacv1.Role:
		kind, r = "Role", roleRecord(&o.ObjectMeta, o.Rules, false)
	case *rbacv1.ClusterRole:
		kind, r = "ClusterRole", roleRecord(&o.ObjectMeta, o.Rules, true)
	case *rbacv1.RoleBinding:
		kind, r = "RoleBinding", bindingRecord(&o.ObjectMeta, o.RoleRef, o.Subjects, false)
	case *rbacv1.ClusterRoleBinding:
		kind, r = "ClusterRoleBinding", bindingRecord(&o.ObjectMeta, o.RoleRef, o.Subjects, true)
	case *corev1.Event:
		kind, r = "Event", eventRecord(o)
	default:
		return "", nil, fmt.Errorf("record: %T is not one of the contract's kinds", obj)
	}
	// Round-trip through JSON so the record has exactly the platform's value types.
	b, err := json.Marshal(r)
	if err != nil {
		return "", nil, fmt.Errorf("record %s %s: %w", kind, r["name"], err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return "", nil, fmt.Errorf("record %s %s: %w", kind, r["name"], err)
	}
	return kind, out, nil
}

// filteredPrefixes are the annotation key prefixes the contract drops (§5.4).
var filteredPrefixes = []string{"kubectl.kubernetes.io/", "kubernetes.io/"}

// rec is a record under construction; its setters leave out empty values (omitempty).
type rec map[string]any

func (r rec) str(key, v string) {
	if v != "" {
		r[key] = v
	}
}

func (r rec) strMap(key string, v map[string]string) {
	if len(v) > 0 {
		r[key] = v
	}
}

func (r rec) strs(key string, v []string) {
	if len(v) > 0 {
		r[key] = v
	}
}

func (r rec) list(key string, v []any) {
	if len(v) > 0 {
		r[key] = v
	}
}

func (r rec) time(key string, t *metav1.Time) {
	if t != nil && !t.IsZero() {
		r[key] = formatTime(t.Time)
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// common returns the metadata keys of §4.0: uid, name, namespace when set, labels and
// filtered annotations when withLabels, and k8s_created_at.
func common(m *metav1.ObjectMeta, withLabels bool) rec {
	r := rec{"uid": string(m.UID), "name": m.Name}
	r.str("namespace", m.Namespace)
	if withLabels {
		r.strMap("labels", m.Labels)
		kept := map[string]string{}
		for k, v := range m.Annotations {
			if !slices.ContainsFunc(filteredPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
				kept[k] = v
			}
		}
		r.strMap("annotations", kept)
	}
	r["k8s_created_at"] = formatTime(m.CreationTimestamp.Time)
	return r
}

func namespaceRecord(o *corev1.Namespace) rec {
	r := common(&o.ObjectMeta, true)
	r.str("phase", string(o.Status.Phase))
	return r
}

func podRecord(o *corev1.Pod) rec {
	r := common(&o.ObjectMeta, true)
	r.str("node_name", o.Spec.NodeName)
	r.str("service_account", o.Spec.ServiceAccountName)
	r.str("phase", string(o.Status.Phase))
	r.str("qos_class", string(o.Status.QOSClass))
	r.str("priority_class_name", o.Spec.PriorityClassName)
	r.str("host_ip", o.Status.HostIP)
	r.str("pod_ip", o.Status.PodIP)
	var conds []any
	for _, c := range o.Status.Conditions {
		conds = append(conds, map[string]any{"type": string(c.Type), "status": string(c.Status)})
	}
	r.list("conditions", conds)
	r.list("containers", containerRecords(o.Spec.Containers, o.Status.ContainerStatuses))
	r.list("init_containers", containerRecords(o.Spec.InitContainers, o.Status.InitContainerStatuses))
	var vols []any
	for _, v := range o.Spec.Volumes {
		vols = append(vols, volumeRecord(v))
	}
	r.list("volumes", vols)
	return r
}

func containerRecords(specs []corev1.Container, statuses []corev1.ContainerStatus) []any {
	var out []any
	for _, c := range specs {
		r := rec{"name": c.Name, "image": c.Image, "ready": false, "restart_count": 0}
		for _, st := range statuses {
			if st.Name != c.Name {
				continue
			}
			switch {
			case st.State.Running != nil:
				r["state"] = "running"
			case st.State.Waiting != nil:
				r["state"] = "waiting"
			case st.State.Terminated != nil:
				r["state"] = "terminated"
			}
			r["ready"], r["restart_count"] = st.Ready, st.RestartCount
			break
		}
		res := rec{}
		quantity := func(key string, l corev1.ResourceList, name corev1.ResourceName) {
			if q, ok := l[name]; ok {
				res[key] = q.String()
			}
		}
		quantity("cpu_request", c.Resources.Requests, corev1.ResourceCPU)
		quantity("cpu_limit", c.Resources.Limits, corev1.ResourceCPU)
		quantity("memory_request", c.Resources.Requests, corev1.ResourceMemory)
		quantity("memory_limit", c.Resources.Limits, corev1.ResourceMemory)
		r["resources"] = res
		var ports []any
		for _, p := range c.Ports {
			pr := rec{"container_port": p.ContainerPort}
			pr.str("protocol", string(p.Protocol))
			pr.str("name", p.Name)
			ports = append(ports, pr)
		}
		r.list("ports", ports)
		var mounts []any
		for _, m := range c.VolumeMounts {
			mounts = append(mounts, map[string]any{"name": m.Name, "mount_path": m.MountPath, "read_only": m.ReadOnly})
		}
		r.list("volume_mounts", mounts)
		var env []string
		for _, e := range c.Env {
			env = append(env, e.Name)
		}
		r.strs("env_var_names", env)
		if sc := c.SecurityContext; sc != nil {
			s := rec{}
			if sc.Privileged != nil {
				s["privileged"] = *sc.Privileged
			}
			if (sc.RunAsUser != nil && *sc.RunAsUser == 0) || (sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot) {
				s["run_as_root"] = true
			}
			if sc.Capabilities != nil {
				var add []string
				for _, a := range sc.Capabilities.Add {
					add = append(add, string(a))
				}
				s.strs("capabilities", add)
			}
			r["security_context"] = s
		}
		out = append(out, r)
	}
	return out
}

// volumeRecord follows the source precedence of contract §4.2 (VolumeInfo).
func volumeRecord(v corev1.Volume) rec {
	r := rec{"name": v.Name}
	s := v.VolumeSource
	switch {
	case s.EmptyDir != nil:
		r["type"] = "emptyDir"
	case s.ConfigMap != nil:
		r["type"] = "configMap"
		r.str("source", s.ConfigMap.Name)
	case s.Secret != nil:
		r["type"] = "secret"
		r.str("source", s.Secret.SecretName)
	case s.PersistentVolumeClaim != nil:
		r["type"] = "pvc"
		r.str("source", s.PersistentVolumeClaim.ClaimName)
	case s.HostPath != nil:
		r["type"] = "hostPath"
		r.str("source", s.HostPath.Path)
	case s.Projected != nil:
		r["type"] = "projected"
	case s.DownwardAPI != nil:
		r["type"] = "downwardAPI"
	case s.CSI != nil:
		r["type"] = "csi"
		r.str("source", s.CSI.Driver)
	case s.NFS != nil:
		r["type"] = "nfs"
		r.str("source", s.NFS.Server+":"+s.NFS.Path)
	case s.Ephemeral != nil:
		r["type"] = "ephemeral"
	default:
		r["type"] = "unknown"
	}
	return r
}

func serviceRecord(o *corev1.Service) rec {
	r := common(&o.ObjectMeta, true)
	r.str("service_type", string(o.Spec.Type))
	r.str("cluster_ip", o.Spec.ClusterIP)
	var ports []any
	for _, p := range o.Spec.Ports {
		pr := rec{"protocol": string(p.Protocol), "port": p.Port, "targetPort": p.TargetPort.String()}
		pr.str("name", p.Name)
		ports = append(ports, pr)
	}
	r.list("ports", ports)
	r.strMap("selector", o.Spec.Selector)
	return r
}

func nodeRecord(o *corev1.Node) rec {
	r := common(&o.ObjectMeta, true)
	r["status"] = "NotReady"
	for _, c := range o.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			r["status"] = "Ready"
		}
	}
	var roles []string
	for k := range o.Labels {
		role, ok := strings.CutPrefix(k, "node-role.kubernetes.io/")
		if !ok {
			continue
		}
		if role == "master" {
			role = "control-plane"
		}
		roles = append(roles, role)
	}
	r.strs("roles", roles)
	info := o.Status.NodeInfo
	r.str("kubelet_version", info.KubeletVersion)
	r.str("container_runtime", info.ContainerRuntimeVersion)
	r.str("os_image", info.OSImage)
	r.str("architecture", info.Architecture)
	capacity := func(name corev1.ResourceName) string {
		if q, ok := o.Status.Capacity[name]; ok {
			return q.String()
		}
		return "0"
	}
	r["cpu_capacity"] = capacity(corev1.ResourceCPU)
	r["memory_capacity"] = capacity(corev1.ResourceMemory)
	r["pod_capacity"] = capacity(corev1.ResourcePods)
	return r
}

// int32Or1 is the value of p, or 1 when unset (replicas, completions, parallelism).
func int32Or1(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func matchLabels(s *metav1.LabelSelector) map[string]string {
	if s == nil {
		return nil
	}
	return s.MatchLabels
}

func firstImage(t corev1.PodTemplateSpec) string {
	if len(t.Spec.Containers) == 0 {
		return ""
	}
	return t.Spec.Containers[0].Image
}

func deploymentRecord(o *appsv1.Deployment) rec {
	r := common(&o.ObjectMeta, true)
	r["replicas"] = int32Or1(o.Spec.Replicas)
	r["ready_replicas"] = o.Status.ReadyReplicas
	r["available_replicas"] = o.Status.AvailableReplicas
	r["updated_replicas"] = o.Status.UpdatedReplicas
	r.str("strategy", string(o.Spec.Strategy.Type))
	r.strMap("selector", matchLabels(o.Spec.Selector))
	r.str("image", firstImage(o.Spec.Template))
	return r
}

func statefulSetRecord(o *appsv1.StatefulSet) rec {
	r := common(&o.ObjectMeta, true)
	r["replicas"] = int32Or1(o.Spec.Replicas)
	r["ready_replicas"] = o.Status.ReadyReplicas
	r["current_replicas"] = o.Status.CurrentReplicas
	r.str("update_strategy", string(o.Spec.UpdateStrategy.Type))
	r.str("service_name", o.Spec.ServiceName)
	r.strMap("selector", matchLabels(o.Spec.Selector))
	r.str("image", firstImage(o.Spec.Template))
	return r
}

func daemonSetRecord(o *appsv1.DaemonSet) rec {
	r := common(&o.ObjectMeta, true)
	r["desired_number_scheduled"] = o.Status.DesiredNumberScheduled
	r["current_number_scheduled"] = o.Status.CurrentNumberScheduled
	r["number_ready"] = o.Status.NumberReady
	r["number_available"] = o.Status.NumberAvailable
	r.str("update_strategy", string(o.Spec.UpdateStrategy.Type))
	r.strMap("selector", matchLabels(o.Spec.Selector))
	r.strMap("node_selector", o.Spec.Template.Spec.NodeSelector)
	r.str("image", firstImage(o.Spec.Template))
	return r
}

func jobRecord(o *batchv1.Job) rec {
	r := common(&o.ObjectMeta, true)
	r["completions"] = int32Or1(o.Spec.Completions)
	r["parallelism"] = int32Or1(o.Spec.Parallelism)
	r["succeeded"] = o.Status.Succeeded
	r["failed"] = o.Status.Failed
	r["active"] = o.Status.Active
	r.time("start_time", o.Status.StartTime)
	r.time("completion_time", o.Status.CompletionTime)
	for _, ref := range o.OwnerReferences {
		if ref.Kind == "CronJob" {
			r.str("owner_ref", ref.Name)
			break
		}
	}
	return r
}

func cronJobRecord(o *batchv1.CronJob) rec {
	r := common(&o.ObjectMeta, true)
	r["schedule"] = o.Spec.Schedule
	r["suspend"] = o.Spec.Suspend != nil && *o.Spec.Suspend
	r.str("concurrency_policy", string(o.Spec.ConcurrencyPolicy))
	r.time("last_schedule_time", o.Status.LastScheduleTime)
	r["active_jobs"] = len(o.Status.Active)
	return r
}

func ingressRecord(o *networkingv1.Ingress) rec {
	r := common(&o.ObjectMeta, true)
	if o.Spec.IngressClassName != nil {
		r.str("ingress_class_name", *o.Spec.IngressClassName)
	}
	var rules []any
	for _, rule := range o.Spec.Rules {
		rr := rec{}
		rr.str("host", rule.Host)
		if rule.HTTP != nil {
			var paths []any
			for _, p := range rule.HTTP.Paths {
				pr := rec{}
				pr.str("path", p.Path)
				if p.PathType != nil {
					pr.str("path_type", string(*p.PathType))
				}
				if s := p.Backend.Service; s != nil {
					pr.str("service_name", s.Name)
					if s.Port.Number != 0 {
						pr["service_port"] = s.Port.Number
					}
				}
				paths = append(paths, pr)
			}
			rr.list("paths", paths)
		}
		rules = append(rules, rr)
	}
	r.list("rules", rules)
	var tls []any
	for _, t := range o.Spec.TLS {
		tr := rec{}
		tr.strs("hosts", t.Hosts)
		tr.str("secret_name", t.SecretName)
		tls = append(tls, tr)
	}
	r.list("tls", tls)
	var ips []string
	for _, lb := range o.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			ips = append(ips, lb.IP)
		} else {
			ips = append(ips, lb.Hostname)
		}
	}
	r.strs("load_balancer_ips", ips)
	return r
}

func networkPolicyRecord(o *networkingv1.NetworkPolicy) rec {
	r := common(&o.ObjectMeta, true)
	r.strMap("pod_selector", o.Spec.PodSelector.MatchLabels)
	var types []string
	for _, t := range o.Spec.PolicyTypes {
		types = append(types, string(t))
	}
	r.strs("policy_types", types)
	r["ingress_rules"] = len(o.Spec.Ingress)
	r["egress_rules"] = len(o.Spec.Egress)
	return r
}

func configMapRecord(o *corev1.ConfigMap) rec {
	r := common(&o.ObjectMeta, true)
	r.strs("data_keys", slices.Sorted(maps.Keys(o.Data)))
	r.strs("binary_keys", slices.Sorted(maps.Keys(o.BinaryData)))
	r["immutable"] = o.Immutable != nil && *o.Immutable
	return r
}

func secretRecord(o *corev1.Secret) rec {
	r := common(&o.ObjectMeta, true)
	r.str("type", string(o.Type))
	r.strs("data_keys", slices.Sorted(maps.Keys(o.Data)))
	r["immutable"] = o.Immutable != nil && *o.Immutable
	return r
}

func pvcRecord(o *corev1.PersistentVolumeClaim) rec {
	r := common(&o.ObjectMeta, true)
	if o.Spec.StorageClassName != nil {
		r.str("storage_class_name", *o.Spec.StorageClassName)
	}
	var modes []string
	for _, m := range o.Spec.AccessModes {
		modes = append(modes, string(m))
	}
	r.strs("access_modes", modes)
	if q, ok := o.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		r["storage_request"] = q.String()
	}
	r.str("volume_name", o.Spec.VolumeName)
	r.str("phase", string(o.Status.Phase))
	if o.Spec.VolumeMode != nil {
		r.str("volume_mode", string(*o.Spec.VolumeMode))
	}
	return r
}

func serviceAccountRecord(o *corev1.ServiceAccount) rec {
	r := common(&o.ObjectMeta, true)
	var secrets, pulls []string
	for _, s := range o.Secrets {
		secrets = append(secrets, s.Name)
	}
	for _, s := range o.ImagePullSecrets {
		pulls = append(pulls, s.Name)
	}
	r.strs("secrets", secrets)
	r.strs("image_pull_secrets", pulls)
	if o.AutomountServiceAccountToken != nil {
		r["automount_service_account_token"] = *o.AutomountServiceAccountToken
	}
	return r
}

func roleRecord(m *metav1.ObjectMeta, rules []rbacv1.PolicyRule, cluster bool) rec {
	r := common(m, true)
	r["is_cluster"] = cluster
	r["rule_count"] = len(rules)
	resources := []string{} // always written, [] when empty
	for _, rule := range rules {
		for _, res := range rule.Resources {
			if !slices.Contains(resources, res) {
				resources = append(resources, res)
			}
		}
	}
	r["resources"] = resources
	return r
}

func bindingRecord(m *metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject, cluster bool) rec {
	r := common(m, true)
	r["is_cluster"] = cluster
	r["role_ref"] = map[string]any{"kind": ref.Kind, "name": ref.Name}
	var subs []any
	for _, s := range subjects {
		sr := rec{"kind": s.Kind, "name": s.Name}
		sr.str("namespace", s.Namespace)
		subs = append(subs, sr)
	}
	r.list("subjects", subs)
	return r
}

func eventRecord(o *corev1.Event) rec {
	r := common(&o.ObjectMeta, false)
	r["namespace"] = o.Namespace
	r["type"] = o.Type
	r["reason"] = o.Reason
	r["message"] = o.Message
	io := rec{"kind": o.InvolvedObject.Kind, "name": o.InvolvedObject.Name}
	io.str("namespace", o.InvolvedObject.Namespace)
	io.str("uid", string(o.InvolvedObject.UID))
	r["involved_object"] = io
	src := rec{}
	src.str("component", o.Source.Component)
	src.str("host", o.Source.Host)
	r["source"] = src
	r.time("first_timestamp", &o.FirstTimestamp)
	r.time("last_timestamp", &o.LastTimestamp)
	r["count"] = o.Count
	return r
}
