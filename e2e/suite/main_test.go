package suite

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

const (
	hubNamespace = "obsyk-system"
	// members is the number of member clusters TestMain starts; scenario 10 adds one more.
	members = 3
	// watchCacheOffMember is the member whose kube-apiserver runs with --watch-cache=false.
	watchCacheOffMember = 2
	// secretsMember is the member registered with --collect-secrets whose agent lists Secret.
	secretsMember = 0
	// seedPerKind objects of every kind are in each member before the hub starts.
	seedPerKind = 3
	// rateLimit and rateBurst are every agent's spec.rateLimit.
	rateLimit, rateBurst = 25, 25

	// setupTimeout bounds TestMain's set-up: the build, the fleet, registration, seeding.
	setupTimeout = 15 * time.Minute
	// memberStopTimeout bounds a member process's graceful stop. The test bed's default
	// (20 s) is too short for a kube-apiserver with the hub's watches on a loaded machine,
	// and after such a timeout envtest cannot start that kube-apiserver again (scenario 6).
	memberStopTimeout = 90 * time.Second
)

// s is the suite's shared state, set up by TestMain for every test of the package.
var s *suite

// suite is the fleet, the simulator and the hub process the scenarios share.
type suite struct {
	dir     string // work directory: binary, kubeconfigs, CA, hub log
	fleet   *testbed.Fleet
	sim     *platform.Server
	hubBin  string
	hubKC   string // hub admin kubeconfig file
	simCA   string // simulator CA file
	hubLog  string
	metrics string // host:port of the hub's /metrics
	probes  string // host:port of the hub's /healthz and /readyz

	// bg is the context of the background servers (simulator, proxies); stopBG ends it and
	// bgWG waits for them.
	bg     context.Context
	stopBG context.CancelFunc
	bgWG   sync.WaitGroup

	// mu guards hub, members, needles, times and extra.
	mu      sync.Mutex
	hub     *hubProcess
	members []*member
	// needles are strings that must never appear in the hub's log (scenario 12): key
	// material, tokens, kubeconfig contents.
	needles map[string]string // needle -> what it is
	// times are the measured convergence times, for the summary.
	times []measured
	// extra are clusters started by scenarios, stopped at the end.
	extra []*testbed.Cluster

	// initial is closed once every member converged after the hub's first start.
	initialOnce sync.Once
	initial     chan struct{}
	hubStarted  time.Time
}

// measured is one convergence time.
type measured struct {
	scenario, cluster string
	took              time.Duration
}

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	ctrllog.SetLogger(logr.Discard())
	code := func() int {
		var err error
		s, err = setUp()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e suite: set-up failed: %v\n", err)
			if s != nil {
				s.tearDown(true)
			}
			return 1
		}
		code := m.Run()
		s.printSummary()
		if err := s.tearDown(code != 0); err != nil {
			fmt.Fprintf(os.Stderr, "e2e suite: %v\n", err)
			code = 1
		}
		return code
	}()
	os.Exit(code)
}

// repoRoot is the repository root, found from this file's path.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func setUp() (*suite, error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "obsyk-e2e-")
	if err != nil {
		return nil, err
	}
	st := &suite{dir: dir, needles: map[string]string{}, initial: make(chan struct{})}
	st.bg, st.stopBG = context.WithCancel(context.Background())
	st.hubBin = filepath.Join(dir, "obsyk-hub")
	st.hubKC = filepath.Join(dir, "hub.kubeconfig")
	st.simCA = filepath.Join(dir, "platform-ca.pem")
	st.hubLog = filepath.Join(dir, "hub.log")
	progress("work directory %s", dir)

	// The build and the fleet are independent; both take a while.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		t0 := time.Now()
		if err := buildHub(gctx, st.hubBin); err != nil {
			return err
		}
		progress("hub binary built in %s", since(t0))
		return nil
	})
	g.Go(func() error {
		t0 := time.Now()
		f, err := testbed.StartFleet(gctx, testbed.FleetOptions{
			Members: members,
			Hub: testbed.ClusterOptions{
				CRDDirectoryPaths: []string{filepath.Join(repoRoot(), "charts", "obsyk-hub", "files", "crds")},
				Scheme:            controllers.Scheme(),
			},
			MemberOptions: func(i int) testbed.ClusterOptions {
				return testbed.ClusterOptions{WatchCacheDisabled: i == watchCacheOffMember, StopTimeout: memberStopTimeout}
			},
		})
		if err != nil {
			return err
		}
		st.fleet = f
		progress("fleet (hub + %d members) up in %s", members, since(t0))
		return nil
	})
	if err := g.Wait(); err != nil {
		return st, err
	}

	sim, err := platform.New(platform.Options{RequestLogSize: 20000})
	if err != nil {
		return st, err
	}
	st.sim = sim
	st.bgWG.Go(func() { _ = sim.Start(st.bg) })
	if err := os.WriteFile(st.simCA, sim.CACertPEM(), 0o600); err != nil {
		return st, err
	}
	hubKC, err := st.fleet.Hub.AdminKubeconfig()
	if err != nil {
		return st, err
	}
	if err := os.WriteFile(st.hubKC, hubKC, 0o600); err != nil {
		return st, err
	}
	st.addNeedle(clientKeyData(hubKC), "the hub admin kubeconfig's client key")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNamespace}}
	if err := st.fleet.Hub.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return st, fmt.Errorf("create hub namespace: %w", err)
	}
	if st.metrics, err = freeAddr(); err != nil {
		return st, err
	}
	if st.probes, err = freeAddr(); err != nil {
		return st, err
	}

	// Members: proxy, registration with the CLI, seed, credentials and agent — in parallel.
	t0 := time.Now()
	g, gctx = errgroup.WithContext(ctx)
	ms := make([]*member, members)
	for i, c := range st.fleet.Members {
		g.Go(func() error {
			m, err := st.addMember(gctx, c, i == secretsMember)
			ms[i] = m
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return st, err
	}
	st.members = ms
	progress("%d members registered (obsyk-hub cluster add), seeded and given agents in %s", members, since(t0))

	h, err := st.startHub(ctx)
	if err != nil {
		return st, err
	}
	st.mu.Lock()
	st.hub = h
	st.hubStarted = h.started
	st.mu.Unlock()
	progress("hub running (pid %d); set-up took %s", h.pid(), since(started))
	return st, nil
}

// tearDown stops the hub (SIGTERM; an unclean exit is an error), the proxies, the simulator
// and the clusters. The work directory is kept, with its path printed, when failed or when
// OBSYK_E2E_KEEP is set.
func (st *suite) tearDown(failed bool) error {
	var errs []error
	st.mu.Lock()
	h := st.hub
	st.mu.Unlock()
	if h != nil {
		if err := h.stop(30 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("hub did not stop cleanly on SIGTERM: %w", err))
		}
	}
	st.stopBG()
	st.bgWG.Wait()
	st.mu.Lock()
	extra := st.extra
	st.mu.Unlock()
	for _, c := range extra {
		errs = append(errs, c.Stop())
	}
	if st.fleet != nil {
		errs = append(errs, st.fleet.Stop())
	}
	err := errors.Join(errs...)
	if failed || err != nil || os.Getenv("OBSYK_E2E_KEEP") != "" {
		fmt.Fprintf(os.Stderr, "e2e suite: work directory kept: %s (hub log: %s)\n", st.dir, st.hubLog)
	} else {
		_ = os.RemoveAll(st.dir)
	}
	return err
}

// record keeps a convergence time for the summary.
func (st *suite) record(scenario, cluster string, took time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.times = append(st.times, measured{scenario, cluster, took})
}

// printSummary prints every measured convergence time, by scenario.
func (st *suite) printSummary() {
	st.mu.Lock()
	times := append([]measured(nil), st.times...)
	st.mu.Unlock()
	if len(times) == 0 {
		return
	}
	sort.SliceStable(times, func(i, j int) bool { return times[i].scenario < times[j].scenario })
	fmt.Println("\ne2e suite: convergence times (from the end of each scenario's fault)")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SCENARIO\tCLUSTER\tCONVERGED AFTER")
	for _, m := range times {
		fmt.Fprintf(w, "%s\t%s\t%s\n", m.scenario, m.cluster, m.took.Round(100*time.Millisecond))
	}
	_ = w.Flush()
}

// addNeedle records a string that must never appear in the hub's log.
func (st *suite) addNeedle(needle, what string) {
	needle = strings.TrimSpace(needle)
	if len(needle) < 8 {
		return // too short to be a meaningful search
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.needles[needle] = what
}

func progress(format string, args ...any) {
	fmt.Printf("e2e suite: "+format+"\n", args...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
