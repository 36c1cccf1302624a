package ingest

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/obsyk/obsyk-hub/transport"
)

// typedClient is the part of a kind's typed client that lists and watches.
type typedClient[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// typedListWatch lists and watches through a typed client, as client-go's generated
// informers do (protobuf included).
func typedListWatch[L runtime.Object](c typedClient[L]) cache.ListerWatcherWithContext {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return c.List(ctx, opts)
		},
		WatchFuncWithContext: c.Watch,
	}
}

// listWatchOf returns the list/watch of kind k across all namespaces and an empty object of
// its type.
func listWatchOf(cs kubernetes.Interface, k transport.Kind) (cache.ListerWatcherWithContext, runtime.Object, error) {
	const all = metav1.NamespaceAll
	switch k {
	case transport.KindNamespace:
		return typedListWatch(cs.CoreV1().Namespaces()), &corev1.Namespace{}, nil
	case transport.KindPod:
		return typedListWatch(cs.CoreV1().Pods(all)), &corev1.Pod{}, nil
	case transport.KindService:
		return typedListWatch(cs.CoreV1().Services(all)), &corev1.Service{}, nil
	case transport.KindNode:
		return typedListWatch(cs.CoreV1().Nodes()), &corev1.Node{}, nil
	case transport.KindDeployment:
		return typedListWatch(cs.AppsV1().Deployments(all)), &appsv1.Deployment{}, nil
	case transport.KindStatefulSet:
		return typedListWatch(cs.AppsV1().StatefulSets(all)), &appsv1.StatefulSet{}, nil
	case transport.KindDaemonSet:
		return typedListWatch(cs.AppsV1().DaemonSets(all)), &appsv1.DaemonSet{}, nil
	case transport.KindJob:
		return typedListWatch(cs.BatchV1().Jobs(all)), &batchv1.Job{}, nil
	case transport.KindCronJob:
		return typedListWatch(cs.BatchV1().CronJobs(all)), &batchv1.CronJob{}, nil
	case transport.KindIngress:
		return typedListWatch(cs.NetworkingV1().Ingresses(all)), &networkingv1.Ingress{}, nil
	case transport.KindNetworkPolicy:
		return typedListWatch(cs.NetworkingV1().NetworkPolicies(all)), &networkingv1.NetworkPolicy{}, nil
	case transport.KindConfigMap:
		return typedListWatch(cs.CoreV1().ConfigMaps(all)), &corev1.ConfigMap{}, nil
	case transport.KindSecret:
		return typedListWatch(cs.CoreV1().Secrets(all)), &corev1.Secret{}, nil
	case transport.KindPersistentVolumeClaim:
		return typedListWatch(cs.CoreV1().PersistentVolumeClaims(all)), &corev1.PersistentVolumeClaim{}, nil
	case transport.KindServiceAccount:
		return typedListWatch(cs.CoreV1().ServiceAccounts(all)), &corev1.ServiceAccount{}, nil
	case transport.KindRole:
		return typedListWatch(cs.RbacV1().Roles(all)), &rbacv1.Role{}, nil
	case transport.KindClusterRole:
		return typedListWatch(cs.RbacV1().ClusterRoles()), &rbacv1.ClusterRole{}, nil
	case transport.KindRoleBinding:
		return typedListWatch(cs.RbacV1().RoleBindings(all)), &rbacv1.RoleBinding{}, nil
	case transport.KindClusterRoleBinding:
		return typedListWatch(cs.RbacV1().ClusterRoleBindings()), &rbacv1.ClusterRoleBinding{}, nil
	case transport.KindEvent:
		return typedListWatch(cs.CoreV1().Events(all)), &corev1.Event{}, nil
	}
	return nil, nil, fmt.Errorf("unknown kind %q", k)
}

// isExpired reports whether err is a "resource version too old" (410 Gone), as the
// reflector judges it.
func isExpired(err error) bool {
	return err != nil && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err))
}

// initialList says how an informer fetches its initial state.
type initialList int

const (
	// watchList streams the initial state as a watch (client-go's WatchListClient):
	// each object is transformed as it arrives. Where the API server cannot serve it
	// (watch cache off, older servers) the reflector falls back to a paged list by itself.
	watchList initialList = iota
	// pagedList always lists in pages, which the reflector gathers into one list of full
	// objects before the transform sees any of them.
	pagedList
)

// expiryCounter wraps an informer's list/watch to count every 410 Gone it meets: as the
// error of a list or watch call, and as an Error event inside a watch stream, which the
// reflector answers by relisting without calling the watch error handler. Everything is
// passed on unchanged. It also tells the reflector whether to use watch-list.
type expiryCounter struct {
	lw      cache.ListerWatcherWithContext
	expired func()
	initial initialList
}

var (
	_ cache.ListerWatcher            = (*expiryCounter)(nil)
	_ cache.ListerWatcherWithContext = (*expiryCounter)(nil)
)

func (c *expiryCounter) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	obj, err := c.lw.ListWithContext(ctx, opts)
	if isExpired(err) {
		c.expired()
	}
	return obj, err
}

func (c *expiryCounter) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := c.lw.WatchWithContext(ctx, opts)
	if err != nil {
		if isExpired(err) {
			c.expired()
		}
		return w, err
	}
	cw := &countingWatch{in: w, out: make(chan watch.Event), stop: make(chan struct{}), expired: c.expired}
	go cw.loop()
	return cw, nil
}

// List and Watch are the context-free forms the ListerWatcher interface still requires;
// the reflector calls the WithContext forms.
func (c *expiryCounter) List(opts metav1.ListOptions) (runtime.Object, error) {
	return c.ListWithContext(context.Background(), opts)
}

func (c *expiryCounter) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return c.WatchWithContext(context.Background(), opts)
}

// IsWatchListSemanticsUnSupported is how a list/watch tells the reflector not to use
// watch-list (client-go's util/watchlist).
func (c *expiryCounter) IsWatchListSemanticsUnSupported() bool { return c.initial == pagedList }

// countingWatch passes a watch's events on, counting the 410s among them. Unlike
// watch.Filter it never blocks on a consumer that has stopped.
type countingWatch struct {
	in       watch.Interface
	out      chan watch.Event
	stop     chan struct{}
	stopOnce sync.Once
	expired  func()
}

func (w *countingWatch) ResultChan() <-chan watch.Event { return w.out }

func (w *countingWatch) Stop() {
	w.stopOnce.Do(func() {
		close(w.stop)
		w.in.Stop()
	})
}

func (w *countingWatch) loop() {
	defer close(w.out)
	in := w.in.ResultChan()
	for {
		select {
		case <-w.stop:
			return
		case e, ok := <-in:
			if !ok {
				return
			}
			if e.Type == watch.Error && isExpired(apierrors.FromObject(e.Object)) {
				w.expired()
			}
			select {
			case w.out <- e:
			case <-w.stop:
				return
			}
		}
	}
}
