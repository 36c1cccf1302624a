package controllers_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

const hubNamespace = "obsyk-system"

// chartCRDs is the directory of the CRD the chart installs.
func chartCRDs() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "charts", "obsyk-hub", "files", "crds")
}

// syncBuffer is a goroutine-safe log sink, searched for secrets at the end.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// creds is a platform client: its id, key and the PEM the credentials Secret holds.
type creds struct {
	id  string
	pem []byte
	key *ecdsa.PrivateKey
}

func newCreds(g Gomega, id string, sims ...*platform.Server) creds {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalECPrivateKey(key)
	g.Expect(err).NotTo(HaveOccurred())
	for _, s := range sims {
		s.RegisterClient(id, &key.PublicKey)
	}
	return creds{id: id, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})}
}

func putSecret(ctx context.Context, g Gomega, c client.Client, ns, name string, data map[string][]byte) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	err := c.Get(ctx, client.ObjectKeyFromObject(s), s)
	s.Data = data
	if apierrors.IsNotFound(err) {
		g.Expect(c.Create(ctx, s)).To(Succeed())
		return
	}
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Update(ctx, s)).To(Succeed())
}

func credsData(c creds) map[string][]byte {
	return map[string][]byte{"client_id": []byte(c.id), "private_key": c.pem}
}

func newAgent(ns, name, platformURL, cluster, secret string) *obsykv1.ObsykAgent {
	a := &obsykv1.ObsykAgent{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: obsykv1.ObsykAgentSpec{
			PlatformURL: platformURL, ClusterName: name,
			CredentialsSecretRef: obsykv1.SecretReference{Name: secret},
			SyncInterval:         "5s",
		},
	}
	if cluster != "" {
		a.Spec.ClusterRef = &obsykv1.ClusterReference{Name: cluster}
	}
	return a
}

// hubProcess is one in-process hub; stop cancels it and returns how long it took to end.
type hubProcess struct {
	cancel context.CancelFunc
	done   chan error

	once sync.Once
	took time.Duration
	err  error
}

// stop stops the hub once and reports how long that took; later calls repeat the answer.
func (h *hubProcess) stop() (time.Duration, error) {
	h.once.Do(func() {
		start := time.Now()
		h.cancel()
		h.err = <-h.done
		h.took = time.Since(start)
	})
	return h.took, h.err
}

func startHub(t *testing.T, f *testbed.Fleet, log logr.Logger, sims ...*platform.Server) *hubProcess {
	t.Helper()
	return startHubWith(t, f, log, nil, sims...)
}

// startHubWith starts a hub whose options edit may change.
func startHubWith(t *testing.T, f *testbed.Fleet, log logr.Logger, edit func(*controllers.HubOptions), sims ...*platform.Server) *hubProcess {
	t.Helper()
	var ca []byte
	for _, s := range sims {
		ca = append(ca, s.CACertPEM()...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opts := controllers.HubOptions{
		Namespace:        hubNamespace,
		DrainTimeout:     5 * time.Second,
		PlatformCABundle: ca,
		Metrics:          prometheus.NewRegistry(),
		Logger:           log,
		Registry: clusterregistry.Options{
			ProbeInterval: time.Second, ReconnectBackoff: 200 * time.Millisecond, ReconnectBackoffMax: 2 * time.Second,
		},
		Reconciler: controllers.ReconcilerOptions{StatusInterval: 2 * time.Second, CredentialsRecheck: 2 * time.Second},
	}
	if edit != nil {
		edit(&opts)
	}
	hub, err := controllers.NewHub(ctx, f.Hub.Config, opts)
	if err != nil {
		cancel()
		t.Fatalf("new hub: %v", err)
	}
	h := &hubProcess{cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- hub.Start(ctx) }()
	t.Cleanup(func() { _, _ = h.stop() })
	return h
}

func getAgent(ctx context.Context, g Gomega, c client.Client, ns, name string) *obsykv1.ObsykAgent {
	a := &obsykv1.ObsykAgent{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, a)).To(Succeed())
	return a
}

// readyCondition returns an agent's condition of a type, or an empty one.
func condition(a *obsykv1.ObsykAgent, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(a.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// linesWith returns the lines of text that contain needle.
func linesWith(text, needle string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, needle) {
			out = append(out, l)
		}
	}
	return out
}

// TestHub runs the whole hub in-process against a real hub control plane, three real
// members and two platform simulators.
func TestHub(t *testing.T) {
	g := NewWithT(t)
	ctrllog.SetLogger(logr.Discard())
	f := testbed.NewTestFleet(t, testbed.FleetOptions{
		Members: 3,
		Hub:     testbed.ClusterOptions{CRDDirectoryPaths: []string{chartCRDs()}, Scheme: controllers.Scheme()},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	hc := f.Hub.Client

	sim1 := platform.StartForTest(t, platform.Options{})
	sim2 := platform.StartForTest(t, platform.Options{})
	main := newCreds(g, "client-main", sim1, sim2)

	uids := make([]string, len(f.Members))
	for i, m := range f.Members {
		_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
			Name: m.Name, Member: m.Config, Hub: hc, Namespace: hubNamespace, LegacyTokenWait: -1,
		})
		g.Expect(err).NotTo(HaveOccurred())
		uids[i], err = converge.ClusterUID(ctx, m.Client)
		g.Expect(err).NotTo(HaveOccurred())
		_, err = workload.Seed(ctx, m.Client, 2, workload.Options{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	hubUID, err := converge.ClusterUID(ctx, hc)
	g.Expect(err).NotTo(HaveOccurred())
	putSecret(ctx, g, hc, hubNamespace, "obsyk-credentials", credsData(main))

	logs := &syncBuffer{}
	log := logr.FromSlogHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.Level(-10)}))
	hub := startHub(t, f, log, sim1, sim2)

	noSecrets := converge.Options{ExcludeKinds: []string{"Secret"}}
	for i, m := range f.Members {
		g.Expect(hc.Create(ctx, newAgent(hubNamespace, fmt.Sprintf("agent-%d", i), sim1.URL(), m.Name, "obsyk-credentials"))).To(Succeed())
	}
	g.Expect(hc.Create(ctx, newAgent(hubNamespace, "agent-hub", sim1.URL(), "", "obsyk-credentials"))).To(Succeed())

	t.Run("three agents for three members converge, Ready with counts, UID and heartbeats", func(t *testing.T) {
		g := NewWithT(t)
		for i, m := range f.Members {
			_, err := converge.WaitConverged(ctx, m.Client, uids[i], sim1, noSecrets, 3*time.Minute)
			g.Expect(err).NotTo(HaveOccurred(), "member %s", m.Name)
		}
		for i, m := range f.Members {
			name := fmt.Sprintf("agent-%d", i)
			g.Eventually(func(g Gomega) {
				a := getAgent(ctx, g, hc, hubNamespace, name)
				g.Expect(condition(a, controllers.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", a.Status.Conditions)
				g.Expect(a.Status.ClusterUID).To(Equal(uids[i]))
				var cms corev1.ConfigMapList
				g.Expect(m.Client.List(ctx, &cms)).To(Succeed())
				g.Expect(a.Status.ResourceCounts).NotTo(BeNil())
				g.Expect(a.Status.ResourceCounts.ConfigMaps).To(BeEquivalentTo(len(cms.Items)))
				g.Expect(a.Status.ObjectCount).To(BeNumerically(">", len(cms.Items)))
				g.Expect(a.Status.LastSnapshotTime).NotTo(BeNil())
				g.Expect(a.Status.LastHeartbeatTime).NotTo(BeNil())
				g.Expect(a.Status.ObservedGeneration).To(Equal(a.Generation))
			}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		}
		// Heartbeats follow the 5s syncInterval: never faster, and not starved.
		g.Eventually(func(g Gomega) {
			var beats []time.Time
			for _, r := range sim1.Requests() {
				if r.Endpoint == platform.EndpointHeartbeat && r.ClusterUID == uids[0] && r.Accepted {
					beats = append(beats, r.Time)
				}
			}
			g.Expect(len(beats)).To(BeNumerically(">=", 3))
			for i := 1; i < len(beats); i++ {
				g.Expect(beats[i].Sub(beats[i-1])).To(BeNumerically(">=", 4*time.Second), "heartbeat %d came early", i)
			}
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		g.Expect(sim1.Cluster(uids[0]).EventsBeforeSnapshot).To(BeZero())
		g.Expect(sim1.Cluster(uids[0]).HeartbeatsBeforeSnapshot).To(BeZero())
	})

	t.Run("an agent without a target streams the hub's own cluster", func(t *testing.T) {
		g := NewWithT(t)
		_, err := converge.WaitConverged(ctx, hc, hubUID, sim1, noSecrets, 3*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
		g.Eventually(func(g Gomega) {
			a := getAgent(ctx, g, hc, hubNamespace, "agent-hub")
			g.Expect(condition(a, controllers.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", a.Status.Conditions)
			g.Expect(a.Status.ClusterUID).To(Equal(hubUID))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	})

	t.Run("a new platformURL gets a snapshot there and the deltas follow", func(t *testing.T) {
		g := NewWithT(t)
		a := getAgent(ctx, g, hc, hubNamespace, "agent-0")
		a.Spec.PlatformURL = sim2.URL()
		g.Expect(hc.Update(ctx, a)).To(Succeed())
		g.Eventually(func() int { return sim2.Cluster(uids[0]).Snapshots }).WithTimeout(time.Minute).Should(BeNumerically(">=", 1))
		_, err := workload.Create(ctx, f.Members[0].Client, "ConfigMap", "default", 3, workload.Options{Prefix: "moved"})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = converge.WaitConverged(ctx, f.Members[0].Client, uids[0], sim2, noSecrets, 2*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
	})

	t.Run("rotated credentials are used without a restart", func(t *testing.T) {
		g := NewWithT(t)
		rotated := newCreds(g, "client-rotated", sim1)
		putSecret(ctx, g, hc, hubNamespace, "rotated-credentials", credsData(main))
		a := getAgent(ctx, g, hc, hubNamespace, "agent-1")
		a.Spec.CredentialsSecretRef.Name = "rotated-credentials"
		g.Expect(hc.Update(ctx, a)).To(Succeed())
		g.Eventually(func() *metav1.Condition {
			return meta.FindStatusCondition(getAgent(ctx, g, hc, hubNamespace, "agent-1").Status.Conditions, controllers.ConditionReady)
		}).WithTimeout(time.Minute).Should(HaveField("Status", metav1.ConditionTrue))
		// Rotate the Secret's contents in place: the hub re-reads it and asks for tokens
		// with the new client.
		putSecret(ctx, g, hc, hubNamespace, "rotated-credentials", credsData(rotated))
		g.Eventually(func() bool {
			for _, r := range sim1.Requests() {
				if r.Endpoint == platform.EndpointToken && r.Subject == rotated.id && r.Accepted {
					return true
				}
			}
			return false
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(BeTrue())
		_, err := workload.Create(ctx, f.Members[1].Client, "ConfigMap", "default", 2, workload.Options{Prefix: "rotated"})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = converge.WaitConverged(ctx, f.Members[1].Client, uids[1], sim1, noSecrets, 2*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
	})

	t.Run("two agents on one member with two platforms: one down does not delay the other", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(hc.Create(ctx, newAgent(hubNamespace, "agent-2b", sim2.URL(), f.Members[2].Name, "obsyk-credentials"))).To(Succeed())
		_, err := converge.WaitConverged(ctx, f.Members[2].Client, uids[2], sim2, noSecrets, 3*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
		fault, err := sim1.Faults().Inject(platform.Fault{Mode: platform.FaultStatus, Status: 503, Until: time.Now().Add(time.Hour)})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = workload.Create(ctx, f.Members[2].Client, "ConfigMap", "default", 5, workload.Options{Prefix: "split"})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = converge.WaitConverged(ctx, f.Members[2].Client, uids[2], sim2, noSecrets, time.Minute)
		g.Expect(err).NotTo(HaveOccurred(), "sim2 converges while sim1 is down")
		g.Eventually(func() metav1.Condition {
			return condition(getAgent(ctx, g, hc, hubNamespace, "agent-2"), controllers.ConditionPlatformReachable)
		}).WithTimeout(time.Minute).Should(HaveField("Reason", controllers.ReasonPlatformUnavailable))
		sim1.Faults().Remove(fault)
		_, err = converge.WaitConverged(ctx, f.Members[2].Client, uids[2], sim1, noSecrets, 2*time.Minute)
		g.Expect(err).NotTo(HaveOccurred(), "sim1 converges after it recovered")
	})

	t.Run("deleting an agent stops its binding and clears its finalizer; the others go on", func(t *testing.T) {
		g := NewWithT(t)
		a := getAgent(ctx, g, hc, hubNamespace, "agent-2b")
		g.Expect(a.Finalizers).To(ContainElement(controllers.Finalizer))
		g.Expect(hc.Delete(ctx, a)).To(Succeed())
		g.Eventually(func() bool {
			return apierrors.IsNotFound(hc.Get(ctx, client.ObjectKeyFromObject(a), &obsykv1.ObsykAgent{}))
		}).WithTimeout(time.Minute).Should(BeTrue())
		before := sim2.Cluster(uids[2]).Events
		_, err := workload.Create(ctx, f.Members[2].Client, "ConfigMap", "default", 2, workload.Options{Prefix: "after-delete"})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = converge.WaitConverged(ctx, f.Members[2].Client, uids[2], sim1, noSecrets, 2*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sim2.Cluster(uids[2]).Events).To(Equal(before), "the deleted agent sends nothing more")
	})

	t.Run("each rejection has its condition and an actionable message", func(t *testing.T) {
		putSecret(ctx, g, hc, hubNamespace, "no-key", map[string][]byte{"client_id": []byte("x")})
		g.Expect(hc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}})).To(Succeed())
		putSecret(ctx, g, hc, "tenant", "obsyk-credentials", credsData(main))
		cases := []struct {
			name      string
			agent     *obsykv1.ObsykAgent
			condition string
			reason    string
			message   string
		}{
			{"a missing credentials Secret", newAgent(hubNamespace, "r-nosecret", sim1.URL(), f.Members[0].Name, "absent"),
				controllers.ConditionCredentialsValid, controllers.ReasonSecretNotFound, "does not exist"},
			{"a Secret without private_key", newAgent(hubNamespace, "r-nokey", sim2.URL(), f.Members[1].Name, "no-key"),
				controllers.ConditionCredentialsValid, controllers.ReasonSecretMissingKeys, "private_key"},
			{"an unknown cluster", newAgent(hubNamespace, "r-unknown", sim1.URL(), "nowhere", "obsyk-credentials"),
				controllers.ConditionClusterConnected, controllers.ReasonClusterNotFound, "cluster add --name nowhere"},
			{"a namespace not entitled to the cluster", newAgent("tenant", "r-tenant", sim2.URL(), f.Members[0].Name, "obsyk-credentials"),
				controllers.ConditionClusterConnected, controllers.ReasonNotEntitled, "obsyk.io/allowed-namespaces"},
			{"an http platform URL", newAgent(hubNamespace, "r-http", "http://platform.example", f.Members[0].Name, "obsyk-credentials"),
				controllers.ConditionPlatformReachable, controllers.ReasonInsecurePlatformURL, "https://"},
			{"a second agent for the same cluster and platform", newAgent(hubNamespace, "r-dup", sim1.URL(), f.Members[1].Name, "obsyk-credentials"),
				controllers.ConditionReady, controllers.ReasonDuplicateTarget, "agent-1"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				g := NewWithT(t)
				g.Expect(hc.Create(ctx, tc.agent)).To(Succeed())
				g.Eventually(func(g Gomega) {
					a := getAgent(ctx, g, hc, tc.agent.Namespace, tc.agent.Name)
					c := condition(a, tc.condition)
					g.Expect(c.Status).To(Equal(metav1.ConditionFalse), "%+v", a.Status.Conditions)
					g.Expect(c.Reason).To(Equal(tc.reason))
					g.Expect(c.Message).To(ContainSubstring(tc.message))
					ready := condition(a, controllers.ConditionReady)
					g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
					g.Expect(ready.Reason).To(Equal(tc.reason))
				}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
			})
		}
		// The first agent for the cluster is not affected by the duplicate.
		g.Expect(condition(getAgent(ctx, g, hc, hubNamespace, "agent-1"), controllers.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	})

	t.Run("a stop during churn ends within the drain bound, and a restart converges", func(t *testing.T) {
		g := NewWithT(t)
		churn, stopChurn := context.WithCancel(ctx)
		churned := make(chan struct{})
		go func() {
			defer close(churned)
			for i := 0; churn.Err() == nil; i++ {
				_, _ = workload.Create(churn, f.Members[0].Client, "ConfigMap", "default", 5, workload.Options{Prefix: fmt.Sprintf("churn-%d", i)})
			}
		}()
		g.Eventually(func() int { return sim2.Cluster(uids[0]).Events }).WithTimeout(time.Minute).Should(BeNumerically(">", 10))
		took, err := hub.stop()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(took).To(BeNumerically("<", 5*time.Second+10*time.Second), "drain bound 5s plus slack for a loaded machine")
		stopChurn()
		<-churned
		hub = startHub(t, f, log, sim1, sim2)
		_, err = converge.WaitConverged(ctx, f.Members[0].Client, uids[0], sim2, noSecrets, 3*time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
	})

	t.Run("no key, assertion or token appears in status, events or logs", func(t *testing.T) {
		g := NewWithT(t)
		var agents obsykv1.ObsykAgentList
		g.Expect(hc.List(ctx, &agents)).To(Succeed())
		var evs eventsv1.EventList
		g.Expect(hc.List(ctx, &evs)).To(Succeed())
		g.Expect(len(evs.Items)).To(BeNumerically(">", 0), "transitions are recorded as Events")
		var text strings.Builder
		for _, a := range agents.Items {
			fmt.Fprintf(&text, "%+v\n", a.Status)
		}
		for _, e := range evs.Items {
			fmt.Fprintf(&text, "%s %s\n", e.Reason, e.Note)
		}
		all := text.String() + logs.String()
		g.Expect(logs.String()).NotTo(BeEmpty())
		keyBody := strings.Split(string(main.pem), "\n")[1] // a line of base64 key material
		for _, needle := range []string{keyBody, "PRIVATE KEY", "eyJ" /* any JWT: assertion or token */} {
			g.Expect(linesWith(all, needle)).To(BeEmpty(), "%q leaked", needle)
		}
	})
}
