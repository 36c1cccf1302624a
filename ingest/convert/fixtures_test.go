package convert_test

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/obsyk/obsyk-hub/transport"
)

// Hand-written Kubernetes objects with every field the contract carries set, and the records
// they must give.

// created is a creation time in a non-UTC zone with a fraction, to check the UTC whole-second
// conversion; createdAt is its record form (2025-11-20T14:03:11Z).
var (
	created   = metav1.NewTime(time.Date(2025, 11, 20, 15, 3, 11, 500_000_000, time.FixedZone("CET", 3600)))
	createdAt = transport.Unix(time.Date(2025, 11, 20, 14, 3, 11, 0, time.UTC).Unix())
	started   = metav1.NewTime(time.Date(2025, 11, 20, 14, 5, 0, 0, time.UTC))
	finished  = metav1.NewTime(time.Date(2025, 11, 20, 14, 6, 30, 0, time.UTC))
)

func ptr[T any](v T) *T { return &v }

func tm(t metav1.Time) transport.Time { return transport.Unix(t.Unix()) }

// annotations mixes keys the contract filters with keys it keeps (§5.4).
func annotations() map[string]string {
	return map[string]string{
		"kubectl.kubernetes.io/last-applied-configuration": `{"big":"json"}`,
		"kubernetes.io/psp":                 "restricted",
		"deployment.kubernetes.io/revision": "3",
		"app.kubernetes.io/name":            "cart",
		"owner":                             "payments@example.com",
	}
}

// keptAnnotations are what survives the filter from annotations().
func keptAnnotations() map[string]string {
	return map[string]string{
		"deployment.kubernetes.io/revision": "3",
		"app.kubernetes.io/name":            "cart",
		"owner":                             "payments@example.com",
	}
}

func labels() map[string]string { return map[string]string{"app": "cart", "team": "payments"} }

func objectMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: namespace, UID: types.UID("uid-" + name),
		Labels: labels(), Annotations: annotations(), CreationTimestamp: created,
		ResourceVersion: "42", Generation: 7,
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
	}
}

const (
	secretValue    = "s3cr3t-VALUE-never-sent"
	envValue       = "env-VALUE-never-sent"
	configMapValue = "cm-VALUE-never-sent"
)

func fullNamespace() *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: objectMeta("shop", ""),
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

func wantNamespace() *transport.NamespaceInfo {
	return &transport.NamespaceInfo{UID: "uid-shop", Name: "shop", Labels: labels(),
		Annotations: keptAnnotations(), Phase: "Active", CreatedAt: createdAt}
}

func fullPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: objectMeta("cart-1", "shop"),
		Spec: corev1.PodSpec{
			NodeName: "worker-a1", ServiceAccountName: "cart", PriorityClassName: "high",
			InitContainers: []corev1.Container{{
				Name: "migrate", Image: "registry.example.com/migrate:1",
				Env: []corev1.EnvVar{{Name: "MIGRATE_DSN", Value: envValue}},
			}},
			Containers: []corev1.Container{
				{
					Name: "cart", Image: "registry.example.com/cart:1.4.2",
					Ports: []corev1.ContainerPort{
						{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP, HostPort: 80, HostIP: "1.2.3.4"},
						{ContainerPort: 9090},
					},
					Env: []corev1.EnvVar{
						{Name: "DB_HOST", Value: envValue},
						{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: "db-valuefrom-secret"}, Key: "password-valuefrom-key"}}},
					},
					EnvFrom: []corev1.EnvFromSource{{Prefix: "ENVFROM_", ConfigMapRef: &corev1.ConfigMapEnvSource{
						LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-configmap"}}}},
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{
							corev1.ResourceCPU:              resource.MustParse("0.1"),
							corev1.ResourceMemory:           resource.MustParse("128Mi"),
							corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
						},
						Limits: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("2"),
							corev1.ResourceMemory: resource.MustParse("256Mi"),
							"nvidia.com/gpu":      resource.MustParse("1"),
						},
					},
					VolumeMounts: []corev1.VolumeMount{
						{Name: "config", MountPath: "/etc/cart", ReadOnly: true, SubPath: "sub"},
						{Name: "data", MountPath: "/data"},
					},
					SecurityContext: &corev1.SecurityContext{
						Privileged: ptr(false), RunAsUser: ptr(int64(0)), RunAsNonRoot: ptr(true),
						AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
						Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE", "SYS_TIME"}, Drop: []corev1.Capability{"ALL"}},
					},
				},
				{Name: "sidecar", Image: "registry.example.com/proxy:2", SecurityContext: &corev1.SecurityContext{}},
				{Name: "waiting", Image: "registry.example.com/w:1"},
				{Name: "no-status", Image: "registry.example.com/n:1"},
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cart-config"}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "cart-data"}}},
			},
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr(int64(0))},
			HostNetwork:     true,
			NodeSelector:    map[string]string{"disk": "ssd"},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, QOSClass: corev1.PodQOSBurstable,
			HostIP: "10.0.4.17", PodIP: "10.244.3.52", PodIPs: []corev1.PodIP{{IP: "10.244.3.52"}, {IP: "fd00::1"}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, Reason: "r", Message: "m", LastTransitionTime: started},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse},
			},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", Ready: true,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}},
			// Out of spec order, to check the match by name; "running" wins over the others.
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "waiting", RestartCount: 4, State: corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"},
					// terminated is also set, but waiting comes first in the contract's order
					Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
				{Name: "sidecar", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				{Name: "cart", Ready: true, RestartCount: 1, State: corev1.ContainerState{
					Running:    &corev1.ContainerStateRunning{StartedAt: started},
					Terminated: &corev1.ContainerStateTerminated{}}},
			},
		},
	}
}

func wantPod() *transport.PodInfo {
	return &transport.PodInfo{
		UID: "uid-cart-1", Name: "cart-1", Namespace: "shop", Labels: labels(), Annotations: keptAnnotations(),
		NodeName: "worker-a1", ServiceAccount: "cart", Phase: "Running", QOSClass: "Burstable",
		PriorityClassName: "high", HostIP: "10.0.4.17", PodIP: "10.244.3.52",
		Conditions: []transport.PodCondition{{Type: "Initialized", Status: "True"}, {Type: "Ready", Status: "False"}},
		Containers: []transport.ContainerInfo{
			{
				Name: "cart", Image: "registry.example.com/cart:1.4.2", State: "running", Ready: true, RestartCount: 1,
				Resources: transport.ResourceRequirements{CPURequest: "100m", CPULimit: "2", MemoryRequest: "128Mi", MemoryLimit: "256Mi"},
				Ports:     []transport.ContainerPort{{ContainerPort: 8080, Protocol: "TCP", Name: "http"}, {ContainerPort: 9090}},
				VolumeMounts: []transport.VolumeMount{
					{Name: "config", MountPath: "/etc/cart", ReadOnly: true}, {Name: "data", MountPath: "/data"}},
				EnvVarNames: []string{"DB_HOST", "DB_PASSWORD"},
				SecurityContext: &transport.ContainerSecurityContext{Privileged: ptr(false), RunAsRoot: true,
					Capabilities: []string{"NET_BIND_SERVICE", "SYS_TIME"}},
			},
			{Name: "sidecar", Image: "registry.example.com/proxy:2", State: "running", Ready: true,
				SecurityContext: &transport.ContainerSecurityContext{}},
			{Name: "waiting", Image: "registry.example.com/w:1", State: "waiting", RestartCount: 4},
			{Name: "no-status", Image: "registry.example.com/n:1"},
		},
		InitContainers: []transport.ContainerInfo{{Name: "migrate", Image: "registry.example.com/migrate:1",
			State: "terminated", Ready: true, EnvVarNames: []string{"MIGRATE_DSN"}}},
		Volumes: []transport.VolumeInfo{
			{Name: "config", Type: "configMap", Source: "cart-config"},
			{Name: "data", Type: "pvc", Source: "cart-data"},
		},
		CreatedAt: createdAt,
	}
}

func fullService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta("cart", "shop"),
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.41.7", ExternalIPs: []string{"1.1.1.1"},
			Selector: map[string]string{"app": "cart"},
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http"), NodePort: 30080},
				{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromInt32(9091)},
				{Protocol: corev1.ProtocolUDP, Port: 53}, // targetPort unset
			},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "2.2.2.2"}}}},
	}
}

func wantService() *transport.ServiceInfo {
	return &transport.ServiceInfo{
		UID: "uid-cart", Name: "cart", Namespace: "shop", Labels: labels(), Annotations: keptAnnotations(),
		ServiceType: "LoadBalancer", ClusterIP: "10.96.41.7",
		Ports: []transport.PortInfo{
			{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "http"},
			{Name: "metrics", Protocol: "TCP", Port: 9090, TargetPort: "9091"},
			{Protocol: "UDP", Port: 53, TargetPort: "0"},
		},
		Selector: map[string]string{"app": "cart"}, CreatedAt: createdAt,
	}
}

func fullNode() *corev1.Node {
	m := objectMeta("worker-a1", "")
	m.Labels = map[string]string{
		"kubernetes.io/hostname":                "worker-a1",
		"node-role.kubernetes.io/worker":        "",
		"node-role.kubernetes.io/master":        "",
		"node-role.kubernetes.io/control-plane": "",
		"node-role.kubernetes.io/infra":         "true",
	}
	return &corev1.Node{
		ObjectMeta: m,
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
			},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "containerd://1.7.22",
				OSImage: "Ubuntu 24.04 LTS", Architecture: "arm64"},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("4"),
				corev1.ResourceMemory: resource.MustParse("16318876Ki"),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")},
		},
	}
}

func wantNode() *transport.NodeInfo {
	n := fullNode()
	return &transport.NodeInfo{
		UID: "uid-worker-a1", Name: "worker-a1", Labels: n.Labels, Annotations: keptAnnotations(),
		Status: "Ready", Roles: []string{"control-plane", "infra", "worker"},
		KubeletVersion: "v1.37.2", ContainerRuntime: "containerd://1.7.22", OSImage: "Ubuntu 24.04 LTS",
		Architecture: "arm64", CPUCapacity: "4", MemoryCapacity: "16318876Ki", PodCapacity: "110",
		CreatedAt: createdAt,
	}
}

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cart"}},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
			Containers: []corev1.Container{
				{Name: "cart", Image: "registry.example.com/cart:1.4.3", Env: []corev1.EnvVar{{Name: "X", Value: envValue}}},
				{Name: "proxy", Image: "registry.example.com/proxy:2"},
			},
		},
	}
}

func selector() *metav1.LabelSelector {
	return &metav1.LabelSelector{
		MatchLabels:      map[string]string{"app": "cart"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}},
	}
}

func fullDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: objectMeta("cart", "shop"),
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector(), Template: podTemplate(),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}},
		Status: appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 1},
	}
}

func wantDeployment() *transport.DeploymentInfo {
	return &transport.DeploymentInfo{UID: "uid-cart", Name: "cart", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 1,
		Strategy: "RollingUpdate", Selector: map[string]string{"app": "cart"},
		Image: "registry.example.com/cart:1.4.3", CreatedAt: createdAt}
}

func fullStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: objectMeta("db", "shop"),
		Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(5)), Selector: selector(), Template: podTemplate(),
			ServiceName: "db-headless", UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}},
		Status: appsv1.StatefulSetStatus{ReadyReplicas: 4, CurrentReplicas: 3},
	}
}

func wantStatefulSet() *transport.StatefulSetInfo {
	return &transport.StatefulSetInfo{UID: "uid-db", Name: "db", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), Replicas: 5, ReadyReplicas: 4, CurrentReplicas: 3, UpdateStrategy: "OnDelete",
		ServiceName: "db-headless", Selector: map[string]string{"app": "cart"},
		Image: "registry.example.com/cart:1.4.3", CreatedAt: createdAt}
}

func fullDaemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: objectMeta("agent", "shop"),
		Spec: appsv1.DaemonSetSpec{Selector: selector(), Template: podTemplate(),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 6, CurrentNumberScheduled: 5, NumberReady: 4, NumberAvailable: 3},
	}
}

func wantDaemonSet() *transport.DaemonSetInfo {
	return &transport.DaemonSetInfo{UID: "uid-agent", Name: "agent", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), DesiredNumberScheduled: 6, CurrentNumberScheduled: 5, NumberReady: 4,
		NumberAvailable: 3, UpdateStrategy: "RollingUpdate", Selector: map[string]string{"app": "cart"},
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		Image:        "registry.example.com/cart:1.4.3", CreatedAt: createdAt}
}

func fullJob() *batchv1.Job {
	m := objectMeta("report-29000", "shop")
	m.OwnerReferences = []metav1.OwnerReference{
		{APIVersion: "v1", Kind: "ConfigMap", Name: "not-me"},
		{APIVersion: "batch/v1", Kind: "CronJob", Name: "report", Controller: ptr(true)},
		{APIVersion: "batch/v1", Kind: "CronJob", Name: "second"},
	}
	return &batchv1.Job{
		ObjectMeta: m,
		Spec:       batchv1.JobSpec{Completions: ptr(int32(4)), Parallelism: ptr(int32(2)), Template: podTemplate()},
		Status: batchv1.JobStatus{Succeeded: 2, Failed: 1, Active: 1,
			StartTime: &started, CompletionTime: &finished},
	}
}

func wantJob() *transport.JobInfo {
	return &transport.JobInfo{UID: "uid-report-29000", Name: "report-29000", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), Completions: 4, Parallelism: 2, Succeeded: 2, Failed: 1, Active: 1,
		StartTime: tm(started), CompletionTime: tm(finished), OwnerRef: "report", CreatedAt: createdAt}
}

func fullCronJob() *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: objectMeta("report", "shop"),
		Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", Suspend: ptr(true), TimeZone: ptr("Europe/Paris"),
			ConcurrencyPolicy: batchv1.ForbidConcurrent},
		Status: batchv1.CronJobStatus{LastScheduleTime: &started, LastSuccessfulTime: &finished,
			Active: []corev1.ObjectReference{{Name: "a"}, {Name: "b"}}},
	}
}

func wantCronJob() *transport.CronJobInfo {
	return &transport.CronJobInfo{UID: "uid-report", Name: "report", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), Schedule: "*/5 * * * *", Suspend: true, ConcurrencyPolicy: "Forbid",
		LastScheduleTime: tm(started), ActiveJobs: 2, CreatedAt: createdAt}
}

func fullIngress() *networkingv1.Ingress {
	prefix, exact := networkingv1.PathTypePrefix, networkingv1.PathTypeExact
	return &networkingv1.Ingress{
		ObjectMeta: objectMeta("web", "shop"),
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr("nginx"),
			DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "default"}},
			Rules: []networkingv1.IngressRule{
				{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{
						{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "cart", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
						{Path: "/api", PathType: &exact, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "api", Port: networkingv1.ServiceBackendPort{Name: "http"}}}},
					}}}},
				{Host: "no-http.example.com"},
				{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{Path: "/static", Backend: networkingv1.IngressBackend{
						Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "static"}}}}}}},
			},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com", "www.example.com"}, SecretName: "shop-tls"}, {SecretName: "wild"}},
		},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{
			Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.7", Hostname: "ignored.example.com"}, {Hostname: "lb.example.com"}}}},
	}
}

func wantIngress() *transport.IngressInfo {
	return &transport.IngressInfo{
		UID: "uid-web", Name: "web", Namespace: "shop", Labels: labels(), Annotations: keptAnnotations(),
		IngressClassName: "nginx",
		Rules: []transport.IngressRule{
			{Host: "shop.example.com", Paths: []transport.IngressPath{
				{Path: "/", PathType: "Prefix", ServiceName: "cart", ServicePort: 80},
				{Path: "/api", PathType: "Exact", ServiceName: "api"},
			}},
			{Host: "no-http.example.com"},
			{Paths: []transport.IngressPath{{Path: "/static"}}},
		},
		TLS:             []transport.IngressTLS{{Hosts: []string{"shop.example.com", "www.example.com"}, SecretName: "shop-tls"}, {SecretName: "wild"}},
		LoadBalancerIPs: []string{"203.0.113.7", "lb.example.com"},
		CreatedAt:       createdAt,
	}
}

func fullNetworkPolicy() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: objectMeta("deny", "shop"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{}, {}, {}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
		},
	}
}

func wantNetworkPolicy() *transport.NetworkPolicyInfo {
	return &transport.NetworkPolicyInfo{UID: "uid-deny", Name: "deny", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), PodSelector: map[string]string{"app": "cart"},
		PolicyTypes: []string{"Ingress", "Egress"}, IngressRules: 3, EgressRules: 1, CreatedAt: createdAt}
}

func fullConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: objectMeta("cart-config", "shop"),
		Data:       map[string]string{"z.yaml": configMapValue, "a.yaml": configMapValue, "m.properties": configMapValue},
		BinaryData: map[string][]byte{"logo.png": []byte(configMapValue), "font.ttf": []byte(configMapValue)},
		Immutable:  ptr(true),
	}
}

func wantConfigMap() *transport.ConfigMapInfo {
	return &transport.ConfigMapInfo{UID: "uid-cart-config", Name: "cart-config", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), DataKeys: []string{"a.yaml", "m.properties", "z.yaml"},
		BinaryKeys: []string{"font.ttf", "logo.png"}, Immutable: true, CreatedAt: createdAt}
}

func fullSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: objectMeta("db", "shop"),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.key": []byte(secretValue), "tls.crt": []byte(secretValue), "ca.crt": []byte(secretValue)},
		StringData: map[string]string{"stringdata-key": secretValue},
		Immutable:  ptr(true),
	}
}

func wantSecret() *transport.SecretInfo {
	return &transport.SecretInfo{UID: "uid-db", Name: "db", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), Type: "kubernetes.io/tls", DataKeys: []string{"ca.crt", "tls.crt", "tls.key"},
		Immutable: true, CreatedAt: createdAt}
}

func fullPVC() *corev1.PersistentVolumeClaim {
	block := corev1.PersistentVolumeBlock
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: objectMeta("data", "shop"),
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr("fast"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("10Gi")}},
			VolumeName: "pv-123",
			VolumeMode: &block,
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}},
	}
}

func wantPVC() *transport.PVCInfo {
	return &transport.PVCInfo{UID: "uid-data", Name: "data", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), StorageClassName: "fast", AccessModes: []string{"ReadWriteOnce", "ReadOnlyMany"},
		StorageRequest: "10Gi", VolumeName: "pv-123", Phase: "Bound", VolumeMode: "Block", CreatedAt: createdAt}
}

func fullServiceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta:                   objectMeta("cart", "shop"),
		Secrets:                      []corev1.ObjectReference{{Name: "cart-token", Namespace: "shop"}, {Name: "other"}},
		ImagePullSecrets:             []corev1.LocalObjectReference{{Name: "regcred"}},
		AutomountServiceAccountToken: ptr(false),
	}
}

func wantServiceAccount() *transport.ServiceAccountInfo {
	return &transport.ServiceAccountInfo{UID: "uid-cart", Name: "cart", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), Secrets: []string{"cart-token", "other"}, ImagePullSecrets: []string{"regcred"},
		AutomountServiceAccountToken: ptr(false), CreatedAt: createdAt}
}

func rules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "services"}},
		{Verbs: []string{"*"}, APIGroups: []string{"apps"}, Resources: []string{"deployments", "pods"}, ResourceNames: []string{"x"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}},
	}
}

func fullRole() *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: objectMeta("reader", "shop"), Rules: rules()}
}

func wantRole() *transport.RoleInfo {
	return &transport.RoleInfo{UID: "uid-reader", Name: "reader", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), RuleCount: 3,
		Resources: transport.Strings{"deployments", "pods", "pods/log", "services"}, CreatedAt: createdAt}
}

func fullClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: objectMeta("admin", ""), Rules: rules(),
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{}}}}
}

func wantClusterRole() *transport.RoleInfo {
	return &transport.RoleInfo{UID: "uid-admin", Name: "admin", Labels: labels(),
		Annotations: keptAnnotations(), IsCluster: true, RuleCount: 3,
		Resources: transport.Strings{"deployments", "pods", "pods/log", "services"}, CreatedAt: createdAt}
}

func subjects() []rbacv1.Subject {
	return []rbacv1.Subject{
		{Kind: "ServiceAccount", Name: "cart", Namespace: "shop"},
		{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"},
		{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "devs"},
	}
}

func wantSubjects() []transport.Subject {
	return []transport.Subject{
		{Kind: "ServiceAccount", Name: "cart", Namespace: "shop"},
		{Kind: "User", Name: "alice"},
		{Kind: "Group", Name: "devs"},
	}
}

func fullRoleBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: objectMeta("read", "shop"), Subjects: subjects(),
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"}}
}

func wantRoleBinding() *transport.RoleBindingInfo {
	return &transport.RoleBindingInfo{UID: "uid-read", Name: "read", Namespace: "shop", Labels: labels(),
		Annotations: keptAnnotations(), RoleRef: transport.RoleRef{Kind: "Role", Name: "reader"},
		Subjects: wantSubjects(), CreatedAt: createdAt}
}

func fullClusterRoleBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: objectMeta("admins", ""), Subjects: subjects(),
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"}}
}

func wantClusterRoleBinding() *transport.RoleBindingInfo {
	return &transport.RoleBindingInfo{UID: "uid-admins", Name: "admins", Labels: labels(),
		Annotations: keptAnnotations(), IsCluster: true, RoleRef: transport.RoleRef{Kind: "ClusterRole", Name: "admin"},
		Subjects: wantSubjects(), CreatedAt: createdAt}
}

func fullEvent() *corev1.Event {
	return &corev1.Event{
		ObjectMeta: objectMeta("cart-1.17a", "shop"),
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "cart-1", Namespace: "shop", UID: "uid-cart-1",
			APIVersion: "v1", FieldPath: "spec.containers{cart}", ResourceVersion: "9"},
		Reason: "BackOff", Message: "Back-off restarting failed container <cart> & more", Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: "worker-a1"},
		FirstTimestamp: started, LastTimestamp: finished, Count: 5,
		EventTime:           metav1.NewMicroTime(started.Time),
		Series:              &corev1.EventSeries{Count: 2},
		Action:              "Restart",
		ReportingController: "kubelet", ReportingInstance: "worker-a1",
	}
}

func wantEvent() *transport.EventInfo {
	return &transport.EventInfo{UID: "uid-cart-1.17a", Name: "cart-1.17a", Namespace: "shop", Type: "Warning",
		Reason: "BackOff", Message: "Back-off restarting failed container <cart> & more",
		InvolvedObject: transport.ObjectReference{Kind: "Pod", Name: "cart-1", Namespace: "shop", UID: "uid-cart-1"},
		Source:         transport.EventSource{Component: "kubelet", Host: "worker-a1"},
		FirstTimestamp: tm(started), LastTimestamp: tm(finished), Count: 5, CreatedAt: createdAt}
}
