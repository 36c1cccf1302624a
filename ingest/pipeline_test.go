package ingest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
	"github.com/obsyk/obsyk-hub/transport"
)

// The member clusters shared by the tests of this binary, which run one after another
// (none is parallel: the convergence checks compare whole clusters). member has the
// watch cache on; coldMember has it off, so that compaction surfaces as 410 Gone.
var member, coldMember *testbed.Cluster

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f, err := testbed.StartFleet(ctx, testbed.FleetOptions{
		Members: 1,
		Hub:     testbed.ClusterOptions{Name: "cold", WatchCacheDisabled: true},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start test fleet: %v\n", err)
		return 1
	}
	defer func() {
		if err := f.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop test fleet: %v\n", err)
		}
	}()
	member, coldMember = f.Members[0], f.Hub
	ctrllog.SetLogger(logr.Discard())
	return m.Run()
}

// hub is one Manager with one agent bound to one member, sending to a fresh simulator.
type hub struct {
	m      *Manager
	sim    *platform.Server
	client *transport.Client
	uid    string
	member *testbed.Cluster
	ctx    context.Context
}

const (
	clusterName = "member"
	agentKey    = "team/agent"
)

// startHub starts a simulator, a Manager engaged with member (through cfg) and one bound
// agent. Everything stops when the test ends.
func startHub(t *testing.T, m *testbed.Cluster, cfg *rest.Config, mopts Options, aopts AgentOptions, faults ...platform.Fault) *hub {
	t.Helper()
	g := NewWithT(t)
	sim := platform.StartForTest(t, platform.Options{})
	for _, f := range faults {
		_, err := sim.Faults().Inject(f)
		g.Expect(err).NotTo(HaveOccurred())
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalECPrivateKey(key)
	g.Expect(err).NotTo(HaveOccurred())
	sim.RegisterClient("client-"+t.Name(), &key.PublicKey)
	client, err := transport.NewClient(transport.Options{
		PlatformURL:   sim.URL(),
		ClientID:      "client-" + t.Name(),
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		CABundle:      sim.CACertPEM(),
		AgentVersion:  "v0.0.0-test",
		BackoffBase:   20 * time.Millisecond,
		BackoffMax:    200 * time.Millisecond,
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(client.Close)

	if mopts.Logger.GetSink() == nil {
		mopts.Logger = testr.NewWithOptions(t, testr.Options{Verbosity: 0})
	}
	if mopts.AvailabilityCheckInterval == 0 {
		mopts.AvailabilityCheckInterval = 200 * time.Millisecond
	}
	mgr := NewManager(mopts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		g.Expect(<-done).To(Succeed())
	})

	cl, err := cluster.New(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(mgr.Engage(ctx, clusterName, cl)).To(Succeed())
	aopts.Sender = client
	if aopts.RetryMax == 0 {
		aopts.RetryMax = time.Second
	}
	g.Expect(mgr.Bind(agentKey, clusterName, aopts)).To(Succeed())

	uid, err := converge.ClusterUID(ctx, m.Client)
	g.Expect(err).NotTo(HaveOccurred())
	return &hub{m: mgr, sim: sim, client: client, uid: uid, member: m, ctx: ctx}
}

// waitSnapshot waits for the first accepted snapshot.
func (h *hub) waitSnapshot(t *testing.T) {
	t.Helper()
	NewWithT(t).Eventually(func() int { return h.sim.Cluster(h.uid).Snapshots }).
		WithTimeout(90 * time.Second).WithPolling(100 * time.Millisecond).Should(BeNumerically(">=", 1))
}

// converged waits until the platform's state equals the member's.
func (h *hub) converged(t *testing.T, opts converge.Options, timeout time.Duration) {
	t.Helper()
	rep, err := converge.WaitConverged(h.ctx, h.member.Client, h.uid, h.sim, opts, timeout)
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), "%s", rep)
	NewWithT(t).Expect(h.sim.Cluster(h.uid).EventsBeforeSnapshot).To(BeZero())
}

var noSecrets = converge.Options{ExcludeKinds: []string{"Secret"}}

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	refs, err := workload.Create(context.Background(), member.Client, "Namespace", "", 1, workload.Options{Prefix: prefix})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return refs[0].Name
}

// eventTypes returns, per object UID, the event types the simulator accepted.
func eventTypes(sim *platform.Server) map[string][]string {
	out := map[string][]string{}
	for _, r := range sim.Requests() {
		if r.Endpoint == platform.EndpointEvents && r.Accepted {
			out[r.EventUID] = append(out[r.EventUID], r.EventType)
		}
	}
	return out
}

func TestEveryKindIsCreatedUpdatedAndDeletedOnThePlatform(t *testing.T) {
	g := NewWithT(t)
	h := startHub(t, member, member.Config,
		Options{Kinds: transport.Kinds[:]},
		AgentOptions{Kinds: transport.Kinds[:]})
	h.waitSnapshot(t)
	h.converged(t, converge.Options{}, time.Minute)

	ctx := context.Background()
	ns := newNamespace(t, "kinds")
	var refs []workload.Ref
	for _, k := range transport.Kinds {
		r, err := workload.Create(ctx, member.Client, string(k), ns, 1, workload.Options{})
		g.Expect(err).NotTo(HaveOccurred(), "create %s", k)
		refs = append(refs, r...)
	}
	h.converged(t, converge.Options{}, time.Minute)
	g.Expect(workload.Mutate(ctx, member.Client, refs, workload.Options{})).To(Succeed())
	h.converged(t, converge.Options{}, time.Minute)
	g.Expect(workload.Delete(ctx, member.Client, refs, workload.Options{})).To(Succeed())
	h.converged(t, converge.Options{}, time.Minute)

	seen := eventTypes(h.sim)
	for _, r := range refs {
		if r.Kind == "Namespace" {
			continue // without a controller-manager a namespace stays Terminating
		}
		g.Expect(seen[r.UID]).To(ContainElements("added", "modified", "deleted"), "%s", r)
		g.Expect(seen[r.UID][0]).To(Equal("added"), "%s", r)
		g.Expect(seen[r.UID][len(seen[r.UID])-1]).To(Equal("deleted"), "%s", r)
	}
	st, ok := h.m.AgentStats(agentKey)
	g.Expect(ok).To(BeTrue())
	g.Expect(st.Snapshots).To(HaveKeyWithValue(SnapshotInitial, 1))
	g.Expect(st.Outbox.Dropped).To(BeZero())
}

func TestTheFirstSnapshotHoldsEveryPreExistingObject(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	seeded, err := workload.Seed(ctx, member.Client, 150, workload.Options{Parallelism: 32}) // 3,000 objects
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(seeded.Refs)).To(BeNumerically(">=", 3000))

	h := startHub(t, member, member.Config, Options{}, AgentOptions{})
	h.waitSnapshot(t)
	// Converged at once: the snapshot alone carries the state.
	rep, err := converge.Check(ctx, member.Client, h.uid, h.sim, noSecrets)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rep.Empty()).To(BeTrue(), "%s", rep)
	state := h.sim.Cluster(h.uid)
	g.Expect(state.EventsBeforeSnapshot).To(BeZero())
	g.Expect(state.Snapshots).To(Equal(1))
	st, _ := h.m.AgentStats(agentKey)
	seededSent := len(seeded.Refs) - len(workload.ByKind(seeded.Refs, "Secret"))
	g.Expect(st.LastSnapshotObjects).To(BeNumerically(">=", seededSent))
	cs, ok := h.m.ClusterStats(clusterName)
	g.Expect(ok).To(BeTrue())
	g.Expect(cs.Synced).To(BeTrue())
	g.Expect(cs.ClusterUID).To(Equal(h.uid))
	g.Expect(cs.Unavailable).To(BeEmpty())
	g.Expect(cs.Objects[transport.KindConfigMap]).To(BeNumerically(">=", 150))
	// The counts kept by the handlers are the stores' sizes.
	p := h.m.pipelineOf(clusterName)
	g.Expect(p).NotTo(BeNil())
	for k, inf := range p.informers {
		g.Eventually(func() int {
			cs, _ := h.m.ClusterStats(clusterName)
			return cs.Objects[k]
		}).Should(Equal(len(inf.GetStore().ListKeys())), "%s", k)
	}
	counts, ok := h.m.AgentObjects(agentKey)
	g.Expect(ok).To(BeTrue())
	g.Expect(counts[transport.KindConfigMap]).To(Equal(cs.Objects[transport.KindConfigMap]))
}

func TestABurstDuringAPlatformOutageConverges(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	h := startHub(t, member, member.Config, Options{}, AgentOptions{Workers: 8})
	h.waitSnapshot(t)
	ns := newNamespace(t, "burst")

	_, err := h.sim.Faults().Inject(platform.Fault{Mode: platform.FaultStatus, Status: 503, Until: time.Now().Add(20 * time.Second)})
	g.Expect(err).NotTo(HaveOccurred())
	refs, err := workload.Create(ctx, member.Client, "ConfigMap", ns, 5000, workload.Options{Parallelism: 64})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(workload.Delete(ctx, member.Client, refs[:2000], workload.Options{Parallelism: 64})).To(Succeed())
	mutated := time.Now()

	h.converged(t, noSecrets, 2*time.Minute)
	t.Logf("converged %s after the last change (the outage ended %s after it)",
		time.Since(mutated).Round(time.Millisecond), time.Until(mutated.Add(20*time.Second)).Round(time.Millisecond))
	st, _ := h.m.AgentStats(agentKey)
	t.Logf("agent stats: sent %d, skipped %d, outbox %+v", st.Sent, st.Skipped, st.Outbox)
	g.Expect(st.Outbox.Dropped).To(BeZero())
	g.Expect(workload.Delete(ctx, member.Client, refs[2000:], workload.Options{Parallelism: 64})).To(Succeed())
}

func TestAnObjectDeletedWhileTheSnapshotIsInFlightLeavesNoGhost(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "race-snap")
	refs, err := workload.Create(ctx, member.Client, "ConfigMap", ns, 5, workload.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	h := startHub(t, member, member.Config, Options{}, AgentOptions{}, platform.Fault{Mode: platform.FaultLatency, Latency: 3 * time.Second, Count: 1,
		Endpoints: []platform.Endpoint{platform.EndpointSnapshot}})
	g.Eventually(func() bool {
		st, _ := h.m.AgentStats(agentKey)
		return st.SnapshotInFlight
	}).WithTimeout(time.Minute).WithPolling(20 * time.Millisecond).Should(BeTrue())
	g.Expect(workload.Delete(ctx, member.Client, refs, workload.Options{})).To(Succeed())
	h.waitSnapshot(t)
	h.converged(t, noSecrets, time.Minute)
	for _, r := range refs {
		_, ok := h.sim.Cluster(h.uid).Get("ConfigMap", r.UID)
		g.Expect(ok).To(BeFalse(), "ghost %s", r)
	}
}

func TestAnObjectDeletedWhileItsAddedIsInFlightLeavesNoGhost(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	h := startHub(t, member, member.Config, Options{}, AgentOptions{})
	h.waitSnapshot(t)
	h.converged(t, noSecrets, time.Minute)
	ns := newNamespace(t, "race-add")
	h.converged(t, noSecrets, time.Minute)

	_, err := h.sim.Faults().Inject(platform.Fault{Mode: platform.FaultLatency, Latency: 3 * time.Second, Count: 1,
		Endpoints: []platform.Endpoint{platform.EndpointEvents}})
	g.Expect(err).NotTo(HaveOccurred())
	refs, err := workload.Create(ctx, member.Client, "ConfigMap", ns, 1, workload.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() int {
		st, _ := h.m.AgentStats(agentKey)
		return st.Outbox.InFlight
	}).WithTimeout(30 * time.Second).WithPolling(10 * time.Millisecond).Should(Equal(1))
	g.Expect(workload.Delete(ctx, member.Client, refs, workload.Options{})).To(Succeed())
	g.Eventually(func() []string { return eventTypes(h.sim)[refs[0].UID] }).
		WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal([]string{"added", "deleted"}))
	h.converged(t, noSecrets, time.Minute)
	_, ok := h.sim.Cluster(h.uid).Get("ConfigMap", refs[0].UID)
	g.Expect(ok).To(BeFalse())
}

func TestDeletesMissedDuringACutWatchAndCompactionArriveAfterTheRelist(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	proxy := testbed.NewTestProxy(t, coldMember.APIServerAddr())
	h := startHub(t, coldMember, coldMember.ConfigThrough(proxy), Options{}, AgentOptions{})
	h.waitSnapshot(t)
	refs, err := workload.Create(ctx, coldMember.Client, "ConfigMap", "default", 20, workload.Options{Prefix: "relist"})
	g.Expect(err).NotTo(HaveOccurred())
	h.converged(t, noSecrets, time.Minute)

	proxy.Cut()
	g.Expect(workload.Delete(ctx, coldMember.Client, refs[:10], workload.Options{})).To(Succeed())
	added, err := workload.Create(ctx, coldMember.Client, "ConfigMap", "default", 5, workload.Options{Prefix: "relist-new"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(coldMember.Compact(ctx)).To(Succeed())
	proxy.Heal()

	h.converged(t, noSecrets, 90*time.Second)
	seen := eventTypes(h.sim)
	for _, r := range refs[:10] {
		g.Expect(seen[r.UID]).To(ContainElement("deleted"), "%s", r)
	}
	for _, r := range added {
		g.Expect(seen[r.UID]).To(ContainElement("added"), "%s", r)
	}
	cs, _ := h.m.ClusterStats(clusterName)
	t.Logf("watch errors %d, expired %d, tombstones %d", cs.WatchErrors, cs.Expired, cs.Tombstones)
	g.Expect(cs.Tombstones).To(BeNumerically(">=", 10))
	g.Expect(cs.Expired).To(BeNumerically(">=", 1), "the watch resumed from a compacted revision must meet a 410")
}

func TestStatusChurnTheContractDoesNotCarrySendsNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "churn")
	h := startHub(t, member, member.Config, Options{}, AgentOptions{})
	h.waitSnapshot(t)
	refs, err := workload.Create(ctx, member.Client, "Pod", ns, 1, workload.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	h.converged(t, noSecrets, time.Minute)
	before := h.sim.Cluster(h.uid).Events
	cs, _ := h.m.ClusterStats(clusterName)
	suppressed := cs.Suppressed

	key := client.ObjectKey{Namespace: ns, Name: refs[0].Name}
	for i := range 5 {
		var pod corev1.Pod
		g.Expect(member.Client.Get(ctx, key, &pod)).To(Succeed())
		g.Expect(pod.Status.Conditions).NotTo(BeEmpty())
		for j := range pod.Status.Conditions {
			c := &pod.Status.Conditions[j]
			c.LastProbeTime = metav1.NewTime(time.Now().Add(time.Duration(i) * time.Minute))
			c.Reason = fmt.Sprintf("Probe%d", i)
			c.Message = fmt.Sprintf("probe number %d", i)
		}
		g.Expect(member.Client.Status().Update(ctx, &pod)).To(Succeed())
	}
	// Node heartbeats: the conditions' times move, the record does not.
	for i := range 3 {
		var node corev1.Node
		g.Expect(member.Client.Get(ctx, client.ObjectKey{Name: workload.DefaultNodeName}, &node)).To(Succeed())
		g.Expect(node.Status.Conditions).NotTo(BeEmpty())
		for j := range node.Status.Conditions {
			node.Status.Conditions[j].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Duration(i+1) * time.Minute))
		}
		g.Expect(member.Client.Status().Update(ctx, &node)).To(Succeed())
	}
	g.Eventually(func() uint64 {
		cs, _ := h.m.ClusterStats(clusterName)
		return cs.Suppressed
	}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(BeNumerically(">=", suppressed+8))

	// A change the contract carries goes out, and nothing else did.
	g.Expect(workload.Mutate(ctx, member.Client, refs, workload.Options{})).To(Succeed())
	h.converged(t, noSecrets, time.Minute)
	g.Eventually(func() int { return h.sim.Cluster(h.uid).Events }).
		WithTimeout(10 * time.Second).Should(BeNumerically(">", before))
	g.Expect(h.sim.Cluster(h.uid).Events - before).To(BeNumerically("<=", 2)) // the spec update and its status update
}

func TestAForbiddenKindIsReportedAndTheRestConverges(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const name = "obsyk-limited"
	_, err := member.Kube.CoreV1().ServiceAccounts("default").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	rule := func(resources ...string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: resources, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{"kube-system"}, Verbs: []string{"get"}},
		}
	}
	noPods := []string{"namespaces", "services", "nodes", "configmaps", "persistentvolumeclaims", "serviceaccounts", "events"}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rule(noPods...)}
	role, err = member.Kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = member.Kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "default", Name: name}},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	tok, err := member.Kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}},
		metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	cfg := rest.AnonymousClientConfig(member.Config)
	cfg.BearerToken = tok.Status.Token

	h := startHub(t, member, cfg, Options{}, AgentOptions{})
	h.waitSnapshot(t)
	cs, ok := h.m.ClusterStats(clusterName)
	g.Expect(ok).To(BeTrue())
	g.Expect(cs.Unavailable).To(Equal(map[transport.Kind]string{transport.KindPod: "forbidden"}))
	h.converged(t, converge.Options{ExcludeKinds: []string{"Secret", "Pod"}}, time.Minute)
	g.Expect(h.sim.Cluster(h.uid).Objects["Pod"]).To(BeEmpty())

	// Granted later: the kind is picked up and sent with a new snapshot.
	role.Rules = rule(append(noPods, "pods")...)
	_, err = member.Kube.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() map[transport.Kind]string {
		cs, _ := h.m.ClusterStats(clusterName)
		return cs.Unavailable
	}).WithTimeout(90 * time.Second).WithPolling(100 * time.Millisecond).Should(BeEmpty())
	h.converged(t, noSecrets, time.Minute)
	st, _ := h.m.AgentStats(agentKey)
	g.Expect(st.Snapshots).To(HaveKeyWithValue(SnapshotKinds, 1))
}

func TestANamespaceExcludedAfterTheFactDisappearsFromThePlatform(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	keep, drop := newNamespace(t, "filt-keep"), newNamespace(t, "filt-drop")
	for _, ns := range []string{keep, drop} {
		_, err := workload.Create(ctx, member.Client, "ConfigMap", ns, 3, workload.Options{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	h := startHub(t, member, member.Config, Options{}, AgentOptions{})
	h.waitSnapshot(t)
	h.converged(t, noSecrets, time.Minute)
	dropped := func() int {
		n := 0
		for _, byUID := range h.sim.Cluster(h.uid).Objects {
			for _, o := range byUID {
				if o.Namespace == drop || (o.Kind == "Namespace" && o.Name == drop) {
					n++
				}
			}
		}
		return n
	}
	g.Expect(dropped()).To(BeNumerically(">=", 4))

	g.Expect(h.m.Bind(agentKey, clusterName, AgentOptions{Sender: h.client, ExcludeNamespaces: []string{drop}})).To(Succeed())
	g.Eventually(dropped).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(BeZero())
	filtered := converge.Options{ExcludeKinds: []string{"Secret"}, IgnoreNamespaces: []string{drop}}
	h.converged(t, filtered, time.Minute)

	// Later changes in the excluded namespace stay out; the others still flow.
	for _, ns := range []string{keep, drop} {
		_, err := workload.Create(ctx, member.Client, "ConfigMap", ns, 2, workload.Options{Prefix: "later"})
		g.Expect(err).NotTo(HaveOccurred())
	}
	h.converged(t, filtered, time.Minute)
	g.Expect(dropped()).To(BeZero())
}

func TestAReEngagementSnapshotsAgainAndTwoAgentsShareTheCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	h := startHub(t, member, member.Config, Options{}, AgentOptions{})
	h.waitSnapshot(t)

	// A second agent of the same cluster, to a second platform.
	sim2 := platform.StartForTest(t, platform.Options{})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalECPrivateKey(key)
	g.Expect(err).NotTo(HaveOccurred())
	sim2.RegisterClient("second", &key.PublicKey)
	client2, err := transport.NewClient(transport.Options{PlatformURL: sim2.URL(), ClientID: "second",
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), CABundle: sim2.CACertPEM()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(client2.Close)
	g.Expect(h.m.Bind("other/agent", clusterName, AgentOptions{Sender: client2})).To(Succeed())
	h2 := &hub{m: h.m, sim: sim2, client: client2, uid: h.uid, member: member, ctx: h.ctx}
	h2.waitSnapshot(t)

	ns := newNamespace(t, "reengage")
	refs, err := workload.Create(ctx, member.Client, "ConfigMap", ns, 10, workload.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	h.converged(t, noSecrets, time.Minute)
	h2.converged(t, noSecrets, time.Minute)

	// The registry engages again after a reconnect, with a new Cluster.
	cl, err := cluster.New(member.Config)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.m.Engage(h.ctx, clusterName, cl)).To(Succeed())
	g.Expect(workload.Delete(ctx, member.Client, refs[:5], workload.Options{})).To(Succeed())
	for _, key := range []string{agentKey, "other/agent"} {
		g.Eventually(func() map[string]int {
			st, _ := h.m.AgentStats(key)
			return st.Snapshots
		}).WithTimeout(time.Minute).WithPolling(50*time.Millisecond).Should(HaveKeyWithValue(SnapshotEngaged, 1), key)
	}
	h.converged(t, noSecrets, time.Minute)
	h2.converged(t, noSecrets, time.Minute)
	cs, _ := h.m.ClusterStats(clusterName)
	g.Expect(cs.Engagements).To(BeNumerically(">=", 2))
	g.Expect(sim2.Cluster(h.uid).EventsBeforeSnapshot).To(BeZero())
}

func TestAnOverflowedOutboxIsRepairedByASnapshot(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "overflow")
	h := startHub(t, member, member.Config, Options{}, AgentOptions{OutboxMaxBytes: 8 << 10, MinSnapshotInterval: time.Second})
	h.waitSnapshot(t)
	h.converged(t, noSecrets, time.Minute)
	// Hold the events back so that the outbox fills up.
	_, err := h.sim.Faults().Inject(platform.Fault{Mode: platform.FaultStatus, Status: 503, Until: time.Now().Add(5 * time.Second),
		Endpoints: []platform.Endpoint{platform.EndpointEvents}})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = workload.Create(ctx, member.Client, "ConfigMap", ns, 300, workload.Options{Parallelism: 32})
	g.Expect(err).NotTo(HaveOccurred())
	h.converged(t, noSecrets, time.Minute)
	st, _ := h.m.AgentStats(agentKey)
	g.Expect(st.Outbox.Rejected).To(BeNumerically(">", 0))
	g.Expect(st.Snapshots).To(HaveKey(SnapshotOverflow))
}

func TestALongBacklogAtTheRateLimitIsReplacedByASnapshot(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "backlog")
	h := startHub(t, member, member.Config, Options{}, AgentOptions{RateLimit: 5, MinSnapshotInterval: time.Second})
	h.waitSnapshot(t)
	_, err := workload.Create(ctx, member.Client, "ConfigMap", ns, 200, workload.Options{Parallelism: 32})
	g.Expect(err).NotTo(HaveOccurred())
	h.converged(t, noSecrets, 30*time.Second) // 200 events at 5/s would take 40s
	st, _ := h.m.AgentStats(agentKey)
	g.Expect(st.Snapshots).To(HaveKey(SnapshotBacklog))
	g.Expect(st.Sent).To(BeNumerically("<", 200))
}

// TestABurstAtTheRateLimitIsCarriedByOneSnapshot writes a burst that lasts several seconds,
// well past the point where its backlog is long enough for a snapshot: the agent waits for
// the burst's end and sends one snapshot carrying all of it, instead of a snapshot of the
// burst's first objects followed by another one MinSnapshotInterval later.
func TestABurstAtTheRateLimitIsCarriedByOneSnapshot(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "burst")
	h := startHub(t, member, member.Config, Options{}, AgentOptions{RateLimit: 5, MinSnapshotInterval: 2 * time.Second,
		BacklogSettle: 20 * time.Second})
	h.waitSnapshot(t)
	// 50 creates/s for 5s: the backlog is long enough for a snapshot (1s at 5/s) from its
	// start, and the minimum interval since the initial snapshot ends mid-burst.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range 250 {
		<-tick.C
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%03d", i), Namespace: ns},
			Data: map[string]string{"i": fmt.Sprint(i)}}
		g.Expect(member.Client.Create(ctx, cm)).To(Succeed())
	}
	h.converged(t, noSecrets, 30*time.Second) // 250 events at 5/s would take 50s
	st, _ := h.m.AgentStats(agentKey)
	g.Expect(st.Snapshots).To(HaveKeyWithValue(SnapshotBacklog, 1), "one snapshot for the whole burst")
	g.Expect(st.Sent).To(BeNumerically("<", 250))
}

// TestABacklogSnapshotOvertakenByItsBurstIsFollowedUp writes a burst that goes on after
// the backlog snapshot meant to absorb it (BacklogSettle ends the wait mid-burst): the
// agent sends one follow-up snapshot once the burst is over, instead of leaving the rest
// of the burst to drain at the rate limit until MinSnapshotInterval has passed.
func TestABacklogSnapshotOvertakenByItsBurstIsFollowedUp(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "overtaken")
	h := startHub(t, member, member.Config, Options{}, AgentOptions{RateLimit: 5, MinSnapshotInterval: 30 * time.Second,
		BacklogSettle: 5 * time.Second})
	h.waitSnapshot(t)
	// 50 creates/s until the first backlog snapshot (possible 30s after the initial one,
	// sent BacklogSettle later as the backlog keeps growing), then 50 more: the burst's
	// tail, which that snapshot did not carry.
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	first := -1
	for i := 0; first < 0 || i < first+50; i++ {
		<-tick.C
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%04d", i), Namespace: ns}}
		g.Expect(member.Client.Create(ctx, cm)).To(Succeed())
		if st, _ := h.m.AgentStats(agentKey); first < 0 && st.Snapshots[SnapshotBacklog] > 0 {
			first = i
		}
		g.Expect(time.Since(start)).To(BeNumerically("<", 2*time.Minute), "no backlog snapshot during the burst")
	}
	// Without the follow-up the tail (the 50 creates and those made while the first
	// snapshot was sent) would drain at 5/s or wait for the next snapshot, 30s after the
	// first backlog one. The follow-up comes a second after the tail, plus its own send,
	// which takes seconds under -race with the objects earlier tests left in the member.
	h.converged(t, noSecrets, 15*time.Second)
	st, _ := h.m.AgentStats(agentKey)
	g.Expect(st.Snapshots).To(HaveKeyWithValue(SnapshotBacklog, 2), "the backlog snapshot and its follow-up")
}

func TestAClusterEngagedBeforeStartIsCollectedOnceTheManagerRuns(t *testing.T) {
	g := NewWithT(t)
	m := NewManager(Options{Kinds: []transport.Kind{transport.KindNamespace}})
	cl, err := cluster.New(member.Config)
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.Expect(m.Engage(ctx, clusterName, cl)).To(Succeed())
	g.Expect(m.Bind(agentKey, clusterName, AgentOptions{})).To(MatchError(ContainSubstring("Sender is required")))

	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	g.Eventually(func() bool {
		cs, _ := m.ClusterStats(clusterName)
		return cs.Synced
	}).WithTimeout(time.Minute).WithPolling(50 * time.Millisecond).Should(BeTrue())
	cs, _ := m.ClusterStats(clusterName)
	g.Expect(cs.Objects).To(HaveKeyWithValue(transport.KindNamespace, BeNumerically(">=", 2)))
	g.Expect(m.Start(ctx)).To(MatchError(ErrAlreadyStarted))
	cancel()
	g.Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
	_, ok := m.ClusterStats(clusterName)
	g.Expect(ok).To(BeFalse(), "the pipeline is gone with the engagement")
}
