package convert_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/ingest/convert"
)

// The contract's complete examples (§8.3–8.5), reused from transport's golden files: the
// source objects the examples describe must convert to exactly the example records. (§8.6's
// deletes carry no record.)

// goldenRecord returns, compacted, the record at path inside a golden file of package
// transport: path is a list of object keys, with an int selecting an array element.
func goldenRecord(t *testing.T, file string, path ...any) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "transport", "testdata", "golden", file))
	if err != nil {
		t.Fatalf("read golden file: %v", err)
	}
	cur := json.RawMessage(raw)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			var m map[string]json.RawMessage
			if err := json.Unmarshal(cur, &m); err != nil {
				t.Fatalf("golden %s: %v", file, err)
			}
			cur = m[k]
		case int:
			var a []json.RawMessage
			if err := json.Unmarshal(cur, &a); err != nil {
				t.Fatalf("golden %s: %v", file, err)
			}
			cur = a[k]
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, cur); err != nil {
		t.Fatalf("compact golden %s: %v", file, err)
	}
	return buf.String()
}

func at(s string) metav1.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return metav1.NewTime(t)
}

func examplePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "cart-7c9f8d6b5-x2kq9", Namespace: "shop", UID: "d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d",
			Labels:            map[string]string{"app": "cart", "pod-template-hash": "7c9f8d6b5"},
			Annotations:       map[string]string{"kubernetes.io/psp": "restricted", "prometheus.io/scrape": "true"},
			CreationTimestamp: at("2025-11-20T14:03:11Z"),
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "cart-7c9f8d6b5"}},
		},
		Spec: corev1.PodSpec{
			NodeName: "worker-a1", ServiceAccountName: "cart",
			SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))},
			InitContainers:  []corev1.Container{{Name: "migrate", Image: "registry.example.com/cart-migrate:1.4.2"}},
			Containers: []corev1.Container{{
				Name: "cart", Image: "registry.example.com/cart:1.4.2",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{
					{Name: "DB_HOST", Value: "db.shop.svc"},
					{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "cart-db"}, Key: "password"}}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/cart", ReadOnly: true}},
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
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", Ready: true,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "cart", Ready: true, RestartCount: 1,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		},
	}
}

func exampleNamespace() *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			Name: "shop", UID: "6b1f0c52-3d7e-4a91-b0c4-2f8e9d1a7b35",
			Labels:            map[string]string{"kubernetes.io/metadata.name": "shop", "team": "payments"},
			Annotations:       map[string]string{"owner": "payments@example.com", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
			CreationTimestamp: at("2025-11-02T09:14:05Z"),
		},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

func exampleService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "cart", Namespace: "shop", UID: "0e5c7a9b-2f41-4d86-a3b0-9c8d7e6f5a41",
			Labels: map[string]string{"app": "cart"}, CreationTimestamp: at("2025-11-20T14:02:58Z"),
		},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.41.7", ClusterIPs: []string{"10.96.41.7"},
			Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}},
			Selector: map[string]string{"app": "cart"},
		},
	}
}

func exampleDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "cart", Namespace: "shop", UID: "a7c3e1f9-6d2b-4c58-8e0a-1b2c3d4e5f60",
			Labels: map[string]string{"app": "cart"},
			Annotations: map[string]string{"deployment.kubernetes.io/revision": "3",
				"kubectl.kubernetes.io/last-applied-configuration": `{"kind":"Deployment"}`},
			CreationTimestamp: at("2025-11-20T14:02:58Z"),
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "cart", Image: "registry.example.com/cart:1.4.3"},
				{Name: "proxy", Image: "registry.example.com/proxy:2.0.1"},
			}}},
		},
		Status: appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 1},
	}
}

func TestTheContractExamplesComeOutByteForByte(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  runtime.Object
		want func(t *testing.T) string
	}{
		{"§8.3's namespace drops its kubectl annotation", exampleNamespace(),
			func(t *testing.T) string { return goldenRecord(t, "snapshot.json", "namespaces", 0) }},
		{"§8.3's pod keeps env names, privileged false and {} resources, and drops psp, values and the drop list", examplePod(),
			func(t *testing.T) string { return goldenRecord(t, "snapshot.json", "pods", 0) }},
		{"§8.4's service writes a named targetPort", exampleService(),
			func(t *testing.T) string { return goldenRecord(t, "event-added-service.json", "object") }},
		{"§8.5's deployment keeps the revision annotation and the first image", exampleDeployment(),
			func(t *testing.T) string { return goldenRecord(t, "event-modified-deployment.json", "object") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rec, err := convert.Convert(tc.obj)
			g.Expect(err).NotTo(HaveOccurred())
			got, err := json.Marshal(rec)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(tc.want(t)))
			g.Expect(platform.ValidateRecord(string(rec.Kind()), got)).To(Succeed())
		})
	}
}
