package ingest

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/transport"
)

// heapObjectsMetric is the heap occupied by objects, live or not yet swept: what a
// collection has to work through, and what the process's heap must hold at its peak.
const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

// peakHeap samples heapObjectsMetric every millisecond from start until stop and keeps
// the highest value.
type peakHeap struct {
	stop chan struct{}
	done chan struct{}
	max  uint64
}

func startPeakHeap() *peakHeap {
	p := &peakHeap{stop: make(chan struct{}), done: make(chan struct{})}
	sample := []metrics.Sample{{Name: heapObjectsMetric}}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			p.max = max(p.max, sample[0].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// Stop ends the sampling and returns the peak.
func (p *peakHeap) Stop() uint64 {
	close(p.stop)
	<-p.done
	return p.max
}

// liveHeap returns heapObjectsMetric after full collections: the live heap.
func liveHeap() uint64 {
	goruntime.GC()
	goruntime.GC()
	sample := []metrics.Sample{{Name: heapObjectsMetric}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// benchPods is the number of pods BenchmarkInitialListPeakHeap creates: OBSYK_BENCH_PODS,
// default 20,000.
func benchPods(b *testing.B) int {
	s := os.Getenv("OBSYK_BENCH_PODS")
	if s == "" {
		return 20_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("OBSYK_BENCH_PODS=%q: want a positive number", s)
	}
	return n
}

// createReplicaPods creates n pods shaped as realisticPod (Deployment replicas), bound to
// nodes by spec.nodeName and given a running status, as a scheduler and kubelets would
// have, with their namespaces and service accounts.
func createReplicaPods(ctx context.Context, b *testing.B, cs kubernetes.Interface, n int) {
	namespaces := map[string]bool{}
	for i := 0; i < n; i += 10 {
		namespaces[realisticPod(i).Namespace] = true
	}
	for ns := range namespaces {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
		_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				p := realisticPod(i)
				status := p.Status
				p.UID, p.ResourceVersion, p.CreationTimestamp, p.ManagedFields = "", "", metav1.Time{}, nil
				p.Status = corev1.PodStatus{}
				created, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
				if err == nil {
					created.Status = status
					_, err = cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("create pod %d: %w", i, err):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// listCounter counts the list calls of an informer: with watch-list, there must be none.
type listCounter struct {
	cache.ListerWatcherWithContext
	lists atomic.Int64
}

func (l *listCounter) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	l.lists.Add(1)
	return l.ListerWatcherWithContext.ListWithContext(ctx, opts)
}

// initialListRun is one informer's initial list: what it cost and what it keeps.
type initialListRun struct {
	peak, retained uint64 // bytes above the live heap before the informer started
	took           time.Duration
	lists          int64
	stored         int
}

// runInitialList starts a pod informer as the pipeline does (typed client, expiryCounter,
// namespace index, one handler), or a stock one (no transform), waits for its initial
// list, and measures the peak heap during it and the heap it retains after it.
func runInitialList(b *testing.B, cs kubernetes.Interface, compact bool, mode initialList) initialListRun {
	lw, example, err := listWatchOf(cs, transport.KindPod)
	if err != nil {
		b.Fatal(err)
	}
	counted := &listCounter{ListerWatcherWithContext: lw}
	inf := cache.NewSharedIndexInformerWithOptions(
		&expiryCounter{lw: counted, expired: func() {}, initial: mode}, example,
		cache.SharedIndexInformerOptions{Indexers: cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}})
	if compact {
		if err := inf.SetTransform(toItem); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{}); err != nil {
		b.Fatal(err)
	}

	base := liveHeap()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	peak := startPeakHeap()
	start := time.Now()
	wg.Add(1)
	go func() { defer wg.Done(); inf.RunWithContext(ctx) }()
	synced := cache.WaitForCacheSync(b.Context().Done(), inf.HasSynced)
	took := time.Since(start)
	top := peak.Stop()
	if !synced {
		cancel()
		wg.Wait()
		b.Fatal("the informer did not sync")
	}
	run := initialListRun{peak: top - base, took: took, lists: counted.lists.Load(), stored: len(inf.GetStore().ListKeys())}
	run.retained = liveHeap() - base
	cancel()
	wg.Wait()
	goruntime.KeepAlive(inf)
	return run
}

// BenchmarkInitialListPeakHeap measures the heap of this process during and after the
// initial list of N pods from a real kube-apiserver (its own control plane, watch cache
// on), side by side for the four combinations of
//
//   - compact (the pipeline's transform, toItem) or stock (full objects, no transform), and
//   - watchlist (a streamed watch-list, client-go's WatchListClient) or paged (a list,
//     which the reflector gathers, all pages, before storing anything).
//
// For each it reports peak-MiB and peak-B/pod (the highest heapObjectsMetric, sampled
// every millisecond, above the live heap before the informer started), retained-B/pod
// (the live heap it keeps once synced) and the list's duration. The pods are realisticPod
// (Deployment replicas), created once with a running status (N creates and N status
// writes: about 1.5 minutes per 10k pods on 2 cores, most of the run). Figures are in the
// package doc.
//
// Run (N defaults to 20,000: about 4 minutes; 100,000 takes about 17):
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s/v1.37.2 OBSYK_BENCH_PODS=20000 \
//	  go test -run XXX -bench InitialListPeakHeap -benchtime=1x -timeout 60m ./ingest/
func BenchmarkInitialListPeakHeap(b *testing.B) {
	if !clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		b.Fatal("client-go's WatchListClient feature is off (KUBE_FEATURE_WatchListClient=false?): the watchlist runs would list")
	}
	n := benchPods(b)
	cluster := testbed.NewTestCluster(b, testbed.ClusterOptions{Name: "initial-list"})
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = 2000, 4000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	createReplicaPods(b.Context(), b, cs, n)
	b.Logf("created %d pods in %s", n, time.Since(start).Round(time.Second))

	type variant struct {
		name    string
		compact bool
		mode    initialList
	}
	variants := []variant{
		{"compact-watchlist", true, watchList},
		{"compact-paged", true, pagedList},
		{"stock-watchlist", false, watchList},
		{"stock-paged", false, pagedList},
	}
	b.ResetTimer()
	for range b.N {
		for _, v := range variants {
			run := runInitialList(b, cs, v.compact, v.mode)
			if run.stored != n {
				b.Fatalf("%s: %d pods stored, want %d", v.name, run.stored, n)
			}
			if (v.mode == watchList) != (run.lists == 0) {
				b.Fatalf("%s: %d list calls", v.name, run.lists)
			}
			b.ReportMetric(float64(run.peak)/(1<<20), v.name+"-peak-MiB")
			b.ReportMetric(float64(run.peak)/float64(n), v.name+"-peak-B/pod")
			b.ReportMetric(float64(run.retained)/float64(n), v.name+"-retained-B/pod")
			b.ReportMetric(run.took.Seconds(), v.name+"-s")
			b.Logf("%-18s peak %6.1f MiB (%5.0f B/pod)  retained %5.0f B/pod  in %s",
				v.name, float64(run.peak)/(1<<20), float64(run.peak)/float64(n), float64(run.retained)/float64(n), run.took.Round(time.Millisecond))
		}
	}
}
