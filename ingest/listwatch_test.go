package ingest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// scriptedListWatch returns the errors and watchers it is given.
func scriptedListWatch(listErr, watchErr error, w watch.Interface) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			return &corev1.PodList{}, listErr
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			if watchErr != nil {
				return nil, watchErr
			}
			return w, nil
		},
	}
}

func TestThe410sOfListsWatchesAndWatchStreamsAreCountedAndPassedOn(t *testing.T) {
	g := NewWithT(t)
	gone := apierrors.NewResourceExpired("too old resource version: 1 (5)")
	ctx := context.Background()
	var n atomic.Int32
	count := func() { n.Add(1) }

	_, err := (&expiryCounter{lw: scriptedListWatch(gone, nil, nil), expired: count}).ListWithContext(ctx, metav1.ListOptions{})
	g.Expect(err).To(MatchError(gone))
	_, err = (&expiryCounter{lw: scriptedListWatch(nil, apierrors.NewGone("gone"), nil), expired: count}).WatchWithContext(ctx, metav1.ListOptions{})
	g.Expect(apierrors.IsGone(err)).To(BeTrue())
	_, err = (&expiryCounter{lw: scriptedListWatch(errors.New("connection refused"), nil, nil), expired: count}).ListWithContext(ctx, metav1.ListOptions{})
	g.Expect(err).To(HaveOccurred())
	_, err = (&expiryCounter{lw: scriptedListWatch(nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", nil), nil), expired: count}).WatchWithContext(ctx, metav1.ListOptions{})
	g.Expect(err).To(HaveOccurred())
	g.Expect(n.Load()).To(Equal(int32(2)), "only the two 410s")

	fake := watch.NewFake()
	w, err := (&expiryCounter{lw: scriptedListWatch(nil, nil, fake), expired: count}).WatchWithContext(ctx, metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	expiredStatus := &gone.ErrStatus
	internal := &apierrors.NewInternalError(errors.New("boom")).ErrStatus
	go func() {
		fake.Add(pod)
		fake.Error(expiredStatus)
		fake.Error(internal)
	}()
	next := func() watch.Event {
		var e watch.Event
		g.Eventually(w.ResultChan()).WithTimeout(10 * time.Second).Should(Receive(&e))
		return e
	}
	g.Expect(next()).To(Equal(watch.Event{Type: watch.Added, Object: pod}))
	g.Expect(next()).To(Equal(watch.Event{Type: watch.Error, Object: expiredStatus}))
	g.Expect(next()).To(Equal(watch.Event{Type: watch.Error, Object: internal}))
	g.Expect(n.Load()).To(Equal(int32(3)), "the 410 inside the stream, not the 500")

	// A consumer that stops without reading does not leave the relay blocked.
	fake2 := watch.NewFake()
	w2, err := (&expiryCounter{lw: scriptedListWatch(nil, nil, fake2), expired: count}).WatchWithContext(ctx, metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	sent := make(chan struct{})
	go func() { fake2.Add(pod); close(sent) }()
	g.Eventually(sent).WithTimeout(10 * time.Second).Should(BeClosed())
	w2.Stop()
	w2.Stop()
	g.Eventually(w2.ResultChan()).WithTimeout(10 * time.Second).Should(BeClosed())
}

func TestTheInitialListModeTellsTheReflectorWhetherToUseWatchList(t *testing.T) {
	g := NewWithT(t)
	lw := scriptedListWatch(nil, nil, nil)
	g.Expect(watchlist.DoesClientNotSupportWatchListSemantics(&expiryCounter{lw: lw, initial: watchList})).To(BeFalse())
	g.Expect(watchlist.DoesClientNotSupportWatchListSemantics(&expiryCounter{lw: lw, initial: pagedList})).To(BeTrue())
}
