package clusterregistry

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
)

// Reasons of an unavailable kind, MemberStatus.UnavailableKinds.
const (
	// KindForbidden: the member refuses to list the kind to the hub's identity.
	KindForbidden = "Forbidden"
	// KindNotServed: the member does not serve the kind.
	KindNotServed = "NotServed"
)

// syncPoll is how often memberCache.WaitForCacheSync looks at its informers.
const syncPoll = 100 * time.Millisecond

// memberCluster is the cluster.Cluster the registry hands out (Get, Engage): the member's
// cluster with a memberCache.
type memberCluster struct {
	cluster.Cluster
	cache *memberCache
}

// GetCache returns the member's cache, see memberCache.
func (c *memberCluster) GetCache() cache.Cache { return c.cache }

// memberCache makes a kind the member forbids (or does not serve) a per-kind condition
// instead of a sync that never ends.
//
// A multi-cluster controller's source, while it is engaged and holding the controller's
// lock, asks for its kind's informer and then waits for the cache to sync. With
// controller-runtime's cache a kind whose LIST answers 403 never syncs, so Engage would
// never return and every other member's engagement would queue behind it (or, engaged
// before the controller started, the controller's start would fail). Here:
//
//   - GetInformer and GetInformerForKind never block on a first sync; the first time a kind
//     is asked for, one LIST of at most one object's metadata, bounded by checkTimeout,
//     tells whether the member allows and serves it. A refused kind is recorded (report).
//   - WaitForCacheSync waits for the informers obtained through this cache, leaving out the
//     kinds recorded as refused, until ctx ends.
//   - The informers of refused kinds keep running: client-go retries their LIST with
//     backoff, so once the member allows the kind its events flow by themselves; refresh
//     (called on every health probe) then clears the record.
//
// Reads through the cache's Get and List are unchanged: they wait for their kind's sync,
// bounded by their context.
type memberCache struct {
	cache.Cache
	reader       client.Reader // the member's API reader, for the access check
	scheme       func(obj client.Object) (schema.GroupVersionKind, error)
	checkTimeout time.Duration
	report       func(unavailable map[string]string)

	// mu guards informers and unavailable; never held across the access check.
	mu          sync.Mutex
	informers   map[schema.GroupVersionKind]cache.Informer
	unavailable map[schema.GroupVersionKind]string
}

func newMemberCluster(cl cluster.Cluster, checkTimeout time.Duration, report func(map[string]string)) *memberCluster {
	return &memberCluster{Cluster: cl, cache: &memberCache{
		Cache:  cl.GetCache(),
		reader: cl.GetAPIReader(),
		scheme: func(obj client.Object) (schema.GroupVersionKind, error) {
			return apiutil.GVKForObject(obj, cl.GetScheme())
		},
		checkTimeout: checkTimeout,
		report:       report,
		informers:    map[schema.GroupVersionKind]cache.Informer{},
		unavailable:  map[schema.GroupVersionKind]string{},
	}}
}

// GetInformer returns obj's informer without waiting for its first sync.
func (c *memberCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	gvk, err := c.scheme(obj)
	if err != nil {
		return nil, err
	}
	inf, err := c.Cache.GetInformer(ctx, obj, append(opts, cache.BlockUntilSynced(false))...)
	if err != nil {
		return nil, err
	}
	c.track(ctx, gvk, inf)
	return inf, nil
}

// GetInformerForKind returns gvk's informer without waiting for its first sync.
func (c *memberCache) GetInformerForKind(ctx context.Context, gvk schema.GroupVersionKind, opts ...cache.InformerGetOption) (cache.Informer, error) {
	inf, err := c.Cache.GetInformerForKind(ctx, gvk, append(opts, cache.BlockUntilSynced(false))...)
	if err != nil {
		return nil, err
	}
	c.track(ctx, gvk, inf)
	return inf, nil
}

// track records an informer and, the first time its kind is seen, checks access to it.
func (c *memberCache) track(ctx context.Context, gvk schema.GroupVersionKind, inf cache.Informer) {
	c.mu.Lock()
	_, seen := c.informers[gvk]
	if !seen {
		c.informers[gvk] = inf
	}
	c.mu.Unlock()
	if seen {
		return
	}
	reason := c.check(ctx, gvk)
	if reason == "" {
		return
	}
	c.mu.Lock()
	c.unavailable[gvk] = reason
	snapshot := c.snapshotLocked()
	c.mu.Unlock()
	c.report(snapshot)
}

// check lists at most one object's metadata of gvk and returns why the kind is unavailable,
// or "" when it is available or the check was inconclusive (then the sync is waited for).
func (c *memberCache) check(ctx context.Context, gvk schema.GroupVersionKind) string {
	ctx, cancel := context.WithTimeout(ctx, c.checkTimeout)
	defer cancel()
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	err := c.reader.List(ctx, list, client.Limit(1))
	switch {
	case err == nil:
		return ""
	case apierrors.IsForbidden(err):
		return KindForbidden
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return KindNotServed
	default:
		return ""
	}
}

// WaitForCacheSync waits until every informer obtained through this cache has synced,
// except those of unavailable kinds. It returns false if ctx ends first.
func (c *memberCache) WaitForCacheSync(ctx context.Context) bool {
	err := wait.PollUntilContextCancel(ctx, syncPoll, true, func(context.Context) (bool, error) {
		return c.refresh(), nil
	})
	return err == nil
}

// refresh clears the record of unavailable kinds whose informer has synced since (the
// member allows them now) and tells whether every other informer has synced.
func (c *memberCache) refresh() bool {
	c.mu.Lock()
	done, healed := true, false
	for gvk, inf := range c.informers {
		_, refused := c.unavailable[gvk]
		switch synced := inf.HasSynced(); {
		case synced && refused:
			delete(c.unavailable, gvk)
			healed = true
		case !synced && !refused:
			done = false
		}
	}
	var snapshot map[string]string
	if healed {
		snapshot = c.snapshotLocked()
	}
	c.mu.Unlock()
	if healed {
		c.report(snapshot)
	}
	return done
}

func (c *memberCache) snapshotLocked() map[string]string {
	out := make(map[string]string, len(c.unavailable))
	for gvk, reason := range c.unavailable {
		out[kindName(gvk)] = reason
	}
	return out
}

// kindName is "v1/Secret", "apps/v1/Deployment".
func kindName(gvk schema.GroupVersionKind) string {
	return gvk.GroupVersion().String() + "/" + gvk.Kind
}
