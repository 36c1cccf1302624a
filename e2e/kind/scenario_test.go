package kind_test

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
	"net/http/httptest"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/kind"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

const hubNamespace = "obsyk-system"

// chartCRDs is the directory of the CRD the chart installs.
func chartCRDs() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "charts", "obsyk-hub", "files", "crds")
}

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

// testLog writes each line to t.Log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// inProcessHub starts and restarts a hub in the test's process.
type inProcessHub struct {
	t     *testing.T
	fleet *testbed.Fleet
	ca    []byte
	log   logr.Logger

	mu      sync.Mutex // guards cancel, done, starts
	cancel  context.CancelFunc
	done    chan error
	starts  int
	stopErr error
}

func (h *inProcessHub) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hub, err := controllers.NewHub(ctx, h.fleet.Hub.Config, controllers.HubOptions{
		Namespace:        hubNamespace,
		DrainTimeout:     5 * time.Second,
		PlatformCABundle: h.ca,
		Metrics:          prometheus.NewRegistry(),
		Logger:           h.log,
		Registry: clusterregistry.Options{
			ProbeInterval: time.Second, ReconnectBackoff: 200 * time.Millisecond, ReconnectBackoffMax: 2 * time.Second,
		},
		Reconciler: controllers.ReconcilerOptions{StatusInterval: 2 * time.Second, CredentialsRecheck: 2 * time.Second},
	})
	if err != nil {
		cancel()
		h.t.Fatalf("new hub: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- hub.Start(ctx) }()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cancel, h.done = cancel, done
	h.starts++
}

func (h *inProcessHub) stop() error {
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.cancel, h.done = nil, nil
	h.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	return <-done
}

func (h *inProcessHub) instance(context.Context) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("start %d", h.starts), nil
}

func (h *inProcessHub) restart(context.Context) error {
	if err := h.stop(); err != nil {
		return err
	}
	h.start()
	return nil
}

// TestScenariosOnTheTestBed runs the kind scenarios (kind.Run) against the test bed: a hub
// control plane and two members, the hub in-process, the simulator in-process behind its
// admin API, which the scenarios reach only over HTTP as they reach a simulator in a kind
// cluster. Durations are short; `make test-e2e-kind` runs the same code at full length.
func TestScenariosOnTheTestBed(t *testing.T) {
	g := NewWithT(t)
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	f := testbed.NewTestFleet(t, testbed.FleetOptions{
		Members: 2,
		Hub:     testbed.ClusterOptions{CRDDirectoryPaths: []string{chartCRDs()}, Scheme: controllers.Scheme()},
	})
	hc := f.Hub.Client
	g.Expect(hc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNamespace}})).To(Succeed())

	sim := platform.StartForTest(t, platform.Options{})
	adminServer := httptest.NewServer(sim.AdminHandler())
	t.Cleanup(adminServer.Close)
	remote := kind.NewSimulator(adminServer.URL)
	g.Expect(remote.WaitReady(ctx, time.Minute)).To(Succeed())
	ca, err := remote.CA(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ca).To(Equal(sim.CACertPEM()))

	var members []*kind.Member
	var privateKeys [][]byte
	for _, m := range f.Members {
		_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
			Name: m.Name, Member: m.Config, Hub: hc, Namespace: hubNamespace, LegacyTokenWait: -1,
		})
		g.Expect(err).NotTo(HaveOccurred())
		mc, err := workload.NewClient(m.Config)
		g.Expect(err).NotTo(HaveOccurred())

		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		g.Expect(err).NotTo(HaveOccurred())
		der, err := x509.MarshalECPrivateKey(key)
		g.Expect(err).NotTo(HaveOccurred())
		pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		g.Expect(err).NotTo(HaveOccurred())
		clientID := "kind-" + m.Name
		g.Expect(remote.RegisterClient(ctx, clientID, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))).To(Succeed())
		privatePEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		privateKeys = append(privateKeys, privatePEM)
		secret := "obsyk-credentials-" + m.Name
		g.Expect(hc.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: secret},
			Data:       map[string][]byte{"client_id": []byte(clientID), "private_key": privatePEM},
		})).To(Succeed())
		members = append(members, &kind.Member{
			Name: m.Name, Client: mc, ClientID: clientID,
			Agent: client.ObjectKey{Namespace: hubNamespace, Name: m.Name},
		})
	}
	g.Expect(kind.Seed(ctx, members, 2)).To(Succeed())

	logs := &logBuffer{}
	hub := &inProcessHub{t: t, fleet: f, ca: ca,
		log: logr.FromSlogHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.Level(-controllers.MaxLogVerbosity)}))}
	hub.start()
	t.Cleanup(func() { _ = hub.stop() })
	for _, m := range members {
		g.Expect(hc.Create(ctx, &obsykv1.ObsykAgent{
			ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: m.Name},
			Spec: obsykv1.ObsykAgentSpec{
				PlatformURL: sim.URL(), ClusterName: m.Name,
				ClusterRef:           &obsykv1.ClusterReference{Name: m.Name},
				CredentialsSecretRef: obsykv1.SecretReference{Name: "obsyk-credentials-" + m.Name},
				SyncInterval:         "5s",
				RateLimit:            &obsykv1.RateLimitConfig{EventsPerSecond: 20, BurstSize: 40},
			},
		})).To(Succeed())
	}

	results, err := kind.Run(ctx, kind.Fleet{Hub: hc, Members: members}, remote, kind.Options{
		ConvergeTimeout: 3 * time.Minute,
		Churn:           6 * time.Second,
		ChurnPause:      200 * time.Millisecond,
		Outage:          8 * time.Second,
		HubInstance:     hub.instance,
		RestartHub:      hub.restart,
		HubLogs:         func(context.Context) (string, error) { return logs.String(), nil },
		PrivateKeys:     privateKeys,
		Log:             testLog{t},
	})
	g.Expect(err).NotTo(HaveOccurred())
	var ran []string
	for _, r := range results {
		ran = append(ran, r.Scenario)
	}
	g.Expect(ran).To(Equal(kind.Scenarios), "every scenario ran")
}
