package shard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

const (
	hubNamespace = "obsyk-system"
	members      = 9
)

func repoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// replica is one hub process, dialling the platform from its own loopback address.
type replica struct {
	name string
	ip   string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// fleet is what the test shares: control planes, simulator, the hub binary and its inputs.
type fleet struct {
	f       *testbed.Fleet
	sim     *platform.Server
	bin     string
	dir     string
	hubKC   string
	caFile  string
	uids    map[string]string // member name → cluster UID
	members map[string]*testbed.Cluster
}

func (fl *fleet) start(t *testing.T, name, ip string) *replica {
	t.Helper()
	logFile, err := os.Create(filepath.Join(fl.dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fl.bin, "run",
		"--hub-kubeconfig", fl.hubKC, "--cluster-secret-namespace", hubNamespace,
		"--sharding", "--replica-identity", name, "--platform-source-address", ip,
		"--platform-ca-file", fl.caFile, "--metrics-addr", "0", "--probe-addr", "0",
		"--log-format", "text", "--shutdown-drain-timeout", "5s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	r := &replica{name: name, ip: ip, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logFile, "TEST: process %s exited: %v\n", name, err)
		logFile.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			lines := strings.Split(string(data), "\n")
			t.Logf("last lines of %s:\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return r
}

// owners returns each member's holder from the cluster Leases ("" when free).
func (fl *fleet) owners(ctx context.Context, g Gomega) map[string]string {
	var leases coordinationv1.LeaseList
	g.Expect(fl.f.Hub.Client.List(ctx, &leases, client.InNamespace(hubNamespace),
		client.MatchingLabels{clusterregistry.ShardLeaseLabel: "cluster"})).To(Succeed())
	out := map[string]string{}
	for _, l := range leases.Items {
		out[l.Labels[clusterregistry.ShardLeaseCluster]] = ptr.Deref(l.Spec.HolderIdentity, "")
	}
	return out
}

// expectBalanced waits until every member is held by one of replicas, each holding
// ⌊9/n⌋ or ⌈9/n⌉, every agent's status names its holder, and every cluster converged.
func (fl *fleet) expectBalanced(ctx context.Context, t *testing.T, replicas []string) map[string]string {
	t.Helper()
	g := NewWithT(t)
	var owners map[string]string
	g.Eventually(func(g Gomega) {
		owners = fl.owners(ctx, g)
		count := map[string]int{}
		for name := range fl.members {
			g.Expect(replicas).To(ContainElement(owners[name]), "member %s is held by a live replica", name)
			count[owners[name]]++
		}
		for _, r := range replicas {
			g.Expect(count[r]).To(BeNumerically(">=", members/len(replicas)), "%v", count)
			g.Expect(count[r]).To(BeNumerically("<=", (members+len(replicas)-1)/len(replicas)), "%v", count)
		}
		for name := range fl.members {
			a := &obsykv1.ObsykAgent{}
			g.Expect(fl.f.Hub.Client.Get(ctx, client.ObjectKey{Namespace: hubNamespace, Name: name}, a)).To(Succeed())
			g.Expect(a.Status.ServedBy).To(Equal(owners[name]))
		}
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	for name, m := range fl.members {
		_, err := converge.WaitConverged(ctx, m.Client, fl.uids[name], fl.sim, converge.Options{ExcludeKinds: []string{"Secret"}}, 3*time.Minute)
		g.Expect(err).NotTo(HaveOccurred(), "member %s", name)
	}
	return owners
}

// expectNoOverlap checks the simulator's request log: for every cluster, the requests of
// one sender (source IP) never overlap in time with another's.
func (fl *fleet) expectNoOverlap(t *testing.T) {
	t.Helper()
	g := NewWithT(t)
	byCluster := map[string][]platform.RequestRecord{}
	for _, r := range fl.sim.Requests() {
		if r.ClusterUID != "" && r.Endpoint != platform.EndpointToken {
			byCluster[r.ClusterUID] = append(byCluster[r.ClusterUID], r)
		}
	}
	for uid, reqs := range byCluster {
		sort.Slice(reqs, func(i, j int) bool { return reqs[i].Time.Before(reqs[j].Time) })
		host := func(r platform.RequestRecord) string { h, _, _ := net.SplitHostPort(r.RemoteAddr); return h }
		runEnd := reqs[0].Time.Add(reqs[0].Duration)
		for i := 1; i < len(reqs); i++ {
			if host(reqs[i]) != host(reqs[i-1]) {
				g.Expect(reqs[i].Time.Before(runEnd)).To(BeFalse(),
					"cluster %s: %s sent at %s while %s's request ran until %s", uid, host(reqs[i]), reqs[i].Time, host(reqs[i-1]), runEnd)
				runEnd = reqs[i].Time
			}
			if end := reqs[i].Time.Add(reqs[i].Duration); end.After(runEnd) {
				runEnd = end
			}
		}
	}
}

// TestShardingAcrossReplicas runs hub replicas as processes with --sharding against one
// hub control plane and nine members.
func TestShardingAcrossReplicas(t *testing.T) {
	g := NewWithT(t)
	top := t
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := t.TempDir()

	bin := filepath.Join(dir, "obsyk-hub")
	build := exec.Command("go", "build", "-o", bin, "./cmd/obsyk-hub")
	build.Dir = repoRoot()
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))

	f := testbed.NewTestFleet(t, testbed.FleetOptions{
		Members: members,
		Hub: testbed.ClusterOptions{Scheme: controllers.Scheme(),
			CRDDirectoryPaths: []string{filepath.Join(repoRoot(), "charts", "obsyk-hub", "files", "crds")}},
	})
	sim := platform.StartForTest(t, platform.Options{RequestLogSize: 200000})
	fl := &fleet{f: f, sim: sim, bin: bin, dir: dir, uids: map[string]string{}, members: map[string]*testbed.Cluster{}}
	kc, err := f.Hub.AdminKubeconfig()
	g.Expect(err).NotTo(HaveOccurred())
	fl.hubKC = filepath.Join(dir, "hub.kubeconfig")
	g.Expect(os.WriteFile(fl.hubKC, kc, 0o600)).To(Succeed())
	fl.caFile = filepath.Join(dir, "platform-ca.pem")
	g.Expect(os.WriteFile(fl.caFile, sim.CACertPEM(), 0o600)).To(Succeed())

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalECPrivateKey(key)
	g.Expect(err).NotTo(HaveOccurred())
	sim.RegisterClient("sharded", &key.PublicKey)
	hc := f.Hub.Client
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, m := range f.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := NewWithT(t)
			_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
				Name: m.Name, Member: m.Config, Hub: hc, Namespace: hubNamespace, LegacyTokenWait: -1,
			})
			g.Expect(err).NotTo(HaveOccurred())
			uid, err := converge.ClusterUID(ctx, m.Client)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = workload.Seed(ctx, m.Client, 1, workload.Options{})
			g.Expect(err).NotTo(HaveOccurred())
			mu.Lock()
			fl.uids[m.Name], fl.members[m.Name] = uid, m
			mu.Unlock()
		}()
	}
	wg.Wait()
	g.Expect(hc.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: "obsyk-credentials"},
		Data: map[string][]byte{"client_id": []byte("sharded"),
			"private_key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})},
	})).To(Succeed())
	for name := range fl.members {
		g.Expect(hc.Create(ctx, &obsykv1.ObsykAgent{
			ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: name},
			Spec: obsykv1.ObsykAgentSpec{
				PlatformURL: sim.URL(), ClusterName: name, SyncInterval: "10s",
				CredentialsSecretRef: obsykv1.SecretReference{Name: "obsyk-credentials"},
				ClusterRef:           &obsykv1.ClusterReference{Name: name},
			},
		})).To(Succeed())
	}

	replicas := map[string]*replica{}
	for i, name := range []string{"hub-a", "hub-b", "hub-c"} {
		replicas[name] = fl.start(t, name, fmt.Sprintf("127.0.0.%d", i+2))
	}

	var owners map[string]string
	t.Run("three replicas: each member owned by exactly one, 3 ± 1 each, every cluster converges", func(t *testing.T) {
		owners = fl.expectBalanced(ctx, t, []string{"hub-a", "hub-b", "hub-c"})
		t.Logf("owners: %v", owners)
	})

	t.Run("a fourth replica: only the clusters that must move, move", func(t *testing.T) {
		g := NewWithT(t)
		replicas["hub-d"] = fl.start(top, "hub-d", "127.0.0.5") // lives past this subtest
		after := fl.expectBalanced(ctx, t, []string{"hub-a", "hub-b", "hub-c", "hub-d"})
		moved := 0
		for name, o := range owners {
			if after[name] != o {
				moved++
				g.Expect(after[name]).To(Equal("hub-d"), "a cluster moved between old replicas: %s %s → %s", name, o, after[name])
			}
		}
		g.Expect(moved).To(Equal(2), "9 clusters over 4 replicas: the newcomer takes 2, nothing else moves")
		owners = after
		t.Logf("owners: %v", owners)
	})

	t.Run("SIGKILL a replica: its clusters are taken over within the bound, never sent twice at once", func(t *testing.T) {
		g := NewWithT(t)
		victim := owners[sortedKeys(owners)[0]]
		var orphans []string
		for name, o := range owners {
			if o == victim {
				orphans = append(orphans, name)
			}
		}
		killed := time.Now()
		g.Expect(replicas[victim].cmd.Process.Kill()).To(Succeed())
		g.Eventually(replicas[victim].done).WithTimeout(time.Minute).Should(BeClosed())
		live := []string{}
		for name := range replicas {
			if name != victim {
				live = append(live, name)
			}
		}
		// Taken over: another replica's snapshot of every orphan accepted.
		takeover := map[string]time.Duration{}
		g.Eventually(func() bool {
			for _, name := range orphans {
				if _, ok := takeover[name]; ok {
					continue
				}
				if last := fl.sim.Cluster(fl.uids[name]).LastSnapshot; last.After(killed) {
					takeover[name] = last.Sub(killed)
				}
			}
			return len(takeover) == len(orphans)
		}).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(BeTrue())
		var worst time.Duration
		for _, d := range takeover {
			worst = max(worst, d)
		}
		t.Logf("takeover after SIGKILL of %s (clusters %v): %v, worst %s", victim, orphans, takeover, worst)
		g.Expect(worst).To(BeNumerically("<=", 45*time.Second), "target 30s with default settings (lease 20s); slack for a loaded machine")
		_, err := workload.Create(ctx, fl.members[orphans[0]].Client, "ConfigMap", "default", 3, workload.Options{Prefix: "after-kill"})
		g.Expect(err).NotTo(HaveOccurred())
		fl.expectBalanced(ctx, t, live)
		fl.expectNoOverlap(t)
	})
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
