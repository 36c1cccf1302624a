package kind

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

// Member is one member cluster of the fleet and the ObsykAgent that streams it.
type Member struct {
	// Name is the cluster's name, as registered with the hub.
	Name string
	// Client is an administrator's client of the member, for the workload and the checker
	// (workload.NewClient raises its client-side rate limit).
	Client client.Client
	// Agent is the ObsykAgent in the hub cluster that streams the member to the simulator.
	Agent client.ObjectKey
	// ClientID is the platform client_id of the agent's credentials; give each agent its
	// own, so that the simulator's per-client counters are the agent's.
	ClientID string

	// uid is the member's cluster UID (its kube-system namespace's), set by Run.
	uid string
}

// Fleet is what the scenarios drive and check.
type Fleet struct {
	// Hub is an administrator's client of the hub cluster whose scheme knows obsyk.io/v1
	// (controllers.Scheme()).
	Hub client.Client
	// Members are the member clusters, each streamed by one agent.
	Members []*Member
}

// Options tune Run. The zero value runs the default scenarios with the default durations;
// the hub hooks are optional, and the scenarios that need one are skipped without it.
type Options struct {
	// ConvergeTimeout bounds each wait for convergence and for the agents' conditions.
	// Default 5m.
	ConvergeTimeout time.Duration
	// Churn is how long each churn phase changes objects in every member. Default 60s.
	Churn time.Duration
	// ChurnPause is the pause between two churn rounds in a member. Default 500ms.
	ChurnPause time.Duration
	// Outage is the length of the platform outage. Default 30s.
	Outage time.Duration
	// HubInstance identifies the running hub process(es), e.g. its pods' UIDs and restart
	// counts: "token-expiry" checks that it did not change (no restart). Default nil: not
	// checked.
	HubInstance func(ctx context.Context) (string, error)
	// RestartHub kills the hub the hard way (SIGKILL, no lease release) and lets it start
	// again. Default nil: the "hub-restart" scenario is skipped.
	RestartHub func(ctx context.Context) error
	// HubLogs returns the hub's log so far. Default nil: the "logs" scenario is skipped.
	HubLogs func(ctx context.Context) (string, error)
	// PrivateKeys are the agents' private keys (PEM): no line of them may appear in the
	// hub's log.
	PrivateKeys [][]byte
	// Log receives one line per step. Default io.Discard.
	Log io.Writer
}

func (o Options) withDefaults() Options {
	if o.ConvergeTimeout <= 0 {
		o.ConvergeTimeout = 5 * time.Minute
	}
	if o.Churn <= 0 {
		o.Churn = 60 * time.Second
	}
	if o.ChurnPause <= 0 {
		o.ChurnPause = 500 * time.Millisecond
	}
	if o.Outage <= 0 {
		o.Outage = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Result is the outcome of one scenario that ran.
type Result struct {
	// Scenario is the scenario's name.
	Scenario string
	// Converged is how long the fleet took to converge (every member's platform state equal
	// to its live state, every agent Ready) after the scenario's disturbance ended; 0 for
	// "logs", which only checks.
	Converged time.Duration
}

// Scenarios are the names of Run's scenarios, in the order they run.
var Scenarios = []string{"initial", "churn", "outage", "faults", "token-expiry", "logs", "hub-restart"}

// Seed creates perKind objects of each of the 20 contract kinds in every member (see
// workload.Seed), so that the agents' first snapshots carry all of them.
func Seed(ctx context.Context, members []*Member, perKind int) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range members {
		g.Go(func() error {
			if _, err := workload.Seed(gctx, m.Client, perKind, workload.Options{}); err != nil {
				return fmt.Errorf("seed member %s: %w", m.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Run runs the scenarios in order against a fleet whose agents already exist, and returns
// the results of those that ran. It stops at the first scenario that fails.
//
//   - initial: every member converges (pre-existing objects of all kinds) and every agent
//     is Ready;
//   - churn: creates, updates and deletes in every member for Options.Churn; converged, and
//     no agent's client exceeded its rate limit plus burst on the simulator;
//   - outage: the platform answers 503 for Options.Outage during churn; every agent's
//     PlatformReachable condition shows it, and after it the fleet converges;
//   - faults: during churn and until converged, 20% of requests get a 5xx, some a 429 with
//     Retry-After and some responses are dropped after the platform applied them;
//   - token-expiry: the platform expires every token mid-churn; converged, tokens were
//     fetched again, and the hub did not restart (Options.HubInstance);
//   - logs: the hub's log holds no private key, token or assertion (Options.HubLogs);
//   - hub-restart: the hub is killed during churn and starts again (Options.RestartHub);
//     every agent sends a fresh snapshot and the fleet converges.
func Run(ctx context.Context, f Fleet, sim *Simulator, opts Options) ([]Result, error) {
	r := &runner{fleet: f, sim: sim, opts: opts.withDefaults()}
	for _, m := range f.Members {
		uid, err := converge.ClusterUID(ctx, m.Client)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", m.Name, err)
		}
		m.uid = uid
	}
	steps := map[string]func(context.Context) (time.Duration, error){
		"initial":      r.initial,
		"churn":        r.churnScenario,
		"outage":       r.outage,
		"faults":       r.faults,
		"token-expiry": r.tokenExpiry,
		"logs":         r.logs,
		"hub-restart":  r.hubRestart,
	}
	var results []Result
	for _, name := range Scenarios {
		switch {
		case name == "logs" && r.opts.HubLogs == nil, name == "hub-restart" && r.opts.RestartHub == nil:
			r.logf("scenario %s: skipped (no hub hook)", name)
			continue
		}
		r.logf("scenario %s: starting", name)
		took, err := steps[name](ctx)
		if err != nil {
			return results, fmt.Errorf("scenario %s: %w", name, err)
		}
		if name == "logs" {
			r.logf("scenario %s: passed", name)
		} else {
			r.logf("scenario %s: converged in %s", name, took.Round(100*time.Millisecond))
		}
		results = append(results, Result{Scenario: name, Converged: took})
	}
	return results, nil
}

type runner struct {
	fleet Fleet
	sim   *Simulator
	opts  Options
	logMu sync.Mutex // guards writes to opts.Log
}

func (r *runner) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.opts.Log, "%s "+format+"\n", append([]any{time.Now().Format(time.TimeOnly)}, args...)...)
}

// converged waits until every member converged and every agent is Ready, and returns how
// long that took.
func (r *runner) converged(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range r.fleet.Members {
		g.Go(func() error {
			_, err := converge.WaitConverged(gctx, m.Client, m.uid, r.sim,
				converge.Options{ExcludeKinds: []string{"Secret"}, PollInterval: time.Second}, r.opts.ConvergeTimeout)
			if err != nil {
				return fmt.Errorf("member %s: %w", m.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	err := r.waitAgents(ctx, "Ready", func(a *obsykv1.ObsykAgent) string {
		if c := meta.FindStatusCondition(a.Status.Conditions, controllers.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Sprintf("not Ready: %+v", a.Status.Conditions)
		}
		return ""
	})
	return time.Since(start), err
}

// waitAgents polls every agent until check returns "" for all of them, or fails with the
// last reasons after Options.ConvergeTimeout.
func (r *runner) waitAgents(ctx context.Context, what string, check func(*obsykv1.ObsykAgent) string) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.ConvergeTimeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var failing []string
		for _, m := range r.fleet.Members {
			var a obsykv1.ObsykAgent
			if err := r.fleet.Hub.Get(ctx, m.Agent, &a); err != nil {
				failing = append(failing, fmt.Sprintf("%s: %v", m.Agent, err))
				continue
			}
			if why := check(&a); why != "" {
				failing = append(failing, fmt.Sprintf("%s: %s", m.Agent, why))
			}
		}
		if len(failing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agents not %s within %s: %s", what, r.opts.ConvergeTimeout, strings.Join(failing, "; "))
		case <-tick.C:
		}
	}
}

// churn changes objects in every member until d has passed: each round creates
// ConfigMaps, a Service, a ServiceAccount and a Role, changes those of the round before and
// deletes those of two rounds before, in a namespace of its own.
func (r *runner) churn(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range r.fleet.Members {
		g.Go(func() error { return churnMember(gctx, m, r.opts.ChurnPause) })
	}
	return g.Wait()
}

// churnMember is one member's churn, until ctx ends (which is not an error).
func churnMember(ctx context.Context, m *Member, pause time.Duration) error {
	// The churn's end is its context's deadline. client-go's rate limiter refuses a wait
	// that would outlast the deadline before the deadline passes: that is the end too.
	var stoppedErr error
	stopped := func() bool {
		return ctx.Err() != nil || (stoppedErr != nil && strings.Contains(stoppedErr.Error(), "would exceed context deadline"))
	}
	nsRefs, err := workload.Create(ctx, m.Client, "Namespace", "", 1, workload.Options{Prefix: "churn"})
	if err != nil {
		if stoppedErr = err; stopped() {
			return nil
		}
		return fmt.Errorf("churn member %s: %w", m.Name, err)
	}
	ns := nsRefs[0].Name
	var rounds [][]workload.Ref
	for round := 0; ; round++ {
		var created []workload.Ref
		for _, c := range []struct {
			kind string
			n    int
		}{{"ConfigMap", 3}, {"Service", 1}, {"ServiceAccount", 1}, {"Role", 1}} {
			refs, err := workload.Create(ctx, m.Client, c.kind, ns, c.n, workload.Options{Prefix: fmt.Sprintf("churn-%d", round)})
			created = append(created, refs...)
			if err != nil {
				if stoppedErr = err; stopped() {
					return nil
				}
				return fmt.Errorf("churn member %s: %w", m.Name, err)
			}
		}
		if n := len(rounds); n >= 1 {
			if err := workload.Mutate(ctx, m.Client, rounds[n-1], workload.Options{}); err != nil {
				if stoppedErr = err; stopped() {
					return nil
				}
				return fmt.Errorf("churn member %s: %w", m.Name, err)
			}
		}
		if n := len(rounds); n >= 2 {
			if err := workload.Delete(ctx, m.Client, rounds[n-2], workload.Options{}); err != nil {
				if stoppedErr = err; stopped() {
					return nil
				}
				return fmt.Errorf("churn member %s: %w", m.Name, err)
			}
			rounds[n-2] = nil
		}
		rounds = append(rounds, created)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// churnWhile runs churn for d and, at the same time, during; it returns when both ended.
func (r *runner) churnWhile(ctx context.Context, d time.Duration, during func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.churn(gctx, d) })
	g.Go(func() error { return during(gctx) })
	return g.Wait()
}

// after waits d, or until ctx ends.
func after(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *runner) initial(ctx context.Context) (time.Duration, error) {
	return r.converged(ctx)
}

func (r *runner) churnScenario(ctx context.Context) (time.Duration, error) {
	if err := r.churn(ctx, r.opts.Churn); err != nil {
		return 0, err
	}
	took, err := r.converged(ctx)
	if err != nil {
		return 0, err
	}
	return took, r.checkRates(ctx)
}

// checkRates fails unless every agent's client sent events and never more per second than
// its rate limit plus burst.
func (r *runner) checkRates(ctx context.Context) error {
	stats, err := r.sim.Stats(ctx)
	if err != nil {
		return err
	}
	for _, m := range r.fleet.Members {
		var a obsykv1.ObsykAgent
		if err := r.fleet.Hub.Get(ctx, m.Agent, &a); err != nil {
			return err
		}
		rate, burst := int32(10), int32(20) // the CRD's defaults
		if rl := a.Spec.RateLimit; rl != nil {
			rate, burst = cmpOr(rl.EventsPerSecond, rate), cmpOr(rl.BurstSize, burst)
		}
		cs, ok := stats.Clients[m.ClientID]
		if !ok || cs.Events == 0 {
			return fmt.Errorf("agent %s: the simulator accepted no events from client %q", m.Agent, m.ClientID)
		}
		if cs.MaxEventsPerSecond > int(rate+burst) {
			return fmt.Errorf("agent %s: %d events in one second, above its rate limit %d/s plus burst %d",
				m.Agent, cs.MaxEventsPerSecond, rate, burst)
		}
		r.logf("agent %s: at most %d events/s (limit %d/s, burst %d)", m.Agent, cs.MaxEventsPerSecond, rate, burst)
	}
	return nil
}

func cmpOr(v, def int32) int32 {
	if v > 0 {
		return v
	}
	return def
}

func (r *runner) outage(ctx context.Context) (time.Duration, error) {
	var unseen []string
	err := r.churnWhile(ctx, r.opts.Outage, func(ctx context.Context) error {
		if _, err := r.sim.Inject(ctx, platform.FaultRequest{Mode: platform.FaultStatus, Status: 503, For: r.opts.Outage.String()}); err != nil {
			return err
		}
		// Every agent's status must show the outage while it lasts (with a little slack for
		// a status write in flight when it ends).
		seen := map[client.ObjectKey]bool{}
		deadline := time.Now().Add(r.opts.Outage + 5*time.Second)
		for len(seen) < len(r.fleet.Members) && time.Now().Before(deadline) {
			for _, m := range r.fleet.Members {
				var a obsykv1.ObsykAgent
				if err := r.fleet.Hub.Get(ctx, m.Agent, &a); err != nil {
					continue
				}
				c := meta.FindStatusCondition(a.Status.Conditions, controllers.ConditionPlatformReachable)
				if c != nil && c.Status == metav1.ConditionFalse && c.Reason == controllers.ReasonPlatformUnavailable {
					seen[m.Agent] = true
				}
			}
			if err := after(ctx, 500*time.Millisecond); err != nil {
				return err
			}
		}
		for _, m := range r.fleet.Members {
			if !seen[m.Agent] {
				unseen = append(unseen, m.Agent.String())
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := r.sim.ClearFaults(ctx); err != nil {
		return 0, err
	}
	if len(unseen) > 0 {
		return 0, fmt.Errorf("the status of %s never showed the outage (PlatformReachable False, %s)",
			strings.Join(unseen, ", "), controllers.ReasonPlatformUnavailable)
	}
	return r.converged(ctx)
}

func (r *runner) faults(ctx context.Context) (time.Duration, error) {
	before, err := r.sim.Stats(ctx)
	if err != nil {
		return 0, err
	}
	// Faults are consulted in this order; the first that hits decides. The counted ones hit
	// the first requests for sure; the 20% 5xx lasts until the fleet converged.
	faults := []platform.FaultRequest{
		{Mode: platform.FaultRateLimited, RetryAfter: "1s", Count: 2},
		{Mode: platform.FaultDropResponse, Count: 2},
		{Mode: platform.FaultStatus, Status: 500, Count: 2},
		{Mode: platform.FaultStatus, Status: 503, Probability: 0.2},
	}
	for _, f := range faults {
		if _, err := r.sim.Inject(ctx, f); err != nil {
			return 0, err
		}
	}
	if err := r.churn(ctx, r.opts.Churn); err != nil {
		return 0, err
	}
	took, err := r.converged(ctx)
	if err != nil {
		return 0, err
	}
	if err := r.sim.ClearFaults(ctx); err != nil {
		return 0, err
	}
	afterStats, err := r.sim.Stats(ctx)
	if err != nil {
		return 0, err
	}
	for _, mode := range []platform.FaultMode{platform.FaultRateLimited, platform.FaultDropResponse, platform.FaultStatus} {
		if hits := afterStats.FaultHits[mode] - before.FaultHits[mode]; hits < 2 {
			return 0, fmt.Errorf("the %s fault hit %d requests: the scenario did not exercise it", mode, hits)
		}
	}
	return took, nil
}

func (r *runner) tokenExpiry(ctx context.Context) (time.Duration, error) {
	before, err := r.sim.Stats(ctx)
	if err != nil {
		return 0, err
	}
	instance, err := r.hubInstance(ctx)
	if err != nil {
		return 0, err
	}
	err = r.churnWhile(ctx, r.opts.Churn, func(ctx context.Context) error {
		if err := after(ctx, r.opts.Churn/2); err != nil {
			return err
		}
		return r.sim.ExpireTokens(ctx)
	})
	if err != nil {
		return 0, err
	}
	took, err := r.converged(ctx)
	if err != nil {
		return 0, err
	}
	st, err := r.sim.Stats(ctx)
	if err != nil {
		return 0, err
	}
	if st.TokenExpiries <= before.TokenExpiries {
		return 0, fmt.Errorf("the simulator did not expire the tokens")
	}
	for _, m := range r.fleet.Members {
		if st.Clients[m.ClientID].TokensIssued <= before.Clients[m.ClientID].TokensIssued {
			return 0, fmt.Errorf("agent %s fetched no new token after the expiry", m.Agent)
		}
	}
	now, err := r.hubInstance(ctx)
	if err != nil {
		return 0, err
	}
	if now != instance {
		return 0, fmt.Errorf("the hub restarted: %q, then %q", instance, now)
	}
	return took, nil
}

func (r *runner) hubInstance(ctx context.Context) (string, error) {
	if r.opts.HubInstance == nil {
		return "", nil
	}
	id, err := r.opts.HubInstance(ctx)
	if err != nil {
		return "", fmt.Errorf("identify the hub: %w", err)
	}
	return id, nil
}

func (r *runner) logs(ctx context.Context) (time.Duration, error) {
	text, err := r.opts.HubLogs(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the hub's log: %w", err)
	}
	if strings.TrimSpace(text) == "" {
		return 0, fmt.Errorf("the hub's log is empty")
	}
	needles := []string{"PRIVATE KEY", "eyJ" /* any JWT: assertion, access token, member token */}
	for _, key := range r.opts.PrivateKeys {
		block, _ := pem.Decode(key)
		if block == nil {
			return 0, fmt.Errorf("a private key is not PEM")
		}
		for _, line := range bytes.Split(pem.EncodeToMemory(block), []byte("\n")) {
			if len(line) >= 32 && !bytes.HasPrefix(line, []byte("-----")) {
				needles = append(needles, string(line))
			}
		}
	}
	for _, needle := range needles {
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, needle) {
				return 0, fmt.Errorf("the hub's log holds %q in: %.300s", needle[:min(len(needle), 12)], line)
			}
		}
	}
	r.logf("hub log: %d lines, no key, token or assertion", strings.Count(text, "\n"))
	return 0, nil
}

func (r *runner) hubRestart(ctx context.Context) (time.Duration, error) {
	snapshots := make([]int, len(r.fleet.Members))
	for i, m := range r.fleet.Members {
		snapshots[i] = r.sim.Cluster(m.uid).Snapshots
	}
	err := r.churnWhile(ctx, r.opts.Churn, func(ctx context.Context) error {
		if err := after(ctx, r.opts.Churn/3); err != nil {
			return err
		}
		return r.opts.RestartHub(ctx)
	})
	if err != nil {
		return 0, err
	}
	took, err := r.converged(ctx)
	if err != nil {
		return 0, err
	}
	var stale []string
	for i, m := range r.fleet.Members {
		if r.sim.Cluster(m.uid).Snapshots <= snapshots[i] {
			stale = append(stale, m.Name)
		}
	}
	if len(stale) > 0 {
		slices.Sort(stale)
		return 0, fmt.Errorf("no fresh snapshot after the restart for %s", strings.Join(stale, ", "))
	}
	return took, nil
}
