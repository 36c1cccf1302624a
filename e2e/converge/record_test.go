package converge_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/obsyk/obsyk-hub/e2e/converge"
)

func ptr[T any](v T) *T { return &v }

func ts(s string) metav1.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return metav1.NewTime(t)
}

func om(uid, ns, name, created string, labels, annotations map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		UID: types.UID(uid), Namespace: ns, Name: name, CreationTimestamp: ts(created),
		Labels: labels, Annotations: annotations,
	}
}

// TestRecordFollowsTheContract checks Record against records written by hand from the
// contract: its own examples (§8.3–§8.5) for Namespace, Pod, Service and Deployment, and the
// §4 rules for the other kinds.
func TestRecordFollowsTheContract(t *testing.T) {
	const created = "2025-11-20T14:03:11Z"
	cases := []struct {
		name string
		obj  runtime.Object
		kind string
		want string
	}{
		{
			name: "the contract's example namespace loses its kubectl annotation",
			kind: "Namespace",
			obj: &corev1.Namespace{
				ObjectMeta: om("6b1f0c52-3d7e-4a91-b0c4-2f8e9d1a7b35", "", "shop", "2025-11-02T09:14:05Z",
					map[string]string{"kubernetes.io/metadata.name": "shop", "team": "payments"},
					map[string]string{"owner": "payments@example.com", "kubectl.kubernetes.io/last-applied-configuration": "{}"}),
				Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
			want: `{"uid":"6b1f0c52-3d7e-4a91-b0c4-2f8e9d1a7b35","name":"shop",
				"labels":{"kubernetes.io/metadata.name":"shop","team":"payments"},
				"annotations":{"owner":"payments@example.com"},"phase":"Active","k8s_created_at":"2025-11-02T09:14:05Z"}`,
		},
		{
			name: "the contract's example pod keeps only what the contract sends",
			kind: "Pod",
			obj: &corev1.Pod{
				ObjectMeta: om("d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d", "shop", "cart-7c9f8d6b5-x2kq9", created,
					map[string]string{"app": "cart", "pod-template-hash": "7c9f8d6b5"},
					map[string]string{"kubernetes.io/psp": "restricted", "prometheus.io/scrape": "true"}),
				Spec: corev1.PodSpec{
					NodeName: "worker-a1", ServiceAccountName: "cart",
					InitContainers: []corev1.Container{{Name: "migrate", Image: "registry.example.com/cart-migrate:1.4.2"}},
					Containers: []corev1.Container{{
						Name: "cart", Image: "registry.example.com/cart:1.4.2",
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
						Ports:        []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP, Name: "http", HostPort: 80}},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/cart", ReadOnly: true, SubPath: "x"}},
						Env: []corev1.EnvVar{
							{Name: "DB_HOST", Value: "db"},
							{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
						},
						SecurityContext: &corev1.SecurityContext{
							Privileged: ptr(false), RunAsNonRoot: ptr(true),
							Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: "cart-config"}}}},
						{Name: "kube-api-access-8zq4d", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
					},
				},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning, QOSClass: corev1.PodQOSBurstable, HostIP: "10.0.4.17", PodIP: "10.244.3.52",
					Conditions: []corev1.PodCondition{
						{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, Reason: "dropped"},
						{Type: corev1.PodReady, Status: corev1.ConditionTrue},
						{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
						{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "cart", Ready: true, RestartCount: 1,
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", Ready: true,
						State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}},
				},
			},
			want: `{
			  "uid": "d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d", "name": "cart-7c9f8d6b5-x2kq9", "namespace": "shop",
			  "labels": {"app": "cart", "pod-template-hash": "7c9f8d6b5"},
			  "annotations": {"prometheus.io/scrape": "true"},
			  "node_name": "worker-a1", "service_account": "cart", "phase": "Running", "qos_class": "Burstable",
			  "host_ip": "10.0.4.17", "pod_ip": "10.244.3.52",
			  "conditions": [
			    {"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"},
			    {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}
			  ],
			  "containers": [{
			    "name": "cart", "image": "registry.example.com/cart:1.4.2", "state": "running", "ready": true, "restart_count": 1,
			    "resources": {"cpu_request": "100m", "memory_request": "128Mi", "memory_limit": "256Mi"},
			    "ports": [{"container_port": 8080, "protocol": "TCP", "name": "http"}],
			    "volume_mounts": [{"name": "config", "mount_path": "/etc/cart", "read_only": true}],
			    "env_var_names": ["DB_HOST", "DB_PASSWORD"],
			    "security_context": {"privileged": false, "capabilities": ["NET_BIND_SERVICE"]}
			  }],
			  "init_containers": [{
			    "name": "migrate", "image": "registry.example.com/cart-migrate:1.4.2", "state": "terminated",
			    "ready": true, "restart_count": 0, "resources": {}
			  }],
			  "volumes": [
			    {"name": "config", "type": "configMap", "source": "cart-config"},
			    {"name": "kube-api-access-8zq4d", "type": "projected"}
			  ],
			  "k8s_created_at": "2025-11-20T14:03:11Z"
			}`,
		},
		{
			name: "volume types follow the contract's precedence and a root container is marked",
			kind: "Pod",
			obj: &corev1.Pod{
				ObjectMeta: om("u", "ns", "p", created, nil, nil),
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "c", Image: "i", SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr(false)}}},
					Volumes: []corev1.Volume{
						{Name: "a", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
						{Name: "c", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pvc"}}},
						{Name: "d", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
						{Name: "e", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}},
						{Name: "f", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "csi.example.com"}}},
						{Name: "g", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/x"}}},
						{Name: "h", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
						{Name: "i", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{}}},
					},
				},
			},
			want: `{"uid":"u","name":"p","namespace":"ns","k8s_created_at":"2025-11-20T14:03:11Z",
				"containers":[{"name":"c","image":"i","ready":false,"restart_count":0,"resources":{},"security_context":{"run_as_root":true}}],
				"volumes":[{"name":"a","type":"emptyDir"},{"name":"b","type":"secret","source":"s"},{"name":"c","type":"pvc","source":"pvc"},
				{"name":"d","type":"hostPath","source":"/var/log"},{"name":"e","type":"downwardAPI"},{"name":"f","type":"csi","source":"csi.example.com"},
				{"name":"g","type":"nfs","source":"nfs:/x"},{"name":"h","type":"ephemeral"},{"name":"i","type":"unknown"}]}`,
		},
		{
			name: "the contract's example service has a string targetPort",
			kind: "Service",
			obj: &corev1.Service{
				ObjectMeta: om("0e5c7a9b-2f41-4d86-a3b0-9c8d7e6f5a41", "shop", "cart", "2025-11-20T14:02:58Z", map[string]string{"app": "cart"}, nil),
				Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.41.7", Selector: map[string]string{"app": "cart"},
					Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http"), NodePort: 30080}},
				},
			},
			want: `{"uid":"0e5c7a9b-2f41-4d86-a3b0-9c8d7e6f5a41","name":"cart","namespace":"shop","labels":{"app":"cart"},
				"service_type":"ClusterIP","cluster_ip":"10.96.41.7",
				"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":"http"}],
				"selector":{"app":"cart"},"k8s_created_at":"2025-11-20T14:02:58Z"}`,
		},
		{
			name: "the contract's example deployment reports its first container's image",
			kind: "Deployment",
			obj: &appsv1.Deployment{
				ObjectMeta: om("a7c3e1f9-6d2b-4c58-8e0a-1b2c3d4e5f60", "shop", "cart", "2025-11-20T14:02:58Z",
					map[string]string{"app": "cart"}, map[string]string{"deployment.kubernetes.io/revision": "3"}),
				Spec: appsv1.DeploymentSpec{
					Replicas: ptr(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}},
					Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
						{Name: "cart", Image: "registry.example.com/cart:1.4.3"}, {Name: "proxy", Image: "envoy"}}}},
				},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 1},
			},
			want: `{"uid":"a7c3e1f9-6d2b-4c58-8e0a-1b2c3d4e5f60","name":"cart","namespace":"shop","labels":{"app":"cart"},
				"annotations":{"deployment.kubernetes.io/revision":"3"},"replicas":3,"ready_replicas":2,"available_replicas":2,
				"updated_replicas":1,"strategy":"RollingUpdate","selector":{"app":"cart"},"image":"registry.example.com/cart:1.4.3",
				"k8s_created_at":"2025-11-20T14:02:58Z"}`,
		},
		{
			name: "a node maps its role labels and reports missing capacity as 0",
			kind: "Node",
			obj: &corev1.Node{
				ObjectMeta: om("n1", "", "worker-a1", created, map[string]string{
					"node-role.kubernetes.io/master": "", "node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/gpu": "", "zone": "a"}, nil),
				Status: corev1.NodeStatus{
					Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}},
					Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
					NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "containerd://1.7.22",
						OSImage: "Ubuntu", Architecture: "arm64"},
				},
			},
			want: `{"uid":"n1","name":"worker-a1","labels":{"node-role.kubernetes.io/master":"","node-role.kubernetes.io/worker":"",
				"node-role.kubernetes.io/gpu":"","zone":"a"},"status":"NotReady","roles":["control-plane","gpu","worker"],
				"kubelet_version":"v1.37.2","container_runtime":"containerd://1.7.22","os_image":"Ubuntu","architecture":"arm64",
				"cpu_capacity":"4","memory_capacity":"0","pod_capacity":"0","k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a statefulset without replicas reports 1",
			kind: "StatefulSet",
			obj: &appsv1.StatefulSet{
				ObjectMeta: om("s1", "db", "pg", created, nil, nil),
				Spec: appsv1.StatefulSetSpec{ServiceName: "pg-headless", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pg"}},
					UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
					Template:       corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pg", Image: "postgres:17"}}}}},
				Status: appsv1.StatefulSetStatus{ReadyReplicas: 1, CurrentReplicas: 1},
			},
			want: `{"uid":"s1","name":"pg","namespace":"db","replicas":1,"ready_replicas":1,"current_replicas":1,"update_strategy":"OnDelete",
				"service_name":"pg-headless","selector":{"app":"pg"},"image":"postgres:17","k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a daemonset reports its scheduling counts and node selector",
			kind: "DaemonSet",
			obj: &appsv1.DaemonSet{
				ObjectMeta: om("d1", "kube-system", "fluentbit", created, nil, nil),
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "fb"}},
					UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
						Containers: []corev1.Container{{Name: "fb", Image: "fluent-bit:3"}}}}},
				Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, NumberAvailable: 1},
			},
			want: `{"uid":"d1","name":"fluentbit","namespace":"kube-system","desired_number_scheduled":3,"current_number_scheduled":3,
				"number_ready":2,"number_available":1,"update_strategy":"RollingUpdate","selector":{"app":"fb"},
				"node_selector":{"kubernetes.io/os":"linux"},"image":"fluent-bit:3","k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a job names its cronjob owner and defaults completions to 1",
			kind: "Job",
			obj: &batchv1.Job{
				ObjectMeta: func() metav1.ObjectMeta {
					m := om("j1", "batch", "nightly-123", created, nil, nil)
					m.OwnerReferences = []metav1.OwnerReference{{Kind: "Workflow", Name: "wf"}, {Kind: "CronJob", Name: "nightly"}}
					return m
				}(),
				Spec: batchv1.JobSpec{Parallelism: ptr(int32(2))},
				Status: batchv1.JobStatus{Succeeded: 1, Failed: 2, StartTime: ptr(ts("2025-11-20T15:00:00Z")),
					CompletionTime: ptr(ts("2025-11-20T15:05:00Z"))},
			},
			want: `{"uid":"j1","name":"nightly-123","namespace":"batch","completions":1,"parallelism":2,"succeeded":1,"failed":2,"active":0,
				"start_time":"2025-11-20T15:00:00Z","completion_time":"2025-11-20T15:05:00Z","owner_ref":"nightly",
				"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a cronjob counts its active jobs and defaults suspend to false",
			kind: "CronJob",
			obj: &batchv1.CronJob{
				ObjectMeta: om("c1", "batch", "nightly", created, nil, nil),
				Spec:       batchv1.CronJobSpec{Schedule: "0 3 * * *", ConcurrencyPolicy: batchv1.ForbidConcurrent},
				Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "a"}, {Name: "b"}},
					LastScheduleTime: ptr(ts("2025-11-20T03:00:00Z"))},
			},
			want: `{"uid":"c1","name":"nightly","namespace":"batch","schedule":"0 3 * * *","suspend":false,"concurrency_policy":"Forbid",
				"last_schedule_time":"2025-11-20T03:00:00Z","active_jobs":2,"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "an ingress leaves out named backend ports and paths of rules without http",
			kind: "Ingress",
			obj: &networkingv1.Ingress{
				ObjectMeta: om("i1", "shop", "web", created, nil, nil),
				Spec: networkingv1.IngressSpec{
					IngressClassName: ptr("nginx"),
					Rules: []networkingv1.IngressRule{
						{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
							{Path: "/", PathType: ptr(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
							{Path: "/m", PathType: ptr(networkingv1.PathTypeExact), Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "metrics"}}}},
						}}}},
						{Host: "static.example.com"},
					},
					TLS: []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop-tls"}},
				},
				Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{
					{IP: "203.0.113.7"}, {Hostname: "lb.example.net"}}}},
			},
			want: `{"uid":"i1","name":"web","namespace":"shop","ingress_class_name":"nginx",
				"rules":[{"host":"shop.example.com","paths":[{"path":"/","path_type":"Prefix","service_name":"web","service_port":80},
				{"path":"/m","path_type":"Exact","service_name":"web"}]},{"host":"static.example.com"}],
				"tls":[{"hosts":["shop.example.com"],"secret_name":"shop-tls"}],"load_balancer_ips":["203.0.113.7","lb.example.net"],
				"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a networkpolicy with an empty pod selector counts its rules",
			kind: "NetworkPolicy",
			obj: &networkingv1.NetworkPolicy{
				ObjectMeta: om("np1", "shop", "deny", created, nil, nil),
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{}, {}}},
			},
			want: `{"uid":"np1","name":"deny","namespace":"shop","policy_types":["Ingress","Egress"],"ingress_rules":2,"egress_rules":0,
				"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a configmap sends key names only",
			kind: "ConfigMap",
			obj: &corev1.ConfigMap{
				ObjectMeta: om("cm1", "shop", "cfg", created, nil, nil), Immutable: ptr(true),
				Data: map[string]string{"b": "secret value", "a": "x"}, BinaryData: map[string][]byte{"logo.png": {1}},
			},
			want: `{"uid":"cm1","name":"cfg","namespace":"shop","data_keys":["a","b"],"binary_keys":["logo.png"],"immutable":true,
				"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a secret sends its type and key names only",
			kind: "Secret",
			obj: &corev1.Secret{
				ObjectMeta: om("s1", "shop", "tls", created, nil, nil), Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{"tls.key": []byte("k"), "tls.crt": []byte("c")},
			},
			want: `{"uid":"s1","name":"tls","namespace":"shop","type":"kubernetes.io/tls","data_keys":["tls.crt","tls.key"],"immutable":false,
				"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a pvc reports its request and binding",
			kind: "PersistentVolumeClaim",
			obj: &corev1.PersistentVolumeClaim{
				ObjectMeta: om("p1", "shop", "data", created, nil, nil),
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("gp3"), AccessModes: []corev1.PersistentVolumeAccessMode{"ReadWriteOnce"},
					Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
					VolumeName: "pv-1", VolumeMode: ptr(corev1.PersistentVolumeFilesystem)},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
					Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}},
			},
			want: `{"uid":"p1","name":"data","namespace":"shop","storage_class_name":"gp3","access_modes":["ReadWriteOnce"],
				"storage_request":"10Gi","volume_name":"pv-1","phase":"Bound","volume_mode":"Filesystem","k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a serviceaccount sends an explicit false automount",
			kind: "ServiceAccount",
			obj: &corev1.ServiceAccount{
				ObjectMeta: om("sa1", "shop", "cart", created, nil, nil), AutomountServiceAccountToken: ptr(false),
				Secrets: []corev1.ObjectReference{{Name: "cart-token"}}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
			},
			want: `{"uid":"sa1","name":"cart","namespace":"shop","secrets":["cart-token"],"image_pull_secrets":["regcred"],
				"automount_service_account_token":false,"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a role reports the union of its rules' resources",
			kind: "Role",
			obj: &rbacv1.Role{
				ObjectMeta: om("r1", "shop", "reader", created, nil, nil),
				Rules: []rbacv1.PolicyRule{
					{Resources: []string{"pods", "pods/log"}, Verbs: []string{"get"}},
					{Resources: []string{"pods", "*"}, Verbs: []string{"list"}},
				},
			},
			want: `{"uid":"r1","name":"reader","namespace":"shop","is_cluster":false,"rule_count":2,"resources":["*","pods","pods/log"],
				"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a clusterrole without rules has no namespace and empty resources",
			kind: "ClusterRole",
			obj:  &rbacv1.ClusterRole{ObjectMeta: om("cr1", "", "aggregate", created, nil, nil)},
			want: `{"uid":"cr1","name":"aggregate","is_cluster":true,"rule_count":0,"resources":[],"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a rolebinding drops apiGroup from its role ref and subjects",
			kind: "RoleBinding",
			obj: &rbacv1.RoleBinding{
				ObjectMeta: om("rb1", "shop", "read", created, nil, nil),
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "cart", Namespace: "shop"},
					{Kind: "User", APIGroup: rbacv1.GroupName, Name: "jane"}},
			},
			want: `{"uid":"rb1","name":"read","namespace":"shop","is_cluster":false,"role_ref":{"kind":"Role","name":"reader"},
				"subjects":[{"kind":"ServiceAccount","name":"cart","namespace":"shop"},{"kind":"User","name":"jane"}],
				"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "a clusterrolebinding has no namespace",
			kind: "ClusterRoleBinding",
			obj: &rbacv1.ClusterRoleBinding{
				ObjectMeta: om("crb1", "", "admins", created, map[string]string{"a": "b"}, nil),
				RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects:   []rbacv1.Subject{{Kind: "Group", Name: "system:masters"}},
			},
			want: `{"uid":"crb1","name":"admins","labels":{"a":"b"},"is_cluster":true,"role_ref":{"kind":"ClusterRole","name":"cluster-admin"},
				"subjects":[{"kind":"Group","name":"system:masters"}],"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
		{
			name: "an event has no labels or annotations and may have an empty source",
			kind: "Event",
			obj: &corev1.Event{
				ObjectMeta:     om("e1", "shop", "cart.1", created, map[string]string{"x": "y"}, map[string]string{"a": "b"}),
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "cart", Namespace: "shop", UID: "pod-uid", APIVersion: "v1", FieldPath: "spec"},
				Reason:         "BackOff", Message: "Back-off restarting <failed> container & more", Type: "Warning",
				LastTimestamp: ts("2025-11-20T14:05:00Z"), Count: 4,
			},
			want: `{"uid":"e1","name":"cart.1","namespace":"shop","type":"Warning","reason":"BackOff",
				"message":"Back-off restarting <failed> container & more",
				"involved_object":{"kind":"Pod","name":"cart","namespace":"shop","uid":"pod-uid"},"source":{},
				"last_timestamp":"2025-11-20T14:05:00Z","count":4,"k8s_created_at":"2025-11-20T14:03:11Z"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			kind, got, err := converge.Record(tc.obj)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(kind).To(Equal(tc.kind))
			var want map[string]any
			g.Expect(json.Unmarshal([]byte(tc.want), &want)).To(Succeed())
			// The contract calls the order of these arrays random.
			for _, key := range []string{"roles", "data_keys", "binary_keys", "resources"} {
				if arr, ok := got[key].([]any); ok {
					slices.SortFunc(arr, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
				}
			}
			g.Expect(got).To(Equal(want))
		})
	}

	t.Run("an object of another kind is an error", func(t *testing.T) {
		g := NewWithT(t)
		_, _, err := converge.Record(&appsv1.ReplicaSet{})
		g.Expect(err).To(HaveOccurred())
	})
}
