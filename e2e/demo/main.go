// Command demo is `make demo`: it starts a local fleet of real control planes (a hub and
// three members), the platform simulator, registers each member with the hub as a user
// would, seeds every member with objects of all 20 contract kinds, creates one ObsykAgent
// per member, runs the hub (the same controllers.Hub that `obsyk-hub run` runs, in this
// process), drives light churn, and prints a table every few seconds comparing each member
// with what the platform holds. It stops on Ctrl-C or after --duration and leaves nothing
// running.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
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

type options struct {
	duration time.Duration
	members  int
	perKind  int
	interval time.Duration
	dir      string // parent of the control planes' temporary directories; "" = os.TempDir()
}

func main() {
	var o options
	fs := pflag.NewFlagSet("demo", pflag.ExitOnError)
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.IntVar(&o.members, "members", 3, "number of member clusters")
	fs.IntVar(&o.perKind, "per-kind", 3, "objects of each of the 20 kinds seeded in every member")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "how often the table is printed")
	_ = fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// member is one member cluster as the demo tracks it.
type member struct {
	cluster    *testbed.Cluster
	client     client.Client // bulk client with a raised client-side rate limit
	clusterUID string
	seeded     workload.Seeded

	changes atomic.Int64 // creates, updates and deletes made by churn so far

	mu      sync.Mutex // guards churned
	churned []workload.Ref
}

func run(ctx context.Context, o options, out io.Writer) error {
	started := time.Now()
	fmt.Fprintf(out, "demo: starting a hub control plane and %d members (real kube-apiserver + etcd) ...\n", o.members)
	fleet, err := testbed.StartFleet(ctx, testbed.FleetOptions{
		Members: o.members,
		Hub: testbed.ClusterOptions{Name: "hub", Dir: o.dir, Scheme: controllers.Scheme(),
			CRDDirectoryPaths: []string{chartCRDs()}},
		MemberOptions: func(i int) testbed.ClusterOptions { return testbed.ClusterOptions{Dir: o.dir} },
	})
	if err != nil {
		return fmt.Errorf("start fleet: %w", err)
	}
	defer func() {
		fmt.Fprintln(out, "demo: stopping the fleet ...")
		if err := fleet.Stop(); err != nil {
			fmt.Fprintf(out, "demo: stop fleet: %v\n", err)
		}
		fmt.Fprintln(out, "demo: stopped; nothing left running")
	}()
	fmt.Fprintf(out, "demo: fleet up in %s\n", time.Since(started).Round(100*time.Millisecond))

	sim, err := platform.New(platform.Options{})
	if err != nil {
		return fmt.Errorf("create platform simulator: %w", err)
	}
	simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Start(simCtx) }()
	defer func() {
		stopSim()
		<-simDone
	}()
	fmt.Fprintf(out, "demo: platform simulator at %s\n", sim.URL())

	members := make([]*member, len(fleet.Members))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range fleet.Members {
		g.Go(func() error {
			m, err := prepare(gctx, fleet.Hub, c, o.perKind)
			if err != nil {
				return fmt.Errorf("prepare %s: %w", c.Name, err)
			}
			members[i] = m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, m := range members {
		fmt.Fprintf(out, "demo: %s registered with the hub (Secret obsyk-system/%s), cluster UID %s, %d objects seeded\n",
			m.cluster.Name, m.cluster.Name, m.clusterUID, len(m.seeded.Refs))
	}
	if err := createAgents(ctx, fleet.Hub, sim, members); err != nil {
		return err
	}
	hub, err := controllers.NewHub(ctx, fleet.Hub.Config, controllers.HubOptions{
		Namespace: demoNamespace, PlatformCABundle: sim.CACertPEM(), AgentVersion: "demo",
		Reconciler: controllers.ReconcilerOptions{StatusInterval: 2 * time.Second},
	})
	if err != nil {
		return fmt.Errorf("start the hub: %w", err)
	}
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Start(hubCtx) }()
	defer func() {
		stopHub()
		if err := <-hubDone; err != nil {
			fmt.Fprintf(out, "demo: hub: %v\n", err)
		}
	}()
	fmt.Fprintf(out, "demo: the hub is running; one ObsykAgent per member in namespace %s (kubectl get oa -n %s)\n", demoNamespace, demoNamespace)
	fmt.Fprintln(out, "READY is the agent's Ready condition; MISSING and GHOSTS compare the member with the platform, field by field.")

	runCtx := ctx
	if o.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	rg, rctx := errgroup.WithContext(runCtx)
	for _, m := range members {
		rg.Go(func() error { return m.churn(rctx) })
	}
	rg.Go(func() error { return report(rctx, out, fleet.Hub.Client, sim, members, o.interval) })
	err = rg.Wait()
	// Ctrl-C or --duration is a normal end; so is client-go's rate limiter refusing a wait
	// that would outlast --duration.
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(err != nil && strings.Contains(err.Error(), "would exceed context deadline")) {
		err = nil
	}
	// One last table, on a context of its own so it is printed after Ctrl-C too.
	finalCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	fmt.Fprintln(out, "\ndemo: final state")
	printTable(finalCtx, out, fleet.Hub.Client, sim, members, nil, 0)
	return err
}

const demoNamespace = "obsyk-system"

// chartCRDs is the directory of the CRD the chart installs, beside this source file.
func chartCRDs() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "charts", "obsyk-hub", "files", "crds")
}

// createAgents registers a platform client with the simulator, writes its credentials
// Secret, and creates one ObsykAgent per member.
func createAgents(ctx context.Context, hub *testbed.Cluster, sim *platform.Server, members []*member) error {
	ctrllog.SetLogger(logr.Discard())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	sim.RegisterClient("demo-hub", &key.PublicKey)
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "obsyk-credentials"},
		Data: map[string][]byte{
			"client_id":   []byte("demo-hub"),
			"private_key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		},
	}
	if err := hub.Client.Create(ctx, sec); err != nil {
		return fmt.Errorf("create credentials secret: %w", err)
	}
	for _, m := range members {
		a := &obsykv1.ObsykAgent{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: m.cluster.Name},
			Spec: obsykv1.ObsykAgentSpec{
				PlatformURL: sim.URL(), ClusterName: m.cluster.Name,
				CredentialsSecretRef: obsykv1.SecretReference{Name: sec.Name},
				ClusterRef:           &obsykv1.ClusterReference{Name: m.cluster.Name},
				SyncInterval:         "10s",
			},
		}
		if err := hub.Client.Create(ctx, a); err != nil {
			return fmt.Errorf("create obsykagent %s: %w", a.Name, err)
		}
	}
	return nil
}

// agentState is an agent's Ready status and outbox depth for the table.
func agentState(ctx context.Context, hub client.Client, name string) (string, int64) {
	a := &obsykv1.ObsykAgent{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: name}, a); err != nil {
		return "?", 0
	}
	var depth int64
	if a.Status.Outbox != nil {
		depth = a.Status.Outbox.Depth
	}
	c := meta.FindStatusCondition(a.Status.Conditions, controllers.ConditionReady)
	if c == nil {
		return "Unknown", depth
	}
	if c.Status == metav1.ConditionTrue {
		return "True", depth
	}
	return "False (" + c.Reason + ")", depth
}

// prepare registers c with the hub and seeds it.
func prepare(ctx context.Context, hub, c *testbed.Cluster, perKind int) (*member, error) {
	if _, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
		Name: c.Name, Member: c.Config, Hub: hub.Client,
	}); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	bulk, err := workload.NewClient(c.Config)
	if err != nil {
		return nil, err
	}
	seeded, err := workload.Seed(ctx, bulk, perKind, workload.Options{})
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	uid, err := converge.ClusterUID(ctx, c.Client)
	if err != nil {
		return nil, err
	}
	return &member{cluster: c, client: bulk, clusterUID: uid, seeded: seeded}, nil
}

// churn creates, mutates and deletes a few ConfigMaps every two seconds.
func (m *member) churn(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		refs, err := workload.Create(ctx, m.client, "ConfigMap", m.seeded.Namespace, 2, workload.Options{Prefix: "churn"})
		if err != nil {
			return fmt.Errorf("churn %s: %w", m.cluster.Name, err)
		}
		if err := workload.Mutate(ctx, m.client, refs[:1], workload.Options{}); err != nil {
			return fmt.Errorf("churn %s: %w", m.cluster.Name, err)
		}
		m.changes.Add(int64(len(refs) + 1))
		m.mu.Lock()
		m.churned = append(m.churned, refs...)
		var old []workload.Ref
		if len(m.churned) > 10 {
			old = m.churned[:2]
			m.churned = m.churned[2:]
		}
		m.mu.Unlock()
		if err := workload.Delete(ctx, m.client, old, workload.Options{}); err != nil {
			return fmt.Errorf("churn %s: %w", m.cluster.Name, err)
		}
		m.changes.Add(int64(len(old)))
	}
}

// report prints the table every interval until ctx ends.
func report(ctx context.Context, out io.Writer, hub client.Client, sim *platform.Server, members []*member, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := map[string]int{}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		// The table gets a deadline of its own: the run ending mid-table must not turn its
		// rows into errors.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		printTable(tctx, out, hub, sim, members, last, interval)
		cancel()
	}
}

// printTable prints one row per member. last holds each cluster's accepted event count at the
// previous table, for the events/s column; nil leaves that column out.
func printTable(ctx context.Context, out io.Writer, hub client.Client, sim *platform.Server, members []*member, last map[string]int, interval time.Duration) {
	fmt.Fprintf(out, "\n%s\n", time.Now().Format(time.TimeOnly))
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tREADY\tCHANGES MADE\tIN MEMBER\tON PLATFORM\tMISSING\tGHOSTS\tEVENTS/S\tOUTBOX")
	for _, m := range members {
		state := sim.Cluster(m.clusterUID)
		onPlatform := 0
		for _, objs := range state.Objects {
			onPlatform += len(objs)
		}
		rate := "-"
		if last != nil && interval > 0 {
			rate = fmt.Sprintf("%.1f", float64(state.Events-last[m.clusterUID])/interval.Seconds())
			last[m.clusterUID] = state.Events
		}
		ready, depth := agentState(ctx, hub, m.cluster.Name)
		rep, err := converge.Check(ctx, m.cluster.Client, m.clusterUID, sim, converge.Options{ExcludeKinds: []string{"Secret"}})
		if err != nil {
			fmt.Fprintf(w, "%s\t%s\t%d\t?\t%d\t?\t?\t%s\t%d\t(check failed: %v)\n", m.cluster.Name, ready, m.changes.Load(), onPlatform, rate, depth, err)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\n",
			m.cluster.Name, ready, m.changes.Load(), rep.Compared, onPlatform, len(rep.Missing), len(rep.Ghosts), rate, depth)
	}
	_ = w.Flush()
}
