package convert_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/obsyk/obsyk-hub/ingest/convert"
	"github.com/obsyk/obsyk-hub/transport"
)

// benchPodJSON is a realistic pod as the API server sends it: 2 containers and an init
// container, 8 labels, 4 annotations (2 filtered), 5 volumes, env values and valueFrom.
var benchPodJSON = func() []byte {
	c := func(name string, port int32) corev1.Container {
		return corev1.Container{
			Name: name, Image: "registry.example.com/shop/" + name + ":1.4.2",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{
				{Name: "LOG_LEVEL", Value: "info"},
				{Name: "DB_HOST", Value: "db.shop.svc.cluster.local"},
				{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: "/etc/app", ReadOnly: true},
				{Name: "data", MountPath: "/var/lib/app"},
				{Name: "kube-api-access-8zq4d", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
			},
			SecurityContext: &corev1.SecurityContext{Privileged: ptr(false), RunAsNonRoot: ptr(true),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}}},
		}
	}
	status := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Ready: true, RestartCount: 1, Image: "x", ImageID: "sha256:abc",
			ContainerID: "containerd://0123456789abcdef", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "cart-7c9f8d6b5-x2kq9", Namespace: "shop", UID: "d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d",
			ResourceVersion: "123456", CreationTimestamp: created, GenerateName: "cart-7c9f8d6b5-",
			Labels: map[string]string{
				"app": "cart", "app.kubernetes.io/name": "cart", "app.kubernetes.io/instance": "cart-prod",
				"app.kubernetes.io/version": "1.4.2", "app.kubernetes.io/component": "api",
				"app.kubernetes.io/part-of": "shop", "pod-template-hash": "7c9f8d6b5", "team": "payments",
			},
			Annotations: map[string]string{
				"kubectl.kubernetes.io/restartedAt": "2025-11-20T14:00:00Z", "kubernetes.io/psp": "restricted",
				"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "cart-7c9f8d6b5", UID: "u", Controller: ptr(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName: "worker-a1", ServiceAccountName: "cart", PriorityClassName: "high",
			InitContainers: []corev1.Container{{Name: "migrate", Image: "registry.example.com/shop/migrate:1.4.2",
				Env: []corev1.EnvVar{{Name: "DSN", Value: "postgres://"}}}},
			Containers: []corev1.Container{c("cart", 8080), c("proxy", 15000)},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cart-config"}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "cart-data"}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "cart-db"}}},
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "kube-api-access-8zq4d", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
			},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, QOSClass: corev1.PodQOSBurstable, HostIP: "10.0.4.17", PodIP: "10.244.3.52",
			StartTime: &started,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started},
			},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", Ready: true,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}},
			ContainerStatuses: []corev1.ContainerStatus{status("cart"), status("proxy")},
		},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}()

// decodePod decodes benchPodJSON, as an informer's decoder would.
func decodePod(tb testing.TB) *corev1.Pod {
	var p corev1.Pod
	if err := json.Unmarshal(benchPodJSON, &p); err != nil {
		tb.Fatal(err)
	}
	return &p
}

func BenchmarkConvertPod(b *testing.B) {
	p := decodePod(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := convert.Convert(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompactPod is what the informers' transform pays per pod: Convert, then
// compaction, whose lookups all hit here (every replica after the first).
func BenchmarkCompactPod(b *testing.B) {
	p := decodePod(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := convert.Compact(p); err != nil {
			b.Fatal(err)
		}
	}
}

// heapAfterGC returns the live heap after a full collection.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRetainedPodRecord reports what a converted pod keeps alive once its source object
// is dropped (as in an informer transform), against what the decoded object itself holds.
// The figure covers everything reachable from the record, the label and annotation maps and
// strings it shares with the source included. Run with -benchtime=1x.
func BenchmarkRetainedPodRecord(b *testing.B) {
	const n = 10_000
	for b.Loop() {
		base := heapAfterGC()
		objs := make([]*corev1.Pod, n)
		for i := range objs {
			objs[i] = decodePod(b)
		}
		withObjects := heapAfterGC()
		recs := make([]transport.Record, n)
		for i, o := range objs {
			recs[i], _ = convert.Convert(o)
		}
		clear(objs) // the source objects are dropped, as after a transform
		withRecords := heapAfterGC()
		b.ReportMetric(float64(withObjects-base)/n, "object-B/op")
		b.ReportMetric(float64(int64(withRecords)-int64(base))/n, "record-B/op")
		runtime.KeepAlive(recs)
	}
}

// The suppression check, against the alternatives it replaces.
func BenchmarkEqualPod(b *testing.B) {
	x, _ := convert.Convert(decodePod(b))
	y, _ := convert.Convert(decodePod(b))
	b.Run("Equal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !convert.Equal(x, y) {
				b.Fatal("not equal")
			}
		}
	})
	b.Run("reflect.DeepEqual", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !reflect.DeepEqual(x, y) {
				b.Fatal("not equal")
			}
		}
	})
	b.Run("json.Marshal both", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			xb, _ := json.Marshal(x)
			yb, _ := json.Marshal(y)
			if !bytes.Equal(xb, yb) {
				b.Fatal("not equal")
			}
		}
	})
}
