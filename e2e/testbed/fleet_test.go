package testbed_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

const (
	// Member roles in TestFleet's shared fleet.
	proxiedMember   = 0
	restartedMember = 1
	noCacheMember   = 2
)

func TestBinaryDir(t *testing.T) {
	// go test runs in the package directory, two levels below the repository root.
	repoBins, err := filepath.Abs(filepath.Join("..", "..", "bin", "k8s", "v1.37.2"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		assets  func(t *testing.T) string
		wantDir func(assets string) string
		wantErr string
	}{
		{
			name:    "without KUBEBUILDER_ASSETS the repository's bin/k8s/v1.37.2 is used",
			assets:  func(*testing.T) string { return "" },
			wantDir: func(string) string { return repoBins },
		},
		{
			name: "KUBEBUILDER_ASSETS wins when it holds both binaries",
			assets: func(t *testing.T) string {
				dir := t.TempDir()
				for _, name := range []string{"kube-apiserver", "etcd"} {
					if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				return dir
			},
			wantDir: func(assets string) string { return assets },
		},
		{
			name:    "a directory without the binaries is an error that says how to build them",
			assets:  func(t *testing.T) string { return t.TempDir() },
			wantErr: "make testbins",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			assets := tc.assets(t)
			t.Setenv("KUBEBUILDER_ASSETS", assets)
			dir, err := testbed.BinaryDir()
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(dir).To(Equal(tc.wantDir(assets)))
		})
	}
}

// TestFleet starts one fleet (hub + 3 members) and runs every scenario that needs running
// clusters on it; each scenario uses its own member so that the scenarios do not interact.
func TestFleet(t *testing.T) {
	start := time.Now()
	f := testbed.NewTestFleet(t, testbed.FleetOptions{
		Members: 3,
		MemberOptions: func(i int) testbed.ClusterOptions {
			return testbed.ClusterOptions{WatchCacheDisabled: i == noCacheMember}
		},
	})
	t.Logf("fleet of hub + %d members started in %s", len(f.Members), time.Since(start).Round(time.Millisecond))

	t.Run("every cluster's processes are running and measurable", func(t *testing.T) {
		g := NewWithT(t)
		var total uint64
		for _, c := range f.Clusters() {
			m, err := c.ResidentMemory()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(m.APIServer).To(BeNumerically(">", 0), "kube-apiserver of %s", c.Name)
			g.Expect(m.Etcd).To(BeNumerically(">", 0), "etcd of %s", c.Name)
			t.Logf("%s: kube-apiserver %d MiB, etcd %d MiB", c.Name, m.APIServer>>20, m.Etcd>>20)
			total += m.Total()
		}
		t.Logf("fleet resident memory: %d MiB", total>>20)
	})

	t.Run("each cluster holds only its own objects", func(t *testing.T) {
		g := NewWithT(t)
		ctx := testContext(t)
		for _, c := range f.Clusters() {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "only-in-" + c.Name, Namespace: "default"}}
			g.Expect(c.Client.Create(ctx, cm)).To(Succeed())
		}
		for _, c := range f.Clusters() {
			for _, other := range f.Clusters() {
				err := c.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "only-in-" + other.Name}, &corev1.ConfigMap{})
				if other == c {
					g.Expect(err).NotTo(HaveOccurred(), "%s must hold its own object", c.Name)
				} else {
					g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s must not hold %s's object: %v", c.Name, other.Name, err)
				}
			}
		}
		g.Expect(distinct(f.Clusters(), func(c *testbed.Cluster) string { return c.APIServerAddr() })).To(BeTrue())
		g.Expect(distinct(f.Clusters(), func(c *testbed.Cluster) string { return c.EtcdEndpoint() })).To(BeTrue())
	})

	t.Run("a cut proxy fails requests until it is healed", func(t *testing.T) {
		g := NewWithT(t)
		m := f.Members[proxiedMember]
		p := testbed.NewTestProxy(t, m.APIServerAddr())
		kube := clientThrough(t, m, p, 5*time.Second)
		g.Expect(listNamespaces(t, kube)).To(Succeed())

		p.Cut()
		err := listNamespacesOnce(t, kube)
		g.Expect(err).To(HaveOccurred())
		g.Expect(utilnet.IsConnectionReset(err)).To(BeTrue(), "expected a connection reset, got %v", err)

		p.Heal()
		g.Eventually(func() error { return listNamespaces(t, kube) }).
			WithTimeout(15 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	})

	t.Run("a black-holed proxy makes requests time out until it is healed", func(t *testing.T) {
		g := NewWithT(t)
		m := f.Members[proxiedMember]
		p := testbed.NewTestProxy(t, m.APIServerAddr())
		kube := clientThrough(t, m, p, time.Second)
		g.Expect(listNamespaces(t, kube)).To(Succeed())

		p.BlackHole()
		began := time.Now()
		err := listNamespaces(t, kube)
		g.Expect(err).To(HaveOccurred())
		g.Expect(isTimeoutError(err)).To(BeTrue(), "expected a timeout, got %v", err)
		g.Expect(time.Since(began)).To(BeNumerically(">=", time.Second), "the request must have waited for its timeout")

		p.Heal()
		g.Eventually(func() error { return listNamespaces(t, kube) }).
			WithTimeout(15 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	})

	t.Run("a restarted kube-apiserver keeps its port, objects and issued credentials", func(t *testing.T) {
		g := NewWithT(t)
		ctx := testContext(t)
		m := f.Members[restartedMember]
		addr := m.APIServerAddr()
		_, err := m.Kube.CoreV1().ConfigMaps("default").Create(ctx,
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survives-restart"}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())

		_, err = clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
			Name: m.Name, Member: m.Config, Hub: f.Hub.Client, LegacyTokenWait: -1,
		})
		g.Expect(err).NotTo(HaveOccurred())
		reader := readerClient(t, f.Hub, m.Name)
		_, err = reader.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		g.Expect(err).NotTo(HaveOccurred())

		g.Expect(m.StopAPIServer()).To(Succeed())
		_, err = m.Kube.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		g.Expect(err).To(HaveOccurred(), "kube-apiserver must be down")
		g.Expect(m.StopAPIServer()).NotTo(Succeed(), "stopping a stopped kube-apiserver is an error")

		g.Expect(m.StartAPIServer(ctx)).To(Succeed())
		g.Expect(m.APIServerAddr()).To(Equal(addr))
		_, err = m.Kube.CoreV1().ConfigMaps("default").Get(ctx, "survives-restart", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred(), "the admin config and the object must survive")
		// The client built before the restart, and one built afresh from the same Secret.
		for _, kube := range []kubernetes.Interface{reader, readerClient(t, f.Hub, m.Name)} {
			list, err := kube.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred(), "the token issued before the restart must still work")
			g.Expect(names(list.Items)).To(ContainElement("survives-restart"))
		}
	})

	t.Run("a watch from a compacted resource version fails with 410 Gone without the watch cache", func(t *testing.T) {
		g := NewWithT(t)
		ctx := testContext(t)
		m := f.Members[noCacheMember]
		cms := m.Kube.CoreV1().ConfigMaps("default")
		first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "compacted-away"}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cms.Delete(ctx, first.Name, metav1.DeleteOptions{})).To(Succeed())
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-compaction"}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())

		// Control: before compaction, the same watch replays the deletion.
		before, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
		g.Expect(err).NotTo(HaveOccurred())
		var ev watch.Event
		g.Eventually(before.ResultChan()).WithTimeout(10 * time.Second).Should(Receive(&ev))
		g.Expect(ev.Type).To(Equal(watch.Deleted))
		before.Stop()

		g.Expect(m.Compact(ctx)).To(Succeed())
		after, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
		g.Expect(err).NotTo(HaveOccurred())
		defer after.Stop()
		g.Eventually(after.ResultChan()).WithTimeout(10 * time.Second).Should(Receive(&ev))
		g.Expect(ev.Type).To(Equal(watch.Error))
		status := apierrors.FromObject(ev.Object)
		g.Expect(apierrors.IsResourceExpired(status)).To(BeTrue(), "expected 410 Expired, got %v", status)
		var statusErr *apierrors.StatusError
		g.Expect(errors.As(status, &statusErr)).To(BeTrue())
		g.Expect(statusErr.ErrStatus.Code).To(BeEquivalentTo(410))
		g.Expect(statusErr.ErrStatus.Reason).To(Equal(metav1.StatusReasonExpired))
		g.Expect(statusErr.ErrStatus.Message).To(ContainSubstring("too old"))
	})

	t.Run("a stopped cluster leaves no process behind and stops only once", func(t *testing.T) {
		g := NewWithT(t)
		m := f.Members[proxiedMember]
		g.Expect(m.Stop()).To(Succeed())
		mem, err := m.ResidentMemory()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(mem.Total()).To(BeZero(), "no process of a stopped cluster may remain")
		g.Expect(m.Stop()).To(Succeed(), "a second Stop is a no-op")
		g.Expect(m.StopAPIServer()).To(MatchError(ContainSubstring("stopped")))
		g.Expect(m.Compact(testContext(t))).To(MatchError(ContainSubstring("stopped")))
	})
}

func TestFleetThatFailsToStartLeavesNothingBehind(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f, err := testbed.StartFleet(ctx, testbed.FleetOptions{
		Members: 1,
		Hub:     testbed.ClusterOptions{Dir: dir},
		MemberOptions: func(int) testbed.ClusterOptions {
			return testbed.ClusterOptions{Dir: dir, APIServerFlags: map[string][]string{"no-such-flag": {"x"}}}
		},
	})
	t.Logf("start error, as expected: %v", err)
	g.Expect(f).To(BeNil())
	g.Expect(err).To(MatchError(ContainSubstring("member-0")))
	g.Expect(err).To(MatchError(ContainSubstring("no-such-flag")), "the error must quote kube-apiserver's log")
	entries, err := os.ReadDir(dir)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(entries).To(BeEmpty(), "every cluster directory must be removed")
	g.Expect(processesUnder(t, dir)).To(BeEmpty(), "every process must be stopped")
}

// processesUnder lists the pids whose command line mentions dir.
func processesUnder(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func clientThrough(t *testing.T, c *testbed.Cluster, p *testbed.Proxy, timeout time.Duration) kubernetes.Interface {
	t.Helper()
	cfg := c.ConfigThrough(p)
	cfg.Timeout = timeout
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("build client through proxy: %v", err)
	}
	return kube
}

// listNamespaces makes one request, bounded by the client's own timeout.
func listNamespaces(t *testing.T, kube kubernetes.Interface) error {
	_, err := kube.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	return err
}

// listNamespacesOnce makes one request without client-go's retries (it retries a GET whose
// connection was reset).
func listNamespacesOnce(t *testing.T, kube kubernetes.Interface) error {
	return kube.CoreV1().RESTClient().Get().Resource("namespaces").MaxRetries(0).Do(t.Context()).Error()
}

func isTimeoutError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var timeout interface{ Timeout() bool }
	return errors.As(err, &timeout) && timeout.Timeout()
}

// readerClient builds a clientset from the kubeconfig Secret Register wrote in the hub.
func readerClient(t *testing.T, hub *testbed.Cluster, name string) kubernetes.Interface {
	t.Helper()
	var secret corev1.Secret
	key := client.ObjectKey{Namespace: clusterregistry.DefaultRegistrationNamespace, Name: name}
	if err := hub.Client.Get(testContext(t), key, &secret); err != nil {
		t.Fatalf("get kubeconfig secret: %v", err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data[clusterregistry.KubeconfigSecretKey])
	if err != nil {
		t.Fatalf("parse kubeconfig: %v", err)
	}
	cfg.Timeout = 30 * time.Second
	kube, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		t.Fatalf("build reader client: %v", err)
	}
	return kube
}

func names(cms []corev1.ConfigMap) []string {
	out := make([]string, 0, len(cms))
	for _, cm := range cms {
		out = append(out, cm.Name)
	}
	return out
}

func distinct(clusters []*testbed.Cluster, key func(*testbed.Cluster) string) bool {
	seen := map[string]bool{}
	for _, c := range clusters {
		if seen[key(c)] {
			return false
		}
		seen[key(c)] = true
	}
	return true
}
