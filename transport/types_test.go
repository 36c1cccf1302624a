package transport

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func ptr[T any](v T) *T { return &v }

// compactGolden reads a §8 example and returns it in the compact form the reference sends.
func compactGolden(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("compact %s: %v", name, err)
	}
	return buf.Bytes()
}

const exampleClusterUID = "3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88"

func mustTime(s string) Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return NewTime(t)
}

// exampleSnapshot is the contract's §8.3 snapshot as Go values.
func exampleSnapshot() *SnapshotPayload {
	return &SnapshotPayload{
		ClusterUID:   exampleClusterUID,
		ClusterName:  "staging-eu-1",
		AgentVersion: "v0.1.0",
		Namespaces: []*NamespaceInfo{{
			UID:         "6b1f0c52-3d7e-4a91-b0c4-2f8e9d1a7b35",
			Name:        "shop",
			Labels:      map[string]string{"team": "payments", "kubernetes.io/metadata.name": "shop"},
			Annotations: map[string]string{"owner": "payments@example.com"},
			Phase:       "Active",
			CreatedAt:   mustTime("2025-11-02T09:14:05Z"),
		}},
		Pods: []*PodInfo{{
			UID:            "d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d",
			Name:           "cart-7c9f8d6b5-x2kq9",
			Namespace:      "shop",
			Labels:         map[string]string{"app": "cart", "pod-template-hash": "7c9f8d6b5"},
			Annotations:    map[string]string{"prometheus.io/scrape": "true"},
			NodeName:       "worker-a1",
			ServiceAccount: "cart",
			Phase:          "Running",
			QOSClass:       "Burstable",
			HostIP:         "10.0.4.17",
			PodIP:          "10.244.3.52",
			Conditions: []PodCondition{
				{Type: "Initialized", Status: "True"},
				{Type: "Ready", Status: "True"},
				{Type: "ContainersReady", Status: "True"},
				{Type: "PodScheduled", Status: "True"},
			},
			Containers: []ContainerInfo{{
				Name:         "cart",
				Image:        "registry.example.com/cart:1.4.2",
				State:        "running",
				Ready:        true,
				RestartCount: 1,
				Resources:    ResourceRequirements{CPURequest: "100m", MemoryRequest: "128Mi", MemoryLimit: "256Mi"},
				Ports:        []ContainerPort{{ContainerPort: 8080, Protocol: "TCP", Name: "http"}},
				VolumeMounts: []VolumeMount{{Name: "config", MountPath: "/etc/cart", ReadOnly: true}},
				EnvVarNames:  []string{"DB_HOST", "DB_PASSWORD"},
				SecurityContext: &ContainerSecurityContext{
					Privileged:   ptr(false),
					Capabilities: []string{"NET_BIND_SERVICE"},
				},
			}},
			InitContainers: []ContainerInfo{{
				Name:  "migrate",
				Image: "registry.example.com/cart-migrate:1.4.2",
				State: "terminated",
				Ready: true,
			}},
			Volumes: []VolumeInfo{
				{Name: "config", Type: "configMap", Source: "cart-config"},
				{Name: "kube-api-access-8zq4d", Type: "projected"},
			},
			CreatedAt: mustTime("2025-11-20T14:03:11Z"),
		}},
	}
}

func exampleService() *ServiceInfo {
	return &ServiceInfo{
		UID:         "0e5c7a9b-2f41-4d86-a3b0-9c8d7e6f5a41",
		Name:        "cart",
		Namespace:   "shop",
		Labels:      map[string]string{"app": "cart"},
		ServiceType: "ClusterIP",
		ClusterIP:   "10.96.41.7",
		Ports:       []PortInfo{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "http"}},
		Selector:    map[string]string{"app": "cart"},
		CreatedAt:   mustTime("2025-11-20T14:02:58Z"),
	}
}

func TestContractExamplesMarshalByteForByte(t *testing.T) {
	svc := exampleService()
	deploy := &DeploymentInfo{
		UID:               "a7c3e1f9-6d2b-4c58-8e0a-1b2c3d4e5f60",
		Name:              "cart",
		Namespace:         "shop",
		Labels:            map[string]string{"app": "cart"},
		Annotations:       map[string]string{"deployment.kubernetes.io/revision": "3"},
		Replicas:          3,
		ReadyReplicas:     2,
		AvailableReplicas: 2,
		UpdatedReplicas:   1,
		Strategy:          "RollingUpdate",
		Selector:          map[string]string{"app": "cart"},
		Image:             "registry.example.com/cart:1.4.3",
		CreatedAt:         mustTime("2025-11-20T14:02:58Z"),
	}
	cases := []struct {
		name   string
		golden string
		value  any
	}{
		{"the §8.2 heartbeat matches", "heartbeat.json",
			&HeartbeatPayload{ClusterUID: exampleClusterUID, AgentVersion: "v0.1.0"}},
		{"the §8.3 snapshot with 18 empty arrays matches", "snapshot.json", exampleSnapshot()},
		{"the §8.4 added Service event with camelCase targetPort matches", "event-added-service.json",
			&EventPayload{ClusterUID: exampleClusterUID, Type: EventAdded, Kind: KindService,
				UID: svc.UID, Name: svc.Name, Namespace: svc.Namespace, Object: svc}},
		{"the §8.5 modified Deployment event matches", "event-modified-deployment.json",
			&EventPayload{ClusterUID: exampleClusterUID, Type: EventModified, Kind: KindDeployment,
				UID: deploy.UID, Name: deploy.Name, Namespace: deploy.Namespace, Object: deploy}},
		{"the §8.6 deleted Pod event has no object key", "event-deleted-pod.json",
			&EventPayload{ClusterUID: exampleClusterUID, Type: EventDeleted, Kind: KindPod,
				UID: "d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d", Name: "cart-7c9f8d6b5-x2kq9", Namespace: "shop"}},
		{"the §8.6 deleted Node event has no namespace key", "event-deleted-node.json",
			&EventPayload{ClusterUID: exampleClusterUID, Type: EventDeleted, Kind: KindNode,
				UID: "5e0b9d27-8c14-4a6f-b3d2-6f1a0c9e8b47", Name: "worker-a3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := json.Marshal(tc.value)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(string(compactGolden(t, tc.golden))))
		})
	}
}

func TestTheHeartbeatExampleIsSeventyNineBytesAsInTheContract(t *testing.T) {
	g := NewWithT(t)
	b, err := json.Marshal(&HeartbeatPayload{ClusterUID: exampleClusterUID, AgentVersion: "v0.1.0"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b).To(HaveLen(79))
}

func TestPresenceRules(t *testing.T) {
	cases := []struct {
		name  string
		value any
		want  string
	}{
		{"an empty container writes name, image, ready, restart_count and resources as {}",
			ContainerInfo{}, `{"name":"","image":"","ready":false,"restart_count":0,"resources":{}}`},
		{"a set but empty security context is written as {}",
			ContainerInfo{SecurityContext: &ContainerSecurityContext{}},
			`{"name":"","image":"","ready":false,"restart_count":0,"resources":{},"security_context":{}}`},
		{"an explicit privileged false is kept and run_as_root false is left out",
			ContainerSecurityContext{Privileged: ptr(false), RunAsRoot: false}, `{"privileged":false}`},
		{"run_as_root true is written",
			ContainerSecurityContext{RunAsRoot: true}, `{"run_as_root":true}`},
		{"an empty namespace record writes k8s_created_at as null like metav1.Time",
			NamespaceInfo{}, `{"uid":"","name":"","k8s_created_at":null}`},
		{"a role without resources writes resources as [] and leaves out an empty namespace",
			RoleInfo{UID: "u", Name: "n", IsCluster: true, CreatedAt: Unix(1)},
			`{"uid":"u","name":"n","is_cluster":true,"rule_count":0,"resources":[],"k8s_created_at":"1970-01-01T00:00:01Z"}`},
		{"a role binding always writes role_ref",
			RoleBindingInfo{UID: "u", Name: "n", Namespace: "ns", CreatedAt: Unix(1)},
			`{"uid":"u","name":"n","namespace":"ns","is_cluster":false,"role_ref":{"kind":"","name":""},"k8s_created_at":"1970-01-01T00:00:01Z"}`},
		{"an event always writes namespace, involved_object and an empty source, and no labels",
			EventInfo{UID: "u", Name: "n", CreatedAt: Unix(1)},
			`{"uid":"u","name":"n","namespace":"","type":"","reason":"","message":"","involved_object":{"kind":"","name":""},"source":{},"count":0,"k8s_created_at":"1970-01-01T00:00:01Z"}`},
		{"a job leaves out unset start and completion times",
			JobInfo{UID: "u", Name: "n", Namespace: "ns", Completions: 1, Parallelism: 1, CreatedAt: Unix(1)},
			`{"uid":"u","name":"n","namespace":"ns","completions":1,"parallelism":1,"succeeded":0,"failed":0,"active":0,"k8s_created_at":"1970-01-01T00:00:01Z"}`},
		{"a node always writes status and the three capacities",
			NodeInfo{UID: "u", Name: "n", Status: "NotReady", CPUCapacity: "0", MemoryCapacity: "0", PodCapacity: "0", CreatedAt: Unix(1)},
			`{"uid":"u","name":"n","status":"NotReady","cpu_capacity":"0","memory_capacity":"0","pod_capacity":"0","k8s_created_at":"1970-01-01T00:00:01Z"}`},
		{"a network policy writes its rule counts even when zero",
			NetworkPolicyInfo{UID: "u", Name: "n", Namespace: "ns", CreatedAt: Unix(1)},
			`{"uid":"u","name":"n","namespace":"ns","ingress_rules":0,"egress_rules":0,"k8s_created_at":"1970-01-01T00:00:01Z"}`},
		{"a service account writes an explicit automount false",
			ServiceAccountInfo{UID: "u", Name: "n", Namespace: "ns", AutomountServiceAccountToken: ptr(false), CreatedAt: Unix(1)},
			`{"uid":"u","name":"n","namespace":"ns","automount_service_account_token":false,"k8s_created_at":"1970-01-01T00:00:01Z"}`},
		{"a named ingress backend port leaves service_port out",
			IngressPath{Path: "/", PathType: "Prefix", ServiceName: "web"},
			`{"path":"/","path_type":"Prefix","service_name":"web"}`},
		{"a cron job always writes schedule, suspend and active_jobs",
			CronJobInfo{UID: "u", Name: "n", Namespace: "ns", CreatedAt: Unix(1)},
			`{"uid":"u","name":"n","namespace":"ns","schedule":"","suspend":false,"active_jobs":0,"k8s_created_at":"1970-01-01T00:00:01Z"}`},
		{"html characters in strings are escaped as encoding/json does",
			EventSource{Component: "a<b>&c"}, `{"component":"a\u003cb\u003e\u0026c"}`},
		{"a time in another zone is written in UTC with Z and whole seconds",
			struct {
				T Time `json:"t"`
			}{NewTime(time.Date(2025, 11, 20, 15, 3, 11, 999_000_000, time.FixedZone("CET", 3600)))},
			`{"t":"2025-11-20T14:03:11Z"}`},
		{"an empty snapshot writes all 20 arrays as [] in emission order",
			&SnapshotPayload{ClusterUID: "c", ClusterName: "n"},
			`{"cluster_uid":"c","cluster_name":"n","namespaces":[],"pods":[],"services":[],"nodes":[],"deployments":[],"statefulsets":[],"daemonsets":[],"jobs":[],"cronjobs":[],"ingresses":[],"network_policies":[],"configmaps":[],"secrets":[],"pvcs":[],"service_accounts":[],"roles":[],"cluster_roles":[],"role_bindings":[],"cluster_role_bindings":[],"events":[]}`},
		{"a snapshot skips nil records and writes the optional header keys in order",
			&SnapshotPayload{ClusterUID: "c", ClusterName: "n", KubernetesVersion: "v1.37.2", Platform: "p", Region: "r", AgentVersion: "a",
				Nodes: []*NodeInfo{nil, {UID: "u", Name: "n", Status: "Ready", CPUCapacity: "4", MemoryCapacity: "1Gi", PodCapacity: "110", CreatedAt: Unix(1)}, nil}},
			`{"cluster_uid":"c","cluster_name":"n","kubernetes_version":"v1.37.2","platform":"p","region":"r","agent_version":"a","namespaces":[],"pods":[],"services":[],"nodes":[{"uid":"u","name":"n","status":"Ready","cpu_capacity":"4","memory_capacity":"1Gi","pod_capacity":"110","k8s_created_at":"1970-01-01T00:00:01Z"}],"deployments":[],"statefulsets":[],"daemonsets":[],"jobs":[],"cronjobs":[],"ingresses":[],"network_policies":[],"configmaps":[],"secrets":[],"pvcs":[],"service_accounts":[],"roles":[],"cluster_roles":[],"role_bindings":[],"cluster_role_bindings":[],"events":[]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := json.Marshal(tc.value)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(tc.want))
		})
	}
}

func TestKindsAndSnapshotKeysFollowTheContract(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Kinds).To(HaveLen(20))
	g.Expect(KindPersistentVolumeClaim.SnapshotKey()).To(Equal("pvcs"))
	g.Expect(KindClusterRoleBinding.SnapshotKey()).To(Equal("cluster_role_bindings"))
	g.Expect(Kind("ReplicaSet").Valid()).To(BeFalse())
	for _, k := range Kinds {
		rec := NewRecord(k)
		g.Expect(rec).NotTo(BeNil(), string(k))
		g.Expect(rec.Kind()).To(Equal(k))
	}
	var scoped []Kind
	for _, k := range Kinds {
		if k.ClusterScoped() {
			scoped = append(scoped, k)
		}
	}
	g.Expect(scoped).To(Equal([]Kind{KindNamespace, KindNode, KindClusterRole, KindClusterRoleBinding}))
}

func TestEventsDecodeTheirObjectByKind(t *testing.T) {
	g := NewWithT(t)
	in := &EventPayload{ClusterUID: "c", Type: EventAdded, Kind: KindService, UID: "u", Name: "cart",
		Namespace: "shop", Object: exampleService()}
	b, err := json.Marshal(in)
	g.Expect(err).NotTo(HaveOccurred())
	var out EventPayload
	g.Expect(json.Unmarshal(b, &out)).To(Succeed())
	g.Expect(&out).To(Equal(in))

	var del EventPayload
	g.Expect(json.Unmarshal(compactGolden(t, "event-deleted-node.json"), &del)).To(Succeed())
	g.Expect(del.Object).To(BeNil())
	g.Expect(del.Namespace).To(BeEmpty())
}

func TestEventValidation(t *testing.T) {
	cases := []struct {
		name string
		ev   EventPayload
		ok   bool
	}{
		{"an added event with its record is valid",
			EventPayload{Type: EventAdded, Kind: KindService, Object: &ServiceInfo{}}, true},
		{"a deleted event without an object is valid",
			EventPayload{Type: EventDeleted, Kind: KindPod}, true},
		{"a deleted event with a typed nil record is valid",
			EventPayload{Type: EventDeleted, Kind: KindPod, Object: (*PodInfo)(nil)}, true},
		{"an upper-case type is rejected",
			EventPayload{Type: "ADDED", Kind: KindService, Object: &ServiceInfo{}}, false},
		{"an unknown kind is rejected",
			EventPayload{Type: EventDeleted, Kind: "ReplicaSet"}, false},
		{"a modified event without an object is rejected",
			EventPayload{Type: EventModified, Kind: KindPod}, false},
		{"a deleted event with an object is rejected",
			EventPayload{Type: EventDeleted, Kind: KindPod, Object: &PodInfo{}}, false},
		{"a record of another kind is rejected",
			EventPayload{Type: EventAdded, Kind: KindRole, Object: &RoleInfo{IsCluster: true}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			if tc.ok {
				g.Expect(tc.ev.validate()).To(Succeed())
			} else {
				g.Expect(tc.ev.validate()).NotTo(Succeed())
			}
		})
	}
}
