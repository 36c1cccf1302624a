package clusterregistry_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcbuilder "sigs.k8s.io/multicluster-runtime/pkg/builder"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"

	"github.com/obsyk/obsyk-hub/clusterregistry"
)

func TestRegistryProvidesClustersToAMultiClusterManager(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("manager")
	for _, m := range f.Members {
		register(t, ns, m, clusterregistry.RegisterOptions{})
	}
	reg, err := clusterregistry.New(f.Hub.Config, fastOptions(ns))
	g.Expect(err).NotTo(HaveOccurred())
	mgr, err := mcmanager.New(f.Hub.Config, reg, manager.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())

	var mu sync.Mutex // guards seen
	seen := map[string]bool{}
	err = mcbuilder.ControllerManagedBy(mgr).Named(controllerName("configmap-probe")).For(&corev1.ConfigMap{}).
		Complete(mcreconcile.Func(func(ctx context.Context, req mcreconcile.Request) (reconcile.Result, error) {
			if req.Name != "registry-probe" {
				return reconcile.Result{}, nil
			}
			cl, err := mgr.GetCluster(ctx, req.ClusterName)
			if err != nil {
				return reconcile.Result{}, err
			}
			cm := &corev1.ConfigMap{}
			if err := cl.GetClient().Get(ctx, req.NamespacedName, cm); err != nil {
				return reconcile.Result{}, err
			}
			mu.Lock()
			seen[string(req.ClusterName)+"="+cm.Data["cluster"]] = true
			mu.Unlock()
			return reconcile.Result{}, nil
		}))
	g.Expect(err).NotTo(HaveOccurred())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("manager did not stop within a minute")
		}
	})

	want := make([]string, 0, len(f.Members))
	for _, m := range f.Members {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "registry-probe"},
			Data:       map[string]string{"cluster": m.Name},
		}
		g.Expect(m.Client.Create(t.Context(), cm)).To(Succeed())
		t.Cleanup(func() { _ = m.Client.Delete(context.Background(), cm) })
		want = append(want, m.Name+"="+m.Name)
	}
	g.Eventually(func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := []string{}
		for k := range seen {
			out = append(out, k)
		}
		return out
	}, 60*time.Second, 100*time.Millisecond).Should(ContainElements(want))
}

func TestAMultiClusterControllerKeepsReconcilingWhileOneMemberForbidsItsKind(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("manager-forbidden")
	forbidding := f.Members[0]
	register(t, ns, forbidding, clusterregistry.RegisterOptions{})
	for _, m := range f.Members[1:] {
		register(t, ns, m, clusterregistry.RegisterOptions{CollectSecrets: true})
	}
	reg, err := clusterregistry.New(f.Hub.Config, fastOptions(ns))
	g.Expect(err).NotTo(HaveOccurred())
	mgr, err := mcmanager.New(f.Hub.Config, reg, manager.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())

	var mu sync.Mutex // guards seen
	seen := map[string]bool{}
	// A controller of Secrets: its source's first sync never finishes where listing
	// Secrets is forbidden, which holds the controller's lock during Engage.
	err = mcbuilder.ControllerManagedBy(mgr).Named(controllerName("secret-probe")).For(&corev1.Secret{}).
		Complete(mcreconcile.Func(func(_ context.Context, req mcreconcile.Request) (reconcile.Result, error) {
			if req.Name == "registry-probe" && req.ClusterName != "" {
				mu.Lock()
				seen[string(req.ClusterName)] = true
				mu.Unlock()
			}
			return reconcile.Result{}, nil
		}))
	g.Expect(err).NotTo(HaveOccurred())
	for _, m := range f.Members {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "registry-probe"}}
		g.Expect(m.Client.Create(t.Context(), s)).To(Succeed())
		t.Cleanup(func() { _ = m.Client.Delete(context.Background(), s) })
	}
	seenClusters := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := []string{}
		for k := range seen {
			out = append(out, k)
		}
		return out
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("manager did not stop within a minute")
		}
	})

	began := time.Now()
	g.Eventually(seenClusters, 30*time.Second, 100*time.Millisecond).Should(ConsistOf(f.Members[1].Name, f.Members[2].Name))
	t.Logf("the members that allow Secrets were reconciled after %s", time.Since(began).Round(100*time.Millisecond))
	g.Expect(state(reg, forbidding.Name)()).To(Equal(clusterregistry.StateConnected), "a forbidden kind does not disconnect the member")
	g.Expect(seenClusters()).NotTo(ContainElement(forbidding.Name))

	grantSecretRead(t, forbidding)
	healed := time.Now()
	g.Eventually(seenClusters, 60*time.Second, 100*time.Millisecond).Should(ContainElement(forbidding.Name))
	t.Logf("the healed member was reconciled after %s", time.Since(healed).Round(100*time.Millisecond))
}

var controllers atomic.Int32

// controllerName makes names unique per process: controller-runtime refuses a name twice,
// and -count runs a test again in the same process.
func controllerName(base string) string {
	return fmt.Sprintf("%s-%d", base, controllers.Add(1))
}
