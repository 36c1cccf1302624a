package clusterregistry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

func TestRegistryDisconnectsABlackHoledMemberAlone(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("partition")
	cut := f.Members[0]
	proxy := testbed.NewTestProxy(t, cut.APIServerAddr())
	register(t, ns, cut, clusterregistry.RegisterOptions{ServerURL: "https://" + proxy.Addr()})
	for _, m := range f.Members[1:] {
		register(t, ns, m, clusterregistry.RegisterOptions{})
	}
	// The health settings are the defaults (probe every 10 s, 5 s timeout, 2 failures);
	// only the reconnection backoff is shortened.
	opts := fastOptions(ns)
	opts.ProbeInterval, opts.ProbeTimeout = 0, 0
	aware := newTestAware()
	reg := startRegistry(t, opts, aware)
	for _, m := range f.Members {
		g.Eventually(func() bool { return aware.active(m.Name) }, 30*time.Second, 50*time.Millisecond).Should(BeTrue())
	}

	proxy.BlackHole()
	began := time.Now()
	g.Eventually(state(reg, cut.Name), 30*time.Second, 100*time.Millisecond).Should(Equal(clusterregistry.StateDisconnected))
	detected := time.Since(began)
	t.Logf("black-holed member disconnected after %s", detected.Round(100*time.Millisecond))
	st, _ := reg.Member(cut.Name)
	g.Expect(st.Reason).To(Equal(clusterregistry.ReasonUnreachable))
	_, err := reg.Get(t.Context(), multicluster.ClusterName(cut.Name))
	g.Expect(errors.Is(err, clusterregistry.ErrClusterNotConnected)).To(BeTrue(), "got %v", err)
	g.Expect(errors.Is(err, multicluster.ErrClusterNotFound)).To(BeTrue())
	cutEngagement, _ := aware.get(cut.Name)
	g.Expect(cutEngagement.ctx.Err()).To(HaveOccurred(), "the disconnected member is disengaged")

	for _, m := range f.Members[1:] {
		st, _ := reg.Member(m.Name)
		g.Expect(st.State).To(Equal(clusterregistry.StateConnected), "cluster %s", m.Name)
		g.Expect(st.LastProbe).To(BeTemporally(">", began), "cluster %s kept answering probes", m.Name)
		e, n := aware.get(m.Name)
		g.Expect(n).To(Equal(1), "cluster %s must not be re-engaged", m.Name)
		g.Expect(e.ctx.Err()).NotTo(HaveOccurred())
	}

	proxy.Heal()
	healed := time.Now()
	g.Eventually(func() int { _, n := aware.get(cut.Name); return n }, 30*time.Second, 100*time.Millisecond).Should(Equal(2))
	g.Expect(state(reg, cut.Name)()).To(Equal(clusterregistry.StateConnected))
	t.Logf("healed member reconnected after %s", time.Since(healed).Round(100*time.Millisecond))
}

func TestRegistryEngagesOthersWhileAMemberForbidsAKind(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("forbidden")
	forbidding := f.Members[0]
	register(t, ns, forbidding, clusterregistry.RegisterOptions{})
	for _, m := range f.Members[1:] {
		register(t, ns, m, clusterregistry.RegisterOptions{CollectSecrets: true})
	}
	var mu sync.Mutex // guards informers
	informers := map[string]cache.Informer{}
	aware := newTestAware()
	// Like a controller's source, Engage asks for its kind's informer; the Secret informer
	// never syncs where listing Secrets is forbidden.
	aware.block = func(ctx context.Context, name string, cl cluster.Cluster) error {
		inf, err := cl.GetCache().GetInformer(ctx, &corev1.Secret{})
		if err != nil {
			return fmt.Errorf("secret informer of %s: %w", name, err)
		}
		mu.Lock()
		informers[name] = inf
		mu.Unlock()
		return nil
	}
	synced := func(name string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			inf, ok := informers[name]
			return ok && inf.HasSynced()
		}
	}
	reg := startRegistry(t, fastOptions(ns), aware)

	for _, m := range f.Members {
		g.Eventually(func() bool { return aware.active(m.Name) }, 30*time.Second, 50*time.Millisecond).Should(BeTrue(), "cluster %s", m.Name)
	}
	for _, m := range f.Members[1:] {
		g.Eventually(synced(m.Name), 30*time.Second, 50*time.Millisecond).Should(BeTrue(), "cluster %s", m.Name)
	}
	// The forbidden kind is a per-kind condition: the member is connected and engaged, only
	// its Secret informer does not sync.
	g.Consistently(synced(forbidding.Name), 2*time.Second, 100*time.Millisecond).Should(BeFalse())
	st, _ := reg.Member(forbidding.Name)
	g.Expect(st.State).To(Equal(clusterregistry.StateConnected))
	g.Expect(st.UnavailableKinds).To(Equal(map[string]string{"v1/Secret": clusterregistry.KindForbidden}))
	for _, m := range f.Members[1:] {
		st, _ := reg.Member(m.Name)
		g.Expect(st.UnavailableKinds).To(BeEmpty(), "cluster %s", m.Name)
	}

	// Granting the kind heals the member by itself: the informer's retries succeed.
	grantSecretRead(t, forbidding)
	healed := time.Now()
	g.Eventually(synced(forbidding.Name), 60*time.Second, 100*time.Millisecond).Should(BeTrue())
	t.Logf("the healed kind synced after %s", time.Since(healed).Round(100*time.Millisecond))
	g.Eventually(func() map[string]string { st, _ := reg.Member(forbidding.Name); return st.UnavailableKinds }, 10*time.Second, 100*time.Millisecond).Should(BeEmpty())
	for _, m := range f.Members {
		_, n := aware.get(m.Name)
		g.Expect(n).To(Equal(1), "cluster %s must not be re-engaged", m.Name)
	}
}

func TestRegistryBoundsAStuckEngagement(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("stuck-engage")
	for _, m := range f.Members {
		register(t, ns, m, clusterregistry.RegisterOptions{})
	}
	stuck := f.Members[0]
	aware := newTestAware()
	// Engage of one member blocks until its context ends, as a controller can while it
	// waits for a source.
	aware.block = func(ctx context.Context, name string, _ cluster.Cluster) error {
		if name == stuck.Name {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	opts := fastOptions(ns)
	opts.EngageTimeout = 2 * time.Second
	reg := startRegistry(t, opts, aware)
	for _, m := range f.Members[1:] {
		g.Eventually(func() bool { return aware.active(m.Name) }, 30*time.Second, 50*time.Millisecond).Should(BeTrue(), "cluster %s", m.Name)
	}
	g.Eventually(func() string { st, _ := reg.Member(stuck.Name); return st.Reason }, 30*time.Second, 50*time.Millisecond).
		Should(Equal(clusterregistry.ReasonEngageFailed))
	g.Expect(aware.active(stuck.Name)).To(BeFalse())
}

// grantSecretRead lets the hub's reader list and watch Secrets in c until the test ends.
func grantSecretRead(t *testing.T, c *testbed.Cluster) {
	t.Helper()
	const name = "obsyk-hub-test-secret-read"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: clusterregistry.ReaderName, Namespace: clusterregistry.MemberNamespace}},
	}
	if err := c.Client.Create(ctx, role); err != nil {
		t.Fatalf("create cluster role: %v", err)
	}
	if err := c.Client.Create(ctx, binding); err != nil {
		t.Fatalf("create cluster role binding: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Client.Delete(ctx, binding); err != nil {
			t.Errorf("delete cluster role binding: %v", err)
		}
		if err := c.Client.Delete(ctx, role); err != nil {
			t.Errorf("delete cluster role: %v", err)
		}
	})
}
