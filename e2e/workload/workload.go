package workload

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/e2e/platform"
)

const (
	// GenerationLabel holds how many times Mutate changed the object ("0" after Create).
	GenerationLabel = "workload.obsyk.io/generation"
	// BatchLabel holds the random suffix shared by the objects of one Create call.
	BatchLabel = "workload.obsyk.io/batch"

	// DefaultNodeName is the Node Pods are bound to when Options.NodeName is empty.
	DefaultNodeName = "workload-node"
	// DefaultServiceAccountName is the ServiceAccount Pods run as; Create makes it when missing.
	DefaultServiceAccountName = "workload"

	defaultParallelism = 16
	// deleteTimeout bounds how long Delete waits for one object to disappear.
	deleteTimeout = 60 * time.Second
)

// Ref identifies one object that the helpers created.
type Ref struct {
	Kind      string // contract kind string (§5.1), e.g. "PersistentVolumeClaim"
	Namespace string // empty for cluster-scoped kinds
	Name      string
	UID       string
}

// String returns kind/namespace/name (kind/name for cluster-scoped kinds).
func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// ByKind returns the refs of one kind, in their original order.
func ByKind(refs []Ref, kind string) []Ref {
	var out []Ref
	for _, r := range refs {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// Options tunes the helpers. The zero value is valid.
type Options struct {
	// Parallelism is how many objects are worked on at once. Default 16.
	Parallelism int
	// Prefix starts the name of every created object; a random batch suffix and the index
	// follow ("<prefix>-<batch>-<i>"). Default: a short form of the kind ("deploy", "pvc", ...).
	Prefix string
	// Labels are added to the labels of every created object, overriding defaults.
	Labels map[string]string
	// NodeName is the Node that created Pods are bound to (spec.nodeName); created when
	// missing. Default DefaultNodeName.
	NodeName string
	// ServiceAccountName is the ServiceAccount of created Pods, created when missing.
	// Default DefaultServiceAccountName.
	ServiceAccountName string
	// Owner, when set, becomes the owner reference of every created object, e.g. a CronJob
	// owning Jobs (the contract's Job owner_ref). Nothing garbage-collects on the test bed.
	// Default none.
	Owner *metav1.OwnerReference
}

func (o Options) parallelism() int {
	if o.Parallelism > 0 {
		return o.Parallelism
	}
	return defaultParallelism
}

// NewClient returns a controller-runtime client for cfg with the client-side rate limit raised
// (1000 requests/s, burst 2000), for bulk work. cfg itself is not modified.
func NewClient(cfg *rest.Config) (client.Client, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 1000, 2000
	cl, err := client.New(c, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("build workload client: %w", err)
	}
	return cl, nil
}

// Create makes n objects of kind (a contract kind string) in namespace (ignored for the
// cluster-scoped kinds Namespace, Node, ClusterRole and ClusterRoleBinding), with the kind's
// realistic spec and status (see the package doc), up to Options.Parallelism at a time.
// It returns the refs of the objects it created, in index order; after an error they are the
// ones created so far.
func Create(ctx context.Context, c client.Client, kind, namespace string, n int, opts Options) ([]Ref, error) {
	bl, err := NewBuilder(kind, namespace, opts)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	if err := bl.Prepare(ctx, c); err != nil {
		return nil, err
	}
	k, b := bl.k, bl.b
	refs := make([]Ref, n)
	err = forEach(ctx, n, opts.parallelism(), func(ctx context.Context, i int) error {
		obj := k.build(b, i)
		if err := createObject(ctx, c, obj); err != nil {
			return fmt.Errorf("create %s %s: %w", kind, obj.GetName(), err)
		}
		refs[i] = Ref{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID())}
		if k.initStatus == nil {
			return nil
		}
		if err := updateStatus(ctx, c, k, obj, func(o client.Object) { k.initStatus(o, i) }); err != nil {
			return fmt.Errorf("write %s status: %w", refs[i], err)
		}
		return nil
	})
	return slices.DeleteFunc(refs, func(r Ref) bool { return r.UID == "" }), err
}

// Builder makes the objects Create makes without writing them, for callers that write them
// another way or time each write themselves (the benchmark writes bulk Pods straight into
// etcd, and times single creates). Every Builder has a batch of its own: Object(i) of two
// Builders never share a name.
type Builder struct {
	k kindSpec
	b *builder
}

// NewBuilder returns a Builder of kind's objects in namespace (ignored for cluster-scoped
// kinds), honouring opts' Prefix, Labels, NodeName, ServiceAccountName and Owner.
func NewBuilder(kind, namespace string, opts Options) (*Builder, error) {
	k, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	if k.clusterScoped {
		namespace = ""
	} else if namespace == "" {
		return nil, fmt.Errorf("%s: a namespace is required", kind)
	}
	b := &builder{
		kind:      kind,
		namespace: namespace,
		batch:     utilrand.String(5),
		prefix:    opts.Prefix,
		labels:    opts.Labels,
		node:      opts.NodeName,
		sa:        opts.ServiceAccountName,
		owner:     opts.Owner,
	}
	if b.prefix == "" {
		b.prefix = k.prefix
	}
	if b.node == "" {
		b.node = DefaultNodeName
	}
	if b.sa == "" {
		b.sa = DefaultServiceAccountName
	}
	return &Builder{k: k, b: b}, nil
}

// Prepare creates, when missing, what the objects refer to and a control plane without
// controllers would lack: for Pods, their Node and ServiceAccount. Create calls it.
func (bl *Builder) Prepare(ctx context.Context, c client.Client) error {
	if bl.b.kind != "Pod" {
		return nil
	}
	if err := ensureNode(ctx, c, bl.b.node); err != nil {
		return err
	}
	return ensureServiceAccount(ctx, c, bl.b.namespace, bl.b.sa)
}

// Object returns the i-th object as Create sends it: metadata and spec, no status.
func (bl *Builder) Object(i int) client.Object { return bl.k.build(bl.b, i) }

// ObjectWithStatus returns the i-th object with the status Create writes right after
// creating it (the same as Object for kinds without one).
func (bl *Builder) ObjectWithStatus(i int) client.Object {
	obj := bl.k.build(bl.b, i)
	if bl.k.initStatus != nil {
		bl.k.initStatus(obj, i)
	}
	return obj
}

// createObject creates obj; a Service whose cluster IP or node port cannot be allocated
// because the apiserver's range is full is created headless instead.
func createObject(ctx context.Context, c client.Client, obj client.Object) error {
	err := c.Create(ctx, obj)
	svc, isSvc := obj.(*corev1.Service)
	if err == nil || !isSvc || !strings.Contains(err.Error(), "range is full") {
		return err
	}
	makeHeadless(svc)
	return c.Create(ctx, svc)
}

// Mutate changes every referenced object: GenerationLabel becomes the object's new mutation
// count, and a kind-specific field the contract records changes (status through the status
// subresource):
//
//	Namespace              labels, annotation workload.obsyk.io/note
//	Pod                    first container's image; its restartCount + 1 (status)
//	Service                selector and the first port's targetPort
//	Node                   cpu and memory capacity (status)
//	Deployment             replicas and first container's image
//	StatefulSet            replicas and first container's image
//	DaemonSet              first container's image and the template's nodeSelector
//	Job                    parallelism (the mutable part of a Job's spec)
//	CronJob                schedule and suspend
//	Ingress                first rule's host and the TLS hosts
//	NetworkPolicy          podSelector and policyTypes
//	ConfigMap, Secret      data keys (one added, the previous mutation's key removed)
//	PersistentVolumeClaim  phase (status), alternating Pending and Bound
//	ServiceAccount         imagePullSecrets and automountServiceAccountToken
//	Role, ClusterRole      the resources of the rules
//	RoleBinding, ClusterRoleBinding  subjects
//	Event                  message, count and lastTimestamp
//
// Each call changes the values again. Conflicts with concurrent writers are retried. The refs
// must be of objects that Create or Seed made: Mutate relies on their shape (containers,
// ports, TLS entries) and may fail on arbitrary objects.
func Mutate(ctx context.Context, c client.Client, refs []Ref, opts Options) error {
	for _, r := range refs {
		if _, ok := kinds[r.Kind]; !ok {
			return fmt.Errorf("mutate %s: unknown kind", r)
		}
	}
	return forEach(ctx, len(refs), opts.parallelism(), func(ctx context.Context, i int) error {
		r := refs[i]
		k := kinds[r.Kind]
		var (
			gen int
			obj client.Object
		)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var err error
			obj, err = get(ctx, c, k, r)
			if err != nil {
				return err
			}
			gen = generation(obj) + 1
			labels := obj.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[GenerationLabel] = strconv.Itoa(gen)
			obj.SetLabels(labels)
			if k.mutate != nil {
				k.mutate(obj, gen)
			}
			return c.Update(ctx, obj)
		})
		if err != nil {
			return fmt.Errorf("mutate %s: %w", r, err)
		}
		if k.mutateStatus == nil {
			return nil
		}
		if err := updateStatus(ctx, c, k, obj, func(o client.Object) { k.mutateStatus(o, gen) }); err != nil {
			return fmt.Errorf("mutate %s status: %w", r, err)
		}
		return nil
	})
}

// Delete deletes every referenced object (only the object with the ref's UID, when the ref
// has one), Namespaces after everything else, and returns once all of them are gone from the
// apiserver. It removes the finalizers that only absent controllers would remove (see the
// package doc). Objects that are already gone are fine.
func Delete(ctx context.Context, c client.Client, refs []Ref, opts Options) error {
	for _, r := range refs {
		if _, ok := kinds[r.Kind]; !ok {
			return fmt.Errorf("delete %s: unknown kind", r)
		}
	}
	// Namespaces go last, so that what they contain is gone before them (there is no
	// namespace controller to delete it).
	isNS := func(r Ref) bool { return r.Kind == "Namespace" }
	for _, group := range [][]Ref{slices.DeleteFunc(slices.Clone(refs), isNS), ByKind(refs, "Namespace")} {
		err := forEach(ctx, len(group), opts.parallelism(), func(ctx context.Context, i int) error {
			if err := deleteOne(ctx, c, group[i]); err != nil {
				return fmt.Errorf("delete %s: %w", group[i], err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func deleteOne(ctx context.Context, c client.Client, r Ref) error {
	k := kinds[r.Kind]
	del := func() error {
		obj := k.newObject()
		obj.SetName(r.Name)
		obj.SetNamespace(r.Namespace)
		opts := []client.DeleteOption{
			client.GracePeriodSeconds(0),
			client.PropagationPolicy(metav1.DeletePropagationBackground),
		}
		if r.UID != "" {
			uid := types.UID(r.UID)
			opts = append(opts, client.Preconditions{UID: &uid})
		}
		err := c.Delete(ctx, obj, opts...)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Gone, or a different object (another UID) now has the name.
			return nil
		}
		return err
	}
	if err := del(); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, deleteTimeout, true, func(ctx context.Context) (bool, error) {
		obj, err := get(ctx, c, k, r)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if r.UID != "" && string(obj.GetUID()) != r.UID {
			return true, nil
		}
		if obj.GetDeletionTimestamp() == nil {
			return false, del()
		}
		if len(obj.GetFinalizers()) > 0 {
			patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
			if err := c.Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
			return false, nil
		}
		if ns, ok := obj.(*corev1.Namespace); ok {
			// The namespace controller would empty the namespace, clear spec.finalizers
			// through the finalize subresource, and delete it again.
			if len(ns.Spec.Finalizers) > 0 {
				ns.Spec.Finalizers = nil
				if err := c.SubResource("finalize").Update(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
					return false, err
				}
			}
			return false, del()
		}
		return false, nil
	})
}

// Seeded is what Seed created.
type Seeded struct {
	// Namespace is the fresh namespace holding every namespaced object.
	Namespace string
	// Refs lists every created object, the namespace, node and service account Pods use
	// included, grouped by kind in platform.Kinds order.
	Refs []Ref
}

// Seed creates perKind objects of each of the 20 kinds: a fresh namespace ("seed-<random>")
// plus perKind-1 more Namespaces, perKind Nodes, ClusterRoles and ClusterRoleBindings, and
// perKind objects of every namespaced kind in the fresh namespace. Pods are bound to the first
// seeded Node and run as the first seeded ServiceAccount; Jobs are owned by the first seeded
// CronJob. perKind must be at least 1.
func Seed(ctx context.Context, c client.Client, perKind int, opts Options) (Seeded, error) {
	if perKind < 1 {
		return Seeded{}, fmt.Errorf("seed: perKind must be at least 1, got %d", perKind)
	}
	nsRefs, err := Create(ctx, c, "Namespace", "", 1, Options{Prefix: "seed", Labels: opts.Labels})
	if err != nil {
		return Seeded{}, fmt.Errorf("seed: %w", err)
	}
	s := Seeded{Namespace: nsRefs[0].Name}
	byKind := map[string][]Ref{"Namespace": nsRefs}
	// Kinds that others refer to come first.
	order := []string{"Node", "ServiceAccount", "CronJob"}
	for _, k := range platform.Kinds {
		if !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	for _, kind := range order {
		n := perKind
		if kind == "Namespace" {
			n = perKind - 1
		}
		if n == 0 {
			continue
		}
		o := opts
		switch kind {
		case "Pod":
			o.NodeName = byKind["Node"][0].Name
			o.ServiceAccountName = byKind["ServiceAccount"][0].Name
		case "Job":
			cj := byKind["CronJob"][0]
			o.Owner = &metav1.OwnerReference{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: types.UID(cj.UID),
				Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true),
			}
		}
		refs, err := Create(ctx, c, kind, s.Namespace, n, o)
		byKind[kind] = append(byKind[kind], refs...)
		if err != nil {
			for _, k := range platform.Kinds {
				s.Refs = append(s.Refs, byKind[k]...)
			}
			return s, fmt.Errorf("seed: %w", err)
		}
	}
	for _, k := range platform.Kinds {
		s.Refs = append(s.Refs, byKind[k]...)
	}
	return s, nil
}

// forEach runs fn for 0..n-1 with at most parallelism calls at once and returns the first
// error; after an error, calls not yet started are skipped.
func forEach(ctx context.Context, n, parallelism int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func get(ctx context.Context, c client.Client, k kindSpec, r Ref) (client.Object, error) {
	obj := k.newObject()
	err := c.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, obj)
	return obj, err
}

// updateStatus applies set to obj, as last read or written, and writes it through the status
// subresource; after a conflict it reads the object again and retries.
func updateStatus(ctx context.Context, c client.Client, k kindSpec, obj client.Object, set func(client.Object)) error {
	set(obj)
	err := c.Status().Update(ctx, obj)
	if !apierrors.IsConflict(err) {
		return err
	}
	r := Ref{Namespace: obj.GetNamespace(), Name: obj.GetName()}
	return writeStatus(ctx, c, k, r, set)
}

// writeStatus reads the object, applies set and writes it through the status subresource,
// retrying on conflicts.
func writeStatus(ctx context.Context, c client.Client, k kindSpec, r Ref, set func(client.Object)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := get(ctx, c, k, r)
		if err != nil {
			return err
		}
		set(obj)
		return c.Status().Update(ctx, obj)
	})
}

func generation(obj client.Object) int {
	n, _ := strconv.Atoi(obj.GetLabels()[GenerationLabel])
	return n
}

// ensureNode creates the Node name, Ready and with capacity, unless it exists.
func ensureNode(ctx context.Context, c client.Client, name string) error {
	b := &builder{kind: "Node", batch: "pods", prefix: name}
	node := buildNode(b, 0).(*corev1.Node)
	node.Name = name
	node.Labels["kubernetes.io/hostname"] = name
	err := c.Create(ctx, node)
	switch {
	case apierrors.IsAlreadyExists(err):
	case err != nil:
		return fmt.Errorf("create node %s for pods: %w", name, err)
	default:
		if err := updateStatus(ctx, c, kinds["Node"], node, func(o client.Object) { nodeStatus(o, 0) }); err != nil {
			return fmt.Errorf("write node %s status: %w", name, err)
		}
	}
	return nil
}

// ensureServiceAccount creates the ServiceAccount namespace/name unless it exists.
func ensureServiceAccount(ctx context.Context, c client.Client, namespace, name string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/%s for pods: %w", namespace, name, err)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
