package ingest

import (
	"fmt"
	goruntime "runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/obsyk/obsyk-hub/ingest/convert"
)

// realisticPod builds the i-th pod of a cluster of Deployment replicas (ten per
// Deployment) as an informer receives it: eight labels, four annotations (one of which the
// contract filters), an owner reference, managed fields, two containers with env, mounts
// and resources, two volumes and a running status. Every string is freshly allocated, as a
// decoder would; what repeats is what repeats in a real cluster: the replicas of one
// Deployment share their labels, annotations, images and spec, and the pods of a node
// its name and IP.
func realisticPod(i int) *corev1.Pod {
	s := func(f string, a ...any) string { return fmt.Sprintf(f, a...) }
	d := i / 10 // the Deployment
	ctr := func(name string) corev1.Container {
		return corev1.Container{
			Name:  s("%s", name),
			Image: s("registry.example.com/team/%s:v1.%d.0", name, d%7),
			Ports: []corev1.ContainerPort{{Name: s("http"), ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{
				{Name: s("LOG_LEVEL"), Value: s("info")},
				{Name: s("POD_NAME"), ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: s("metadata.name")}}},
				{Name: s("DATABASE_URL"), Value: s("postgres://db.example.svc:5432/app-%d", d)},
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
			Name:              s("app-%d-7d9f8c6b5-x%05d", d, i),
			Namespace:         s("team-%d", d%50),
			UID:               k8stypes.UID(s("6f1c2a3b-4d5e-6f70-8192-%012d", i)),
			ResourceVersion:   s("%d", 100000+i),
			CreationTimestamp: now,
			Labels: map[string]string{
				s("app.kubernetes.io/name"):      s("app-%d", d),
				s("app.kubernetes.io/instance"):  s("app-%d-prod", d),
				s("app.kubernetes.io/component"): s("%s", []string{"api", "worker", "cache", "frontend"}[d%4]),
				s("app.kubernetes.io/part-of"):   s("shop-%d", d%20),
				s("app.kubernetes.io/version"):   s("1.%d.0", d%7),
				s("pod-template-hash"):           s("%08x", d*2654435761%(1<<32)),
				s("team"):                        s("t%d", d%50),
				s("environment"):                 s("production"),
			},
			Annotations: map[string]string{
				s("kubectl.kubernetes.io/restartedAt"): s("2026-01-01T00:00:00Z"),
				s("prometheus.io/scrape"):              s("true"),
				s("prometheus.io/port"):                s("8080"),
				s("checksum/config"):                   s("%064x", d),
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: s("apps/v1"), Kind: s("ReplicaSet"), Name: s("app-%d-7d9f8c6b5", d), UID: k8stypes.UID(s("rs-%d", d))}},
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
	goruntime.GC()
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// retainedPerPod fills a fresh indexer of the type an informer uses with n pods through
// transform and returns the heap it retains per pod, after full collections.
func retainedPerPod(b *testing.B, n int, transform cache.TransformFunc) float64 {
	before := heapInUse()
	store := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for i := range n {
		obj, err := transform(realisticPod(i))
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Add(obj); err != nil {
			b.Fatal(err)
		}
	}
	after := heapInUse()
	goruntime.KeepAlive(store)
	return (float64(after) - float64(before)) / float64(n)
}

// convertedItem is the transform before records were compacted: convert.Convert's record,
// which shares strings and maps with the object, kept only as a reference point.
func convertedItem(obj any) (any, error) {
	o := obj.(runtime.Object)
	rec, err := convert.Convert(o)
	if err != nil {
		return nil, err
	}
	m, _ := meta.Accessor(o)
	return &item{kind: rec.Kind(), namespace: m.GetNamespace(), name: m.GetName(),
		uid: string(m.GetUID()), resourceVersion: m.GetResourceVersion(), record: rec}, nil
}

// BenchmarkRetainedBytesPerPod measures, side by side, the heap a cache retains per pod
// for 100k realistic pods (realisticPod: Deployment replicas, synthetic, not decoded from
// an apiserver), each stored in the indexer type an informer uses:
//
//   - compact-B/pod: what this package's informers store (toItem: an item with its
//     compact record);
//   - converted-B/pod: the records of convert.Convert, which share the object's strings
//     and maps (the transform before compaction, for reference);
//   - stock-B/pod: the full objects, as an informer without a transform holds them;
//   - stock/compact: how many times less the compact cache holds.
//
// Run: go test -run XXX -bench RetainedBytesPerPod -benchtime=1x ./ingest/
func BenchmarkRetainedBytesPerPod(b *testing.B) {
	const n = 100_000
	for range b.N {
		compact := retainedPerPod(b, n, toItem)
		converted := retainedPerPod(b, n, convertedItem)
		stock := retainedPerPod(b, n, func(o any) (any, error) { return o, nil })
		b.ReportMetric(compact, "compact-B/pod")
		b.ReportMetric(converted, "converted-B/pod")
		b.ReportMetric(stock, "stock-B/pod")
		b.ReportMetric(stock/compact, "stock/compact")
	}
}
