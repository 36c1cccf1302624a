package main

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/e2e/workload"
)

// How bulk objects get into a member.
const (
	// seedEtcd writes objects straight into the member's etcd, in kube-apiserver's own
	// storage encoding (protobuf) under its keys; kube-apiserver then serves them and
	// its watchers see them as ADDED. Thousands per second.
	seedEtcd = "etcd"
	// seedAPI creates them through kube-apiserver with the workload helpers (create, then
	// the status write), as a user would. About a hundred Pods per second on 2 busy cores.
	seedAPI = "api"
)

// etcdResource is the etcd key segment kube-apiserver (default --etcd-prefix /registry)
// uses for each kind the benchmark writes.
var etcdResource = map[string]string{
	"Pod":       "pods",
	"Service":   "services/specs",
	"ConfigMap": "configmaps",
}

var (
	storageEncoder = scheme.Codecs.EncoderForVersion(protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), corev1.SchemeGroupVersion)
	etcdTxnOps     = 100 // below etcd's default --max-txn-ops (128)
	etcdWriters    = 4   // concurrent transactions per member
)

// ensureNamespace creates a namespace in the member unless it exists.
func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"obsyk.io/bench": "true"}}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// writeObjects puts n realistic objects of kind (Pod, Service or ConfigMap) into namespace
// ns of the member, by the given method, and returns their refs.
func writeObjects(ctx context.Context, m *member, method, kind, ns string, n int) ([]workload.Ref, error) {
	if err := ensureNamespace(ctx, m.bulk, ns); err != nil {
		return nil, err
	}
	if method == seedAPI {
		refs, err := workload.Create(ctx, m.bulk, kind, ns, n, workload.Options{Parallelism: 32})
		if err != nil {
			return refs, fmt.Errorf("%s: %w", m.name, err)
		}
		return refs, nil
	}
	b, err := workload.NewBuilder(kind, ns, workload.Options{})
	if err != nil {
		return nil, err
	}
	if err := b.Prepare(ctx, m.bulk); err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	res, ok := etcdResource[kind]
	if !ok {
		return nil, fmt.Errorf("writing %s into etcd is not supported", kind)
	}
	refs := make([]workload.Ref, n) // each transaction writes its own indexes
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(etcdWriters)
	for lo := 0; lo < n; lo += etcdTxnOps {
		hi := min(lo+etcdTxnOps, n)
		g.Go(func() error {
			ops := make([]clientv3.Op, 0, hi-lo)
			for i := lo; i < hi; i++ {
				obj := b.ObjectWithStatus(i)
				prepareStored(obj)
				data, err := runtime.Encode(storageEncoder, obj.(runtime.Object))
				if err != nil {
					return fmt.Errorf("encode %s: %w", kind, err)
				}
				key := fmt.Sprintf("/registry/%s/%s/%s", res, ns, obj.GetName())
				ops = append(ops, clientv3.OpPut(key, string(data)))
				refs[i] = workload.Ref{Kind: kind, Namespace: ns, Name: obj.GetName(), UID: string(obj.GetUID())}
			}
			tctx, cancel := context.WithTimeout(gctx, 60*time.Second)
			defer cancel()
			if _, err := m.etcd.Txn(tctx).Then(ops...).Commit(); err != nil {
				return fmt.Errorf("etcd txn in %s: %w", m.name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return refs, nil
}

// prepareStored fills in what kube-apiserver sets when it stores a new object: UID,
// creation time, generation; a Service becomes headless (no address to allocate outside
// the apiserver).
func prepareStored(obj client.Object) {
	obj.SetUID(types.UID(uuid.NewUUID()))
	obj.SetCreationTimestamp(metav1.Now())
	obj.SetResourceVersion("")
	obj.SetGeneration(1)
	if s, ok := obj.(*corev1.Service); ok {
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		s.Spec.ExternalTrafficPolicy = ""
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		s.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicySingleStack)
		s.Spec.SessionAffinity = corev1.ServiceAffinityNone
		s.Spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicyCluster)
		for i := range s.Spec.Ports {
			s.Spec.Ports[i].NodePort = 0
		}
	}
}

func ptr[T any](v T) *T { return &v }

// countIn returns how many objects of kind namespace ns of the member serves (one list
// call with limit 1; the apiserver counts the rest).
func countIn(ctx context.Context, c client.Client, kind, ns string) (int, error) {
	var list client.ObjectList
	switch kind {
	case "Pod":
		list = &corev1.PodList{}
	case "Service":
		list = &corev1.ServiceList{}
	case "ConfigMap":
		list = &corev1.ConfigMapList{}
	default:
		return 0, fmt.Errorf("count %s: unsupported kind", kind)
	}
	opts := []client.ListOption{client.Limit(1)}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return 0, err
	}
	n := listLen(list)
	if rem := list.(metav1.ListInterface).GetRemainingItemCount(); rem != nil {
		n += int(*rem)
	}
	return n, nil
}

func listLen(list client.ObjectList) int {
	switch l := list.(type) {
	case *corev1.PodList:
		return len(l.Items)
	case *corev1.ServiceList:
		return len(l.Items)
	case *corev1.ConfigMapList:
		return len(l.Items)
	}
	return 0
}

// waitServed waits until the member serves want objects of kind in ns.
func waitServed(ctx context.Context, m *member, kind, ns string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := countIn(ctx, m.c.Client, kind, ns)
		if err == nil && n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s serves %d %s in %s, want %d, after %s (last error: %v)", m.name, n, kind, ns, want, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
