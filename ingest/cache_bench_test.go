package ingest

import (
	"fmt"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// realisticPod builds a pod shaped like a typical Deployment replica as an informer
// receives it: labels, annotations, owner reference, managed fields, two containers with
// env, mounts, probes' worth of resources, volumes and a running status. Every string is
// freshly allocated, as a decoder would.
func realisticPod(i int) *corev1.Pod {
	s := func(f string, a ...any) string { return fmt.Sprintf(f, a...) }
	ctr := func(name string) corev1.Container {
		return corev1.Container{
			Name:  s("%s", name),
			Image: s("registry.example.com/team/%s:v1.%d.0", name, i%7),
			Ports: []corev1.ContainerPort{{Name: s("http"), ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{
				{Name: s("LOG_LEVEL"), Value: s("info")},
				{Name: s("POD_NAME"), ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: s("metadata.name")}}},
				{Name: s("DATABASE_URL"), Value: s("postgres://db.example.svc:5432/app-%d", i)},
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: s("config"), MountPath: s("/etc/app")},
				{Name: s("kube-api-access"), MountPath: s("/var/run/secrets/kubernetes.io/serviceaccount"), ReadOnly: true},
			},
			TerminationMessagePath: s("/dev/termination-log"),
			ImagePullPolicy:        corev1.PullIfNotPresent,
		}
	}
	now := metav1.Now()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              s("app-%d-7d9f8c6b5-x%05d", i%100, i),
			Namespace:         s("team-%d", i%50),
			UID:               k8stypes.UID(s("6f1c2a3b-4d5e-6f70-8192-%012d", i)),
			ResourceVersion:   s("%d", 100000+i),
			CreationTimestamp: now,
			Labels:            map[string]string{s("app"): s("app-%d", i%100), s("pod-template-hash"): s("7d9f8c6b5"), s("team"): s("t%d", i%50)},
			Annotations: map[string]string{
				s("kubectl.kubernetes.io/restartedAt"): s("2026-01-01T00:00:00Z"),
				s("prometheus.io/scrape"):              s("true"),
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: s("apps/v1"), Kind: s("ReplicaSet"), Name: s("app-%d-7d9f8c6b5", i%100), UID: k8stypes.UID(s("rs-%d", i%100))}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: s("kube-controller-manager"), Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: s("v1"), FieldsType: s("FieldsV1"),
					FieldsV1: &metav1.FieldsV1{Raw: []byte(s(`{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{}}}}`))}},
				{Manager: s("kubelet"), Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: s("v1"), FieldsType: s("FieldsV1"), Subresource: s("status"),
					FieldsV1: &metav1.FieldsV1{Raw: []byte(s(`{"f:status":{"f:conditions":{},"f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:startTime":{}}}`))}},
			},
		},
		Spec: corev1.PodSpec{
			Containers:         []corev1.Container{ctr("app"), ctr("sidecar")},
			NodeName:           s("node-%d", i%200),
			ServiceAccountName: s("app"),
			Volumes: []corev1.Volume{
				{Name: s("config"), VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: s("app-config")}}}},
				{Name: s("kube-api-access"), VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
			},
		},
		Status: corev1.PodStatus{
			Phase:    corev1.PodRunning,
			HostIP:   s("10.0.%d.%d", i%200, i%250),
			PodIP:    s("10.244.%d.%d", i%200, i%250),
			QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: s("app"), Ready: true, RestartCount: 0, Image: s("registry.example.com/team/app:v1"), ImageID: s("sha256:%064d", i), ContainerID: s("containerd://%064d", i),
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
				{Name: s("sidecar"), Ready: true, RestartCount: 1, Image: s("registry.example.com/team/sidecar:v1"), ImageID: s("sha256:%064d", i+1), ContainerID: s("containerd://%064d", i+1),
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
			},
		},
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkRetainedBytesPerPod measures the heap a cache retains per pod: "compact" stores
// what this package's informers store (the transform's item with its record) in the same
// indexer type an informer uses; "stock" stores the full objects, as an informer without
// a transform does. The pods are synthetic (realisticPod), not decoded from an apiserver.
// Run with -benchtime=1x: each iteration fills a fresh store with 100k pods.
func BenchmarkRetainedBytesPerPod(b *testing.B) {
	const n = 100_000
	for _, tc := range []struct {
		name      string
		transform cache.TransformFunc
	}{
		{"compact", toItem},
		{"stock", func(o any) (any, error) { return o, nil }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				before := heapInUse()
				store := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc,
					cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
				for i := range n {
					obj, err := tc.transform(realisticPod(i))
					if err != nil {
						b.Fatal(err)
					}
					if err := store.Add(obj); err != nil {
						b.Fatal(err)
					}
				}
				after := heapInUse()
				b.ReportMetric(float64(after-before)/n, "bytes/pod")
				runtime.KeepAlive(store)
			}
		})
	}
}
