package chart_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/config"
	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

// identityKinds are the rendered kinds that make up the hub's identity and API, applied to
// the hub control plane for the impersonated run.
var identityKinds = []string{
	"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
}

// podKinds are rendered kinds that only matter where a kubelet runs the hub's pod; the test
// runs the hub in-process instead.
var podKinds = []string{"Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget", "ServiceMonitor"}

// hubSubject is how the API server sees the chart's ServiceAccount.
func hubSubject() (user string, groups []string) {
	return "system:serviceaccount:" + releaseNamespace + ":" + releaseName,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNamespace, "system:authenticated"}
}

// requestRecorder remembers which requests the hub made (method and path) and those the API
// server refused with 403.
type requestRecorder struct {
	mu      sync.Mutex // guards refused and seen
	refused []string
	seen    map[string]bool
}

func (f *requestRecorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		f.mu.Lock()
		defer f.mu.Unlock()
		call := req.Method + " " + req.URL.Path
		if f.seen == nil {
			f.seen = map[string]bool{}
		}
		f.seen[call] = true
		if err == nil && resp.StatusCode == http.StatusForbidden {
			f.refused = append(f.refused, call)
		}
		return resp, err
	})
}

// snapshot returns the refused requests and the distinct requests so far.
func (f *requestRecorder) snapshot() (refused, seen []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.refused), slices.Sorted(maps.Keys(f.seen))
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (fn roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return fn(req) }

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// impersonatedHubConfig is the hub cluster's admin config acting as the chart's
// ServiceAccount, its requests recorded.
func impersonatedHubConfig(admin *rest.Config, rec *requestRecorder) *rest.Config {
	cfg := rest.CopyConfig(admin)
	user, groups := hubSubject()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	cfg.Wrap(rec.wrap)
	return cfg
}

// applyIdentity applies the identity objects of a rendering with kubectl's server-side
// apply (as helm would create them) and fails on a rendered kind the test does not sort.
func applyIdentity(ctx context.Context, t *testing.T, g Gomega, kubeconfig string, r rendered) {
	t.Helper()
	var docs []string
	for _, o := range r {
		kind := o.GetKind()
		switch {
		case slices.Contains(identityKinds, kind):
			data, err := yaml.Marshal(o.Object)
			g.Expect(err).NotTo(HaveOccurred())
			docs = append(docs, string(data))
		case slices.Contains(podKinds, kind):
		default:
			t.Fatalf("rendered %s %s: decide whether the in-process hub needs it", kind, o.GetName())
		}
	}
	file := filepath.Join(t.TempDir(), "identity.yaml")
	g.Expect(os.WriteFile(file, []byte(strings.Join(docs, "---\n")), 0o600)).To(Succeed())
	_, err := runCommand(ctx, []string{"KUBECONFIG=" + kubeconfig}, kubectlBinary(t), "apply", "--server-side", "--field-manager=helm", "-f", file)
	g.Expect(err).NotTo(HaveOccurred())
}

// platformClient is a client registered with simulators: the credentials Secret's data.
func platformClient(g Gomega, id string, sims ...*platform.Server) map[string][]byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalECPrivateKey(key)
	g.Expect(err).NotTo(HaveOccurred())
	for _, s := range sims {
		s.RegisterClient(id, &key.PublicKey)
	}
	return map[string][]byte{
		"client_id":   []byte(id),
		"private_key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
	}
}

func obsykAgent(ns, name, platformURL, cluster string) *obsykv1.ObsykAgent {
	a := &obsykv1.ObsykAgent{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: obsykv1.ObsykAgentSpec{
			PlatformURL: platformURL, ClusterName: name,
			CredentialsSecretRef: obsykv1.SecretReference{Name: "obsyk-credentials"},
			SyncInterval:         "5s",
		},
	}
	if cluster != "" {
		a.Spec.ClusterRef = &obsykv1.ClusterReference{Name: cluster}
	}
	return a
}

// waitReady waits until the agent is Ready (Streaming) for the cluster with uid.
func waitReady(ctx context.Context, g Gomega, c client.Client, ns, name, uid string) {
	g.Eventually(func(g Gomega) {
		var a obsykv1.ObsykAgent
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &a)).To(Succeed())
		ready := meta.FindStatusCondition(a.Status.Conditions, controllers.ConditionReady)
		g.Expect(ready).NotTo(BeNil(), "%s/%s has no Ready condition", ns, name)
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "%s/%s: %+v", ns, name, a.Status.Conditions)
		g.Expect(a.Status.ClusterUID).To(Equal(uid))
		g.Expect(a.Status.LastHeartbeatTime).NotTo(BeNil(), "heartbeats flow")
	}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
}

// impersonatedHub is a hub running in-process as the chart's ServiceAccount.
type impersonatedHub struct {
	cfg      config.Config
	requests *requestRecorder
	logs     *logBuffer
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// startImpersonatedHub starts the hub as the chart's Deployment configures it (its flags
// parsed from the rendered Deployment), as the chart's ServiceAccount, trusting the
// simulators. The metrics and probe servers stay off (the chart's ports would collide with
// other tests) and the platform CA is given in memory instead of --platform-ca-file.
func startImpersonatedHub(ctx context.Context, t *testing.T, g Gomega, hub *testbed.Cluster, r rendered, sims ...*platform.Server) *impersonatedHub {
	t.Helper()
	cfg, _ := hubArgs(g, deploymentOf(g, r))
	g.Expect(cfg.LeaderElect).To(Equal(!cfg.Sharding), "the chart turns leader election on, unless it shards")
	if strings.Contains(cfg.ReplicaIdentity, "$(") {
		cfg.ReplicaIdentity = "obsyk-hub-0" // the kubelet expands $(POD_NAME); here we do
	}
	var ca []byte
	for _, s := range sims {
		ca = append(ca, s.CACertPEM()...)
	}
	h := &impersonatedHub{cfg: cfg, requests: &requestRecorder{}, logs: &logBuffer{}, done: make(chan error, 1)}
	log := logr.FromSlogHandler(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.Level(-controllers.MaxLogVerbosity)}))
	ctrllog.SetLogger(log)
	hubCtx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	hb, err := controllers.NewHub(hubCtx, impersonatedHubConfig(hub.Config, h.requests), controllers.HubOptions{
		Namespace:               cfg.ClusterSecretNamespace,
		WatchNamespaces:         cfg.WatchNamespaces,
		MetricsAddr:             "0",
		ProbeAddr:               "0",
		LeaderElect:             cfg.LeaderElect,
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		LeaderElectionID:        cfg.LeaderElectionID,
		LeaseDuration:           cfg.LeaseDuration,
		RenewDeadline:           cfg.RenewDeadline,
		RetryPeriod:             cfg.RetryPeriod,
		DrainTimeout:            cfg.ShutdownDrainTimeout,
		CAPISecrets:             cfg.CAPIKubeconfigSecrets,
		CollectSecrets:          cfg.CollectSecrets,
		Sharding:                cfg.Sharding,
		ShardIdentity:           cfg.ReplicaIdentity,
		ShardLeaseDuration:      cfg.ShardLeaseDuration,
		ShardRenewDeadline:      cfg.ShardRenewDeadline,
		ShardRetryPeriod:        cfg.ShardRetryPeriod,
		PlatformCABundle:        ca,
		Metrics:                 prometheus.NewRegistry(),
		Logger:                  log,
		Registry: clusterregistry.Options{
			ProbeInterval: time.Second, ReconnectBackoff: 200 * time.Millisecond, ReconnectBackoffMax: 2 * time.Second,
		},
		Reconciler: controllers.ReconcilerOptions{StatusInterval: 2 * time.Second, CredentialsRecheck: 2 * time.Second},
	})
	if err != nil {
		cancel()
		t.Fatalf("the hub does not start as the chart's ServiceAccount (CRD check included): %v", err)
	}
	go func() { h.done <- hb.Start(hubCtx) }()
	t.Cleanup(func() { _ = h.stop() })
	return h
}

// stop stops the hub once and returns what Start returned.
func (h *impersonatedHub) stop() error {
	h.stopOnce.Do(func() {
		h.cancel()
		h.stopErr = <-h.done
	})
	return h.stopErr
}

// checkLease fails unless the hub's Lease is in the release namespace and held (or, after
// a clean stop, released).
func (h *impersonatedHub) checkLease(ctx context.Context, g Gomega, c client.Client, held bool) {
	g.Expect(h.cfg.LeaderElectionNamespace).To(Equal(releaseNamespace))
	var lease coordinationv1.Lease
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: h.cfg.LeaderElectionID}, &lease)).To(Succeed())
	if held {
		g.Expect(lease.Spec.HolderIdentity).To(HaveValue(Not(BeEmpty())))
		g.Expect(lease.Spec.LeaseDurationSeconds).To(HaveValue(BeEquivalentTo(h.cfg.LeaseDuration.Seconds())))
		return
	}
	g.Expect(lease.Spec.HolderIdentity).To(Or(BeNil(), HaveValue(BeEmpty())), "released on a clean stop")
}

// checkNothingRefused fails unless the hub made every kind of request it needs in its own
// cluster (each matching one of the patterns) and the API server refused none of them, and
// unless its log is free of forbidden errors.
func (h *impersonatedHub) checkNothingRefused(g Gomega, patterns ...string) {
	refused, seen := h.requests.snapshot()
	for _, p := range patterns {
		g.Expect(seen).To(ContainElement(MatchRegexp("^"+p+"$")), "the hub made a request %s", p)
	}
	g.Expect(refused).To(BeEmpty(), "requests the API server refused with 403")
	g.Expect(h.logs.String()).NotTo(BeEmpty())
	var lines []string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(strings.ToLower(l), "forbidden") {
			lines = append(lines, l)
		}
	}
	g.Expect(lines).To(BeEmpty())
}

// waitAgentEvents waits until the hub recorded a SnapshotAccepted Event on an ObsykAgent in
// each namespace.
func waitAgentEvents(ctx context.Context, g Gomega, c client.Client, namespaces ...string) {
	for _, ns := range namespaces {
		g.Eventually(func(g Gomega) {
			var evs corev1.EventList
			g.Expect(c.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
			var reasons []string
			for _, e := range evs.Items {
				if e.InvolvedObject.Kind == "ObsykAgent" {
					reasons = append(reasons, e.Reason)
				}
			}
			g.Expect(reasons).To(ContainElement("SnapshotAccepted"), "Events in %s", ns)
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	}
}

// TestHubRunsWithTheChartsIdentity runs the whole hub in-process against a real hub control
// plane as the chart's ServiceAccount (impersonation), with only the CRD and the RBAC the
// chart renders with its default values installed there: agents in the release namespace
// and in another one become Ready and converge, the hub takes its Lease and records Events,
// and the API server refuses none of its requests. Then the same release with
// hubCluster.collect lets an agent without a target stream the hub's own cluster. That the
// identity may do nothing more is checkHubAccess's part, run here against the same RBAC.
func TestHubRunsWithTheChartsIdentity(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	f := testbed.NewTestFleet(t, testbed.FleetOptions{Members: 1, Hub: testbed.ClusterOptions{Scheme: controllers.Scheme()}})
	hc, member := f.Hub.Client, f.Members[0]
	kubeconfig := writeKubeconfig(t, f.Hub)
	const tenant = "team-a"
	for _, ns := range []string{releaseNamespace, tenant} {
		g.Expect(hc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}

	defaults := render(t, g)
	applyIdentity(ctx, t, g, kubeconfig, defaults)
	waitEstablished(ctx, g, hc, crdName)
	if !t.Run("with the default values the identity may do what the hub does and no more", func(t *testing.T) {
		checkHubAccess(ctx, NewWithT(t), f.Hub)
	}) {
		return
	}

	// The member, registered by an administrator as `obsyk-hub cluster add` would; agents
	// in the tenant namespace are entitled to it.
	_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
		Name: member.Name, Member: member.Config, Hub: hc, Namespace: releaseNamespace,
		AllowedNamespaces: []string{tenant}, LegacyTokenWait: -1,
	})
	g.Expect(err).NotTo(HaveOccurred())
	memberUID, err := converge.ClusterUID(ctx, member.Client)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = workload.Seed(ctx, member.Client, 2, workload.Options{})
	g.Expect(err).NotTo(HaveOccurred())

	// Two platforms: one agent per (cluster, platform) pair may stream.
	sim, tenantSim := platform.StartForTest(t, platform.Options{}), platform.StartForTest(t, platform.Options{})
	for _, ns := range []string{releaseNamespace, tenant} {
		g.Expect(hc.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "obsyk-credentials"},
			Data:       platformClient(g, "client-"+ns, sim, tenantSim),
		})).To(Succeed())
	}

	hub := startImpersonatedHub(ctx, t, g, f.Hub, defaults, sim, tenantSim)
	g.Expect(hub.cfg.ClusterSecretNamespace).To(Equal(releaseNamespace))
	noSecrets := converge.Options{ExcludeKinds: []string{"Secret"}}
	g.Expect(hc.Create(ctx, obsykAgent(releaseNamespace, "member", sim.URL(), member.Name))).To(Succeed())
	g.Expect(hc.Create(ctx, obsykAgent(tenant, "member-tenant", tenantSim.URL(), member.Name))).To(Succeed())

	if !t.Run("agents in the release namespace and in another one converge", func(t *testing.T) {
		g := NewWithT(t)
		waitReady(ctx, g, hc, releaseNamespace, "member", memberUID)
		waitReady(ctx, g, hc, tenant, "member-tenant", memberUID)
		for _, s := range []*platform.Server{sim, tenantSim} {
			_, err := converge.WaitConverged(ctx, member.Client, memberUID, s, noSecrets, 3*time.Minute)
			g.Expect(err).NotTo(HaveOccurred())
		}
		_, err := workload.Create(ctx, member.Client, "ConfigMap", "default", 3, workload.Options{Prefix: "impersonated"})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = converge.WaitConverged(ctx, member.Client, memberUID, sim, noSecrets, 2*time.Minute)
		g.Expect(err).NotTo(HaveOccurred(), "changes follow the snapshot")
	}) {
		return
	}

	t.Run("the hub holds the chart's Lease in the release namespace", func(t *testing.T) {
		hub.checkLease(ctx, NewWithT(t), hc, true)
	})

	t.Run("the hub records Events on the agents of both namespaces", func(t *testing.T) {
		waitAgentEvents(ctx, NewWithT(t), hc, releaseNamespace, tenant)
	})

	if !t.Run("with hubCluster.collect an agent without a target streams the hub's own cluster", func(t *testing.T) {
		g := NewWithT(t)
		applyIdentity(ctx, t, g, kubeconfig, render(t, g, "--set", "hubCluster.collect=true"))
		checkAccess(ctx, g, f.Hub, []accessCase{
			{"reads the hub's own cluster", authorizationv1.ResourceAttributes{Verb: "watch", Resource: "pods"}, true},
			{"reads kube-system", authorizationv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "kube-system"}, true},
			{"reads no Secret of the hub's own cluster", authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false},
		})
		hubUID, err := converge.ClusterUID(ctx, hc)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(hc.Create(ctx, obsykAgent(releaseNamespace, "hub", sim.URL(), ""))).To(Succeed())
		waitReady(ctx, g, hc, releaseNamespace, "hub", hubUID)
		_, err = converge.WaitConverged(ctx, hc, hubUID, sim, noSecrets, 3*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
	}) {
		return
	}

	t.Run("the hub stops cleanly and releases its Lease", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(hub.stop()).To(Succeed())
		hub.checkLease(ctx, g, hc, false)
	})

	t.Run("the API server refused none of the hub's requests and its log has no forbidden error", func(t *testing.T) {
		hub.checkNothingRefused(NewWithT(t),
			"GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+crdName,  // the CRD check
			"GET /apis/obsyk.io/v1/obsykagents",                                     // list and watch, every namespace
			"GET /api/v1/namespaces/"+releaseNamespace+"/secrets",                   // kubeconfig Secrets, listed and watched
			"GET /api/v1/namespaces/"+tenant+"/secrets/obsyk-credentials",           // a credentials Secret, by name
			"PUT /apis/obsyk.io/v1/namespaces/"+tenant+"/obsykagents/member-tenant", // the finalizer
			"PATCH /apis/obsyk.io/v1/namespaces/"+tenant+"/obsykagents/member-tenant/status",
			"POST /apis/events.k8s.io/v1/namespaces/"+tenant+"/events",
			"POST /apis/coordination.k8s.io/v1/namespaces/"+releaseNamespace+"/leases",
			"PUT /apis/coordination.k8s.io/v1/namespaces/"+releaseNamespace+"/leases/"+hub.cfg.LeaderElectionID,
			"POST /api/v1/namespaces/"+releaseNamespace+"/events", // leader election
			"GET /api/v1/pods",                   // the hub's own cluster (hubCluster.collect)
			"GET /api/v1/namespaces/kube-system", // its UID
		)
	})
}

// TestHubRunsWithTheChartsIdentityInWatchedNamespaces is TestHubRunsWithTheChartsIdentity
// with every optional feature on (ci/all-features-values.yaml), where the hub's rights are
// narrowest: its ObsykAgent, credentials and Event rights bound only in the watched
// namespaces team-a and team-b, member kubeconfig Secrets in obsyk-clusters, its Lease in
// the release namespace, and Secrets collected from the member.
func TestHubRunsWithTheChartsIdentityInWatchedNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	f := testbed.NewTestFleet(t, testbed.FleetOptions{Members: 1, Hub: testbed.ClusterOptions{Scheme: controllers.Scheme()}})
	hc, member := f.Hub.Client, f.Members[0]
	const clusterSecrets = "obsyk-clusters"
	watched := []string{"team-a", "team-b"}
	for _, ns := range append([]string{releaseNamespace, clusterSecrets}, watched...) {
		g.Expect(hc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	all := render(t, g, "-f", filepath.Join(chartDir(t), allFeatures))
	applyIdentity(ctx, t, g, writeKubeconfig(t, f.Hub), all)
	waitEstablished(ctx, g, hc, crdName)

	if !t.Run("the identity may do what the hub does in the watched namespaces and no more", func(t *testing.T) {
		checkWatchedNamespacesAccess(ctx, NewWithT(t), f.Hub)
	}) {
		return
	}

	_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
		Name: member.Name, Member: member.Config, Hub: hc, Namespace: clusterSecrets,
		AllowedNamespaces: watched, CollectSecrets: true, LegacyTokenWait: -1,
	})
	g.Expect(err).NotTo(HaveOccurred())
	memberUID, err := converge.ClusterUID(ctx, member.Client)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = workload.Seed(ctx, member.Client, 2, workload.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	sims := map[string]*platform.Server{}
	for _, ns := range watched {
		sims[ns] = platform.StartForTest(t, platform.Options{})
	}
	for _, ns := range watched {
		g.Expect(hc.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "obsyk-credentials"},
			Data:       platformClient(g, "client-"+ns, sims[ns]),
		})).To(Succeed())
	}

	hub := startImpersonatedHub(ctx, t, g, f.Hub, all, sims["team-a"], sims["team-b"])
	g.Expect(hub.cfg.ClusterSecretNamespace).To(Equal(clusterSecrets))
	g.Expect(hub.cfg.WatchNamespaces).To(Equal(watched))
	g.Expect(hub.cfg.CollectSecrets).To(BeTrue())
	g.Expect(hc.Create(ctx, obsykAgent("team-a", "member", sims["team-a"].URL(), member.Name))).To(Succeed())
	withSecrets := obsykAgent("team-b", "member", sims["team-b"].URL(), member.Name)
	for _, k := range platform.Kinds {
		withSecrets.Spec.Kinds = append(withSecrets.Spec.Kinds, obsykv1.Kind(k))
	}
	g.Expect(hc.Create(ctx, withSecrets)).To(Succeed())

	if !t.Run("agents in the watched namespaces converge, one with the member's Secrets", func(t *testing.T) {
		g := NewWithT(t)
		for _, ns := range watched {
			waitReady(ctx, g, hc, ns, "member", memberUID)
		}
		_, err := converge.WaitConverged(ctx, member.Client, memberUID, sims["team-a"], converge.Options{ExcludeKinds: []string{"Secret"}}, 3*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
		_, err = converge.WaitConverged(ctx, member.Client, memberUID, sims["team-b"], converge.Options{}, 3*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sims["team-b"].Cluster(memberUID).Count("Secret")).To(BeNumerically(">", 0))
	}) {
		return
	}

	t.Run("the hub holds its Lease in the release namespace and records Events in the watched ones", func(t *testing.T) {
		g := NewWithT(t)
		hub.checkLease(ctx, g, hc, true)
		waitAgentEvents(ctx, g, hc, watched...)
	})

	t.Run("the hub stops cleanly and releases its Lease", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(hub.stop()).To(Succeed())
		hub.checkLease(ctx, g, hc, false)
	})

	t.Run("the API server refused none of the hub's requests and its log has no forbidden error", func(t *testing.T) {
		g := NewWithT(t)
		patterns := []string{
			"GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + crdName,
			"GET /api/v1/namespaces/" + clusterSecrets + "/secrets",
			"POST /apis/coordination.k8s.io/v1/namespaces/" + releaseNamespace + "/leases",
			"PUT /apis/coordination.k8s.io/v1/namespaces/" + releaseNamespace + "/leases/" + hub.cfg.LeaderElectionID,
			"POST /api/v1/namespaces/" + releaseNamespace + "/events",
		}
		for _, ns := range watched {
			patterns = append(patterns,
				"GET /apis/obsyk.io/v1/namespaces/"+ns+"/obsykagents",
				"GET /api/v1/namespaces/"+ns+"/secrets/obsyk-credentials",
				"PUT /apis/obsyk.io/v1/namespaces/"+ns+"/obsykagents/member",
				"PATCH /apis/obsyk.io/v1/namespaces/"+ns+"/obsykagents/member/status",
				"POST /apis/events.k8s.io/v1/namespaces/"+ns+"/events",
			)
		}
		hub.checkNothingRefused(g, patterns...)
		_, seen := hub.requests.snapshot()
		g.Expect(seen).NotTo(ContainElement(MatchRegexp(`^GET /apis/obsyk\.io/v1/obsykagents$`)), "no agent is read outside the watched namespaces")
	})
}

// TestHubRunsShardedWithTheChartsIdentity runs the hub as the chart's ServiceAccount with
// sharding on (ci/sharding-values.yaml): the hub takes its peer Lease and the member's
// cluster Lease in the release namespace, serves the agent (status.servedBy names it), and
// the API server refuses none of its requests.
func TestHubRunsShardedWithTheChartsIdentity(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f := testbed.NewTestFleet(t, testbed.FleetOptions{Members: 1, Hub: testbed.ClusterOptions{Scheme: controllers.Scheme()}})
	hc, member := f.Hub.Client, f.Members[0]
	kubeconfig := writeKubeconfig(t, f.Hub)
	g.Expect(hc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace}})).To(Succeed())
	r := render(t, g, "-f", filepath.Join(chartDir(t), sharded))
	applyIdentity(ctx, t, g, kubeconfig, r)
	waitEstablished(ctx, g, hc, crdName)

	_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
		Name: member.Name, Member: member.Config, Hub: hc, Namespace: releaseNamespace, LegacyTokenWait: -1,
	})
	g.Expect(err).NotTo(HaveOccurred())
	memberUID, err := converge.ClusterUID(ctx, member.Client)
	g.Expect(err).NotTo(HaveOccurred())
	sim := platform.StartForTest(t, platform.Options{})
	g.Expect(hc.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: releaseNamespace, Name: "obsyk-credentials"},
		Data:       platformClient(g, "client-sharded", sim),
	})).To(Succeed())

	hub := startImpersonatedHub(ctx, t, g, f.Hub, r, sim)
	g.Expect(hub.cfg.Sharding).To(BeTrue())
	g.Expect(hc.Create(ctx, obsykAgent(releaseNamespace, "member", sim.URL(), member.Name))).To(Succeed())
	waitReady(ctx, g, hc, releaseNamespace, "member", memberUID)
	_, err = converge.WaitConverged(ctx, member.Client, memberUID, sim, converge.Options{ExcludeKinds: []string{"Secret"}}, 3*time.Minute)
	g.Expect(err).NotTo(HaveOccurred())

	a := &obsykv1.ObsykAgent{}
	g.Expect(hc.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "member"}, a)).To(Succeed())
	g.Expect(a.Status.ServedBy).To(Equal(hub.cfg.ReplicaIdentity))
	var leases coordinationv1.LeaseList
	g.Expect(hc.List(ctx, &leases, client.InNamespace(releaseNamespace), client.HasLabels{clusterregistry.ShardLeaseLabel})).To(Succeed())
	holders := map[string]string{}
	for _, l := range leases.Items {
		holders[l.Labels[clusterregistry.ShardLeaseLabel]+"/"+l.Labels[clusterregistry.ShardLeaseCluster]] = ptr.Deref(l.Spec.HolderIdentity, "")
	}
	g.Expect(holders).To(HaveKeyWithValue("peer/", hub.cfg.ReplicaIdentity))
	g.Expect(holders).To(HaveKeyWithValue("cluster/"+member.Name, hub.cfg.ReplicaIdentity))

	g.Expect(hub.stop()).To(Succeed())
	refused, _ := hub.requests.snapshot()
	g.Expect(refused).To(BeEmpty(), "the chart's RBAC lets the sharded hub do all it does")
	g.Expect(hub.logs.String()).NotTo(ContainSubstring("forbidden"))
}
