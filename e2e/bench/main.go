// Command bench is `make bench`: the end-to-end benchmark of the hub. It runs real control
// planes (kube-apiserver + etcd, see e2e/testbed), the platform simulator (e2e/platform, in
// this process) and the hub as a separate process (`obsyk-hub run`, built without -race),
// registers members with `obsyk-hub cluster add`, measures the six figures of the
// performance issue and writes e2e/bench/REPORT.md with PNG plots beside it:
//
//  1. delivery rate: a backlog drained by the hub beside a bare HTTP POST loop of the same
//     bodies, same concurrency, same simulator, same run;
//  2. latency: the create call's return to the simulator's acceptance of the matching
//     event, at 50 and 200 creates/s across three members;
//  3. bursts (default and lifted rate limit) and platform outages (503, then 429) inside a
//     steady run, with lost and ghost counts from the convergence checker;
//  4. hub memory (RSS from /proc, Go heap from /metrics) at idle and with many pods, at
//     rest and at the peak of the initial lists;
//  5. a snapshot of 100k objects: time and heap growth;
//  6. fleet start: ten members registered at once until every agent is Ready.
//
// QUICK=1 (or --quick) runs smaller sizes in a few minutes. The harness prints progress and
// exits non-zero with the reason when a step cannot complete; a target that is missed is
// a result, reported as such, not a failure. Scratch files (logs, kubeconfigs, profiles,
// the hub binary) go to e2e/bench/out/, which git ignores.
//
// Bulk objects (the memory levels, the snapshot, the bursts and the delivery backlog) are
// written straight into each member's etcd in kube-apiserver's storage encoding
// (--seed=etcd, the default), because creating 100k realistic Pods through kube-apiserver
// runs at about a hundred per second on these machines; --seed=api creates them through
// kube-apiserver instead. The latency probe and the outage churn always go through the API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/obsyk/obsyk-hub/e2e/platform"
)

// sizes are the knobs that QUICK shrinks.
type sizes struct {
	memLevels       []int         // total pods across the members at each memory level
	servicesPerPods int           // one Service per this many pods
	podsPerNS       int           // pods per namespace when seeding
	snapshotObjects int           // pods in member-0 for the snapshot measurement
	rateObjects     int           // backlog per member for the delivery rate, in each round
	rateHold        time.Duration // how long the first sends are held while the backlog builds
	latencyRates    []int         // creates per second
	latencyFor      time.Duration
	bursts          []int         // at the lifted limit
	defaultBursts   []int         // at the default limit
	outageRun       time.Duration // the steady run around each outage
	outage          time.Duration
	churnRate       int // changes per second in the steady run
	fleetMembers    int
	settle          time.Duration // wait after a start before "at rest" is sampled
	restWindow      time.Duration
}

var fullSizes = sizes{
	memLevels: []int{10_000, 50_000, 100_000}, servicesPerPods: 10, podsPerNS: 1000,
	snapshotObjects: 100_000, rateObjects: 1500, rateHold: 20 * time.Second,
	latencyRates: []int{50, 200}, latencyFor: 20 * time.Second,
	bursts: []int{5000, 20_000}, defaultBursts: []int{5000, 20_000}, outageRun: 150 * time.Second, outage: 60 * time.Second, churnRate: 50,
	fleetMembers: 10, settle: 6 * time.Second, restWindow: 4 * time.Second,
}

var quickSizes = sizes{
	memLevels: []int{2000, 5000}, servicesPerPods: 10, podsPerNS: 1000,
	snapshotObjects: 5000, rateObjects: 300, rateHold: 10 * time.Second,
	latencyRates: []int{50, 200}, latencyFor: 8 * time.Second,
	bursts: []int{1000, 3000}, defaultBursts: []int{1000}, outageRun: 20 * time.Second, outage: 8 * time.Second, churnRate: 50,
	fleetMembers: 3, settle: 3 * time.Second, restWindow: 2 * time.Second,
}

type options struct {
	quick  bool
	seed   string
	out    string
	report string // REPORT.md path; plots go beside it
	phases []string
	sz     sizes
}

// benchMemoryLimit is the benchmark process's Go memory limit unless GOMEMLIMIT is set.
const benchMemoryLimit = 10 << 30

// allPhases in the order they run.
var allPhases = []string{"idle", "delivery", "memory", "snapshot", "burst", "latency", "fleet"}

// env is everything a run holds.
type env struct {
	o         options
	root      string // repository root
	out       string
	crdDir    string
	hubBin    string
	caFile    string
	hubKeyPEM []byte
	// startLoad1 is the 1-minute load average before the run began.
	startLoad1 string

	hubKubeconfig string // of the fleet in use
	sim           *platform.Server
	stopSim       func() error
	fe            *fleetEnv // the main fleet: hub + 3 members
	hub           *hubProc  // the running hub process, if any
	rep           *report
	runStart      time.Time

	// Results shared between phases.
	bulk      bulk
	idle      *memLevel
	levels    []*memLevel
	latencies []*latencyResult
}

func main() {
	var o options
	fs := pflag.NewFlagSet("bench", pflag.ExitOnError)
	fs.BoolVar(&o.quick, "quick", os.Getenv("QUICK") == "1", "smaller sizes, a few minutes (default from QUICK=1)")
	fs.StringVar(&o.seed, "seed", seedEtcd, "how bulk objects get into members: etcd (kube-apiserver's storage, fast) or api (through kube-apiserver)")
	fs.StringVar(&o.out, "out", "", "scratch directory (default e2e/bench/out)")
	fs.StringVar(&o.report, "report", "", "report path (default e2e/bench/REPORT.md for a full run, <out>/REPORT.partial.md otherwise); plots go beside it")
	fs.StringSliceVar(&o.phases, "phases", allPhases, "phases to run: "+strings.Join(allPhases, ","))
	_ = fs.Parse(os.Args[1:])
	o.sz = fullSizes
	if o.quick {
		o.sz = quickSizes
	}
	if o.seed != seedEtcd && o.seed != seedAPI {
		fmt.Fprintf(os.Stderr, "bench: --seed must be etcd or api\n")
		os.Exit(2)
	}
	for _, p := range o.phases {
		if !contains(allPhases, p) {
			fmt.Fprintf(os.Stderr, "bench: unknown phase %q (want %s)\n", p, strings.Join(allPhases, ","))
			os.Exit(2)
		}
	}
	ctrllog.SetLogger(logr.Discard())
	// The simulator keeps every object it is sent as generic JSON values (~31 KiB per
	// realistic Pod): bound this process's heap so that the garbage of replaced snapshots
	// does not pile up.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(benchMemoryLimit)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := newEnv(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	runErr := e.run(ctx)
	cleanErr := e.cleanup()
	e.rep.finished = time.Now()
	reportPath := e.o.report
	if runErr != nil {
		e.rep.partial = "the run stopped early: " + oneLine(runErr.Error())
		reportPath = filepath.Join(e.out, "REPORT.failed.md")
	}
	if werr := e.writeReport(reportPath); werr != nil {
		fmt.Fprintf(os.Stderr, "bench: write report: %v\n", werr)
		if runErr == nil {
			runErr = werr
		}
	}
	if cleanErr != nil {
		fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", cleanErr)
	}
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "\nbench: FAILED after %s: %v\nbench: what was measured so far is in %s\n",
			time.Since(e.runStart).Round(time.Second), runErr, reportPath)
		os.Exit(1)
	}
	fmt.Printf("\nbench: done in %s; report %s\n", time.Since(e.runStart).Round(time.Second), reportPath)
}

func newEnv(o options) (*env, error) {
	_, file, _, _ := runtime.Caller(0)
	benchDir := filepath.Dir(file)
	root := filepath.Join(benchDir, "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return nil, fmt.Errorf("find the repository root from %s: %w", benchDir, err)
	}
	if o.out == "" {
		o.out = filepath.Join(benchDir, "out")
	}
	full := len(o.phases) == len(allPhases)
	if o.report == "" {
		if full {
			o.report = filepath.Join(benchDir, "REPORT.md")
		} else {
			o.report = filepath.Join(o.out, "REPORT.partial.md")
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	e := &env{
		o: o, root: root, out: o.out,
		crdDir:   filepath.Join(root, "charts", "obsyk-hub", "files", "crds"),
		runStart: time.Now(),
		rep:      &report{started: time.Now()},
		bulk:     bulk{pods: map[string]int{}, services: map[string]int{}, seeded: map[string]map[string][2]int{}},
	}
	if !full {
		e.rep.partial = "only the phases " + strings.Join(o.phases, ", ") + " ran (--phases)"
	}
	return e, nil
}

func (e *env) progress(format string, args ...any) {
	fmt.Printf("[%6.1fs] %s\n", time.Since(e.runStart).Seconds(), fmt.Sprintf(format, args...))
}

func (e *env) want(phase string) bool { return contains(e.o.phases, phase) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// run runs the phases in order.
func (e *env) run(ctx context.Context) error {
	gv := goVersion()
	start := loadavg()
	e.startLoad1, _, _ = strings.Cut(start, " ")
	e.rep.machine = append(machineInfo(gv), "load average (1/5/15 min) at start: "+start)
	mode := "full"
	if e.o.quick {
		mode = "QUICK=1 (smaller sizes)"
	}
	e.rep.commands = []string{
		"export KUBEBUILDER_ASSETS=" + os.Getenv("KUBEBUILDER_ASSETS"),
		"go run ./e2e/bench " + strings.Join(os.Args[1:], " ") + "   # " + mode + "; `make bench` / `QUICK=1 make bench` run the same",
	}
	e.progress("bench: %s run, seed=%s, phases %s, load %s", mode, e.o.seed, strings.Join(e.o.phases, ","), loadavg())

	if err := e.setup(ctx); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	steps := []struct {
		phase string
		run   func(context.Context) error
	}{
		{"idle", e.phaseIdle},
		{"delivery", e.phaseDelivery},
		{"memory", e.phaseMemory},
		{"snapshot", e.phaseSnapshot},
		{"burst", e.phaseBursts},
		{"latency", e.phaseLatency},
		{"fleet", e.phaseFleet},
	}
	for _, s := range steps {
		if !e.want(s.phase) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		e.progress("== phase %s (load %s)", s.phase, loadavg())
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("phase %s: %w", s.phase, err)
		}
	}
	e.rep.machine = append(e.rep.machine, "load average (1/5/15 min) at the end: "+loadavg())
	return nil
}

// setup builds the hub, starts the simulator and the main fleet, registers the members and
// creates their agents (rate limits lifted).
func (e *env) setup(ctx context.Context) error {
	t := time.Now()
	bin, err := buildHub(ctx, e.root, e.out)
	if err != nil {
		return err
	}
	e.hubBin = bin
	e.progress("built %s in %s", bin, secs(time.Since(t)))

	sim, err := platform.New(platform.Options{RequestLogSize: 1_000_000, MaxBodyBytes: 2 << 30})
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	e.sim = sim
	simCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Start(simCtx) }()
	e.stopSim = func() error { cancel(); return <-done }
	e.caFile = filepath.Join(e.out, "platform-ca.pem")
	if err := os.WriteFile(e.caFile, sim.CACertPEM(), 0o600); err != nil {
		return err
	}

	t = time.Now()
	fe, err := e.startFleetEnv(ctx, 3, true, "")
	e.fe = fe
	if err != nil {
		return fmt.Errorf("start the fleet: %w", err)
	}
	e.progress("fleet up in %s: hub + %d members (kube-apiserver --watch-cache=false)", secs(time.Since(t)), len(fe.members))
	if err := e.credentials(ctx, fe.hub); err != nil {
		return err
	}
	took, err := e.register(ctx, fe.members)
	if err != nil {
		return err
	}
	e.progress("registered %d members with `obsyk-hub cluster add` in %s", len(fe.members), secs(took))
	for _, m := range fe.members {
		if err := e.createAgent(ctx, fe.hub, m, liftedRate); err != nil {
			return err
		}
	}
	e.rep.notes = append(e.rep.notes,
		fmt.Sprintf("The benchmark's own processes (the control planes, the hub, and this process: simulator and driver) share the machine's %d cores, so the load averages in each section count them; before the run began the 1-minute load average was %s (above about 1, other jobs were running too and the figures are pessimistic).", runtime.NumCPU(), e.startLoad1),
		"Hub: `obsyk-hub run` built with `go build -trimpath` (no -race), a process of its own; RSS is VmRSS from /proc/<pid>/status, the Go heap is `go_memstats_heap_inuse_bytes` from its /metrics. The simulator and the driver run in the benchmark process.",
		"Members run kube-apiserver with `--watch-cache=false`, so that 100k+ Pods fit in the machine's memory (the watch cache costs ~60 KiB per realistic Pod); lists and watches are served by etcd. The fleet-start members keep the watch cache.",
		fmt.Sprintf("Bulk objects are written with --seed=%s (see each section); one ObsykAgent per member, spec.rateLimit 1000/s with a burst of 1000 (\"lifted\", the CRD's maximum) unless a section says otherwise; the hub runs %d sender workers per agent.", e.o.seed, hubWorkers),
	)
	return nil
}

// cleanup stops what run started, in reverse order.
func (e *env) cleanup() error {
	var errs []error
	if e.hub != nil {
		if _, err := e.hub.stop(); err != nil {
			errs = append(errs, err)
		}
		e.hub = nil
	}
	if e.fe != nil {
		if err := e.fe.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if e.stopSim != nil {
		if err := e.stopSim(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// restartHub stops the running hub (if any), starts a new one and waits until every member
// of the main fleet has a snapshot accepted from it. It returns the start time and when the
// last snapshot was accepted.
func (e *env) restartHub(ctx context.Context, name string) (time.Time, time.Time, error) {
	if e.hub != nil {
		took, err := e.hub.stop()
		e.hub = nil
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		e.progress("hub stopped in %s", secs(took))
	}
	h, err := e.startHub(ctx, name)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	e.hub = h
	got, err := e.waitSnapshots(ctx, h, e.fe.hub, e.fe.members, h.started, 5*time.Minute)
	if err != nil {
		return h.started, time.Time{}, err
	}
	var last time.Time
	for _, t := range got {
		if t.After(last) {
			last = t
		}
	}
	e.progress("hub %s: every agent's snapshot accepted %s after the start", name, secs(last.Sub(h.started)))
	return h.started, last, nil
}

// newSection starts a report section.
func (e *env) newSection(title string) *section {
	s := &section{title: title, loadStart: loadavg(), started: time.Now()}
	e.rep.sections = append(e.rep.sections, s)
	return s
}

func (s *section) end() {
	s.loadEnd = loadavg()
	s.took = time.Since(s.started)
}
