package clusterregistry_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// The registry tests share one fleet (a hub and three members); each test uses its own hub
// namespace, so that registries of different tests never see each other's Secrets.
var (
	fleetOnce   sync.Once
	sharedFleet *testbed.Fleet
	fleetErr    error
)

func TestMain(m *testing.M) {
	logf.SetLogger(logr.Discard())
	code := m.Run()
	if sharedFleet != nil {
		if err := sharedFleet.Stop(); err != nil && code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func fleet(t *testing.T) *testbed.Fleet {
	t.Helper()
	fleetOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		sharedFleet, fleetErr = testbed.StartFleet(ctx, testbed.FleetOptions{Members: 3})
	})
	if fleetErr != nil {
		t.Fatalf("start shared fleet: %v", fleetErr)
	}
	return sharedFleet
}

// fastOptions probe often so that tests are quick; tests of the defaults say so.
func fastOptions(namespace string) clusterregistry.Options {
	return clusterregistry.Options{
		Namespace:           namespace,
		ProbeInterval:       time.Second,
		ProbeTimeout:        time.Second,
		ConnectTimeout:      10 * time.Second,
		EngageTimeout:       5 * time.Second,
		ReconnectBackoff:    200 * time.Millisecond,
		ReconnectBackoffMax: 2 * time.Second,
		Registerer:          prometheus.NewRegistry(),
	}
}

// startRegistry runs a registry until the test ends and checks that Start returns nil.
func startRegistry(t *testing.T, opts clusterregistry.Options, aware multicluster.Aware) *clusterregistry.Registry {
	t.Helper()
	reg, err := clusterregistry.New(fleet(t).Hub.Config, opts)
	if err != nil {
		t.Fatalf("new registry: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Start(ctx, aware) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("registry start: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("registry did not stop within a minute")
		}
	})
	return reg
}

func register(t *testing.T, namespace string, member *testbed.Cluster, opts clusterregistry.RegisterOptions) {
	t.Helper()
	opts.Name, opts.Member, opts.Hub, opts.Namespace = member.Name, member.Config, fleet(t).Hub.Client, namespace
	opts.LegacyTokenWait = -1
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := clusterregistry.Register(ctx, opts); err != nil {
		t.Fatalf("register %s: %v", member.Name, err)
	}
}

func memberIdentity(t *testing.T, c *testbed.Cluster) (types.UID, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get kube-system of %s: %v", c.Name, err)
	}
	v, err := c.Kube.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("get version of %s: %v", c.Name, err)
	}
	return ns.UID, v.GitVersion
}

func state(reg *clusterregistry.Registry, name string) func() string {
	return func() string {
		st, ok := reg.Member(name)
		if !ok {
			return "<absent>"
		}
		return st.State
	}
}

// testAware records engagements, like a multi-cluster controller would receive them.
type testAware struct {
	mu      sync.Mutex // guards engaged and counts
	engaged map[string]engagement
	counts  map[string]int
	// block, when set, runs inside Engage (e.g. to wait for a kind's informer).
	block func(ctx context.Context, name string, cl cluster.Cluster) error
}

type engagement struct {
	ctx context.Context
	cl  cluster.Cluster
}

func newTestAware() *testAware {
	return &testAware{engaged: map[string]engagement{}, counts: map[string]int{}}
}

func (a *testAware) Engage(ctx context.Context, name multicluster.ClusterName, cl cluster.Cluster) error {
	if a.block != nil {
		if err := a.block(ctx, string(name), cl); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.engaged[string(name)] = engagement{ctx: ctx, cl: cl}
	a.counts[string(name)]++
	return nil
}

// active tells whether name is engaged and its engagement still live.
func (a *testAware) active(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.engaged[name]
	return ok && e.ctx.Err() == nil
}

func (a *testAware) get(name string) (engagement, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.engaged[name], a.counts[name]
}

func hubSecretData(t *testing.T, namespace, name string) []byte {
	t.Helper()
	s := &corev1.Secret{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fleet(t).Hub.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatalf("get hub secret %s/%s: %v", namespace, name, err)
	}
	return s.Data[clusterregistry.KubeconfigSecretKey]
}

func kubeconfigSecret(namespace, name string, data []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{clusterregistry.KubeconfigSecretLabel: "true"}},
		Data:       map[string][]byte{clusterregistry.KubeconfigSecretKey: data},
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := fleet(t).Hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !isAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

func isAlreadyExists(err error) bool {
	return client.IgnoreAlreadyExists(err) == nil
}

func TestRegistryEngagesAndDisengagesMembers(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("lifecycle")
	register(t, ns, f.Members[0], clusterregistry.RegisterOptions{AllowedNamespaces: []string{"team-a"}})
	for _, m := range f.Members[1:] {
		register(t, ns, m, clusterregistry.RegisterOptions{})
	}
	aware := newTestAware()
	opts := fastOptions(ns)
	metrics := prometheus.NewRegistry()
	opts.Registerer = metrics
	reg := startRegistry(t, opts, aware)
	changes, unsubscribe := reg.Subscribe()
	defer unsubscribe()

	for _, m := range f.Members {
		uid, version := memberIdentity(t, m)
		g.Eventually(state(reg, m.Name), 30*time.Second, 100*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
		st, _ := reg.Member(m.Name)
		g.Expect(st.UID).To(Equal(uid), "cluster %s", m.Name)
		g.Expect(st.ServerVersion).To(Equal(version))
		g.Expect(st.TokenExpiry).NotTo(BeNil(), "a TokenRequest token is a JWT with an expiry")
		g.Expect(st.LastProbe).NotTo(BeZero())
		g.Eventually(func() bool { return aware.active(m.Name) }, 10*time.Second, 50*time.Millisecond).Should(BeTrue())

		cl, err := reg.Get(t.Context(), multicluster.ClusterName(m.Name))
		g.Expect(err).NotTo(HaveOccurred())
		e, _ := aware.get(m.Name)
		g.Expect(e.cl).To(BeIdenticalTo(cl))
		list := &corev1.NamespaceList{}
		g.Expect(cl.GetAPIReader().List(t.Context(), list)).To(Succeed())
	}
	g.Expect(reg.Members()).To(HaveLen(3))
	g.Expect(upSeries(g, metrics)).To(ConsistOf(f.Members[0].Name, f.Members[1].Name, f.Members[2].Name))

	// Entitlement follows each Secret's annotation.
	g.Expect(reg.Entitled(f.Members[0].Name, "team-a")).To(BeTrue())
	g.Expect(reg.Entitled(f.Members[1].Name, "team-a")).To(BeFalse())
	g.Expect(reg.Entitled(f.Members[1].Name, ns)).To(BeTrue())
	g.Expect(reg.Entitled("no-such-cluster", ns)).To(BeFalse())

	// An index reaches every connected member's cache.
	byName := func(o client.Object) []string { return []string{o.GetName()} }
	g.Expect(reg.IndexField(t.Context(), &corev1.Namespace{}, "byName", byName)).To(Succeed())
	expectIndexed := func(name string) {
		cl, err := reg.Get(t.Context(), multicluster.ClusterName(name))
		g.Expect(err).NotTo(HaveOccurred())
		list := &corev1.NamespaceList{}
		g.Expect(cl.GetCache().List(t.Context(), list, client.MatchingFields{"byName": metav1.NamespaceSystem})).To(Succeed())
		g.Expect(list.Items).To(HaveLen(1), "cluster %s", name)
	}
	for _, m := range f.Members {
		expectIndexed(m.Name)
	}

	gone := f.Members[2]
	goneData := hubSecretData(t, ns, gone.Name)
	engaged, _ := aware.get(gone.Name)
	for len(changes) > 0 {
		<-changes
	}
	g.Expect(f.Hub.Client.Delete(t.Context(), kubeconfigSecret(ns, gone.Name, nil))).To(Succeed())
	g.Eventually(state(reg, gone.Name), 30*time.Second, 100*time.Millisecond).Should(Equal("<absent>"))
	g.Expect(engaged.ctx.Err()).To(HaveOccurred(), "the removed member's engagement context must be cancelled")
	_, err := reg.Get(t.Context(), multicluster.ClusterName(gone.Name))
	g.Expect(errors.Is(err, multicluster.ErrClusterNotFound)).To(BeTrue())
	g.Expect(upSeries(g, metrics)).To(ConsistOf(f.Members[0].Name, f.Members[1].Name), "the removed member's series must go")
	for _, m := range f.Members[:2] {
		g.Expect(aware.active(m.Name)).To(BeTrue())
	}
	g.Expect(changes).To(Receive(), "subscribers hear of the removal")

	// A member that comes back gets the index too.
	g.Expect(f.Hub.Client.Create(t.Context(), kubeconfigSecret(ns, gone.Name, goneData))).To(Succeed())
	g.Eventually(state(reg, gone.Name), 30*time.Second, 100*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
	expectIndexed(gone.Name)
}

// upSeries returns the cluster label of every obsyk_hub_cluster_connection_up series.
func upSeries(g *WithT, reg *prometheus.Registry) []string {
	return series(g, reg, "obsyk_hub_cluster_connection_up")
}

// series returns, for every series of the metric family name, its label values joined by
// "/" in label-name order.
func series(g *WithT, reg *prometheus.Registry, name string) []string {
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	out := []string{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var values []string
			for _, l := range m.GetLabel() {
				values = append(values, l.GetValue())
			}
			out = append(out, strings.Join(values, "/"))
		}
	}
	return out
}

var namespaces atomic.Int32

// testNamespace returns a hub namespace of its own for each test run, so that a test run
// again in the same process (-count) never meets the Secrets of an earlier run.
func testNamespace(base string) string {
	return fmt.Sprintf("%s-%d", base, namespaces.Add(1))
}
