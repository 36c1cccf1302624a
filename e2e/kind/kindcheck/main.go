// Command kindcheck is the Go half of e2e/kind/run.sh: it talks to the platform simulator's
// admin API and to the kind clusters (through kubeconfig files) and runs the end-to-end
// scenarios of package kind.
//
//	kindcheck ca --admin-url URL --out FILE
//	kindcheck register-client --admin-url URL --client-id ID --public-key FILE
//	kindcheck seed --member NAME=KUBECONFIG [--member ...] [--per-kind N]
//	kindcheck run --hub-kubeconfig FILE --admin-url URL --member NAME=KUBECONFIG [--member ...] [flags]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/kind"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

const usage = `Usage:
  kindcheck ca               fetch the simulator's CA certificate (PEM) into a file
  kindcheck register-client  register a platform client's public key with the simulator
  kindcheck seed             create objects of all 20 kinds in each member
  kindcheck run              run the end-to-end scenarios against the fleet

Run 'kindcheck <command> --help' for its flags.
`

const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	commands := map[string]func(context.Context, []string, io.Writer) error{
		"ca":              runCA,
		"register-client": runRegisterClient,
		"seed":            runSeed,
		"run":             runScenarios,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "kindcheck: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd(ctx, args[1:], stdout)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, pflag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "kindcheck %s: %v\n", args[0], err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "kindcheck %s: %v\n", args[0], err)
		return exitFail
	}
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parse parses a command's flags; --help prints them to stdout.
func parse(fs *pflag.FlagSet, args []string, stdout io.Writer, required ...string) error {
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: kindcheck %s [flags]\n\nFlags:\n%s", fs.Name(), fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	for _, name := range required {
		if !fs.Changed(name) {
			return usageError{"--" + name + " is required"}
		}
	}
	return nil
}

func runCA(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("ca", pflag.ContinueOnError)
	adminURL := fs.String("admin-url", "", "URL of the simulator's admin API (required)")
	out := fs.String("out", "", "file to write the CA certificate to (required)")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the admin API to answer")
	if err := parse(fs, args, stdout, "admin-url", "out"); err != nil {
		return err
	}
	sim := kind.NewSimulator(*adminURL)
	if err := sim.WaitReady(ctx, *timeout); err != nil {
		return err
	}
	ca, err := sim.CA(ctx)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, ca, 0o644); err != nil {
		return fmt.Errorf("write CA certificate: %w", err)
	}
	fmt.Fprintf(stdout, "wrote the simulator's CA certificate to %s\n", *out)
	return nil
}

func runRegisterClient(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("register-client", pflag.ContinueOnError)
	adminURL := fs.String("admin-url", "", "URL of the simulator's admin API (required)")
	clientID := fs.String("client-id", "", "client_id to register (required)")
	keyFile := fs.String("public-key", "", "file with the client's public key (PEM), as `obsyk-hub keygen` prints it (required)")
	if err := parse(fs, args, stdout, "admin-url", "client-id", "public-key"); err != nil {
		return err
	}
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	if err := kind.NewSimulator(*adminURL).RegisterClient(ctx, *clientID, key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registered platform client %s\n", *clientID)
	return nil
}

// memberFlags parses NAME=KUBECONFIG values.
func memberFlags(values []string) ([]*kind.Member, error) {
	if len(values) == 0 {
		return nil, usageError{"at least one --member NAME=KUBECONFIG is required"}
	}
	var members []*kind.Member
	for _, v := range values {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" {
			return nil, usageError{fmt.Sprintf("--member %q: want NAME=KUBECONFIG", v)}
		}
		cfg, err := restConfig(path)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		c, err := workload.NewClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		members = append(members, &kind.Member{Name: name, Client: c})
	}
	return members, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}

func runSeed(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("seed", pflag.ContinueOnError)
	memberValues := fs.StringArray("member", nil, "NAME=KUBECONFIG of a member cluster; repeatable (at least one)")
	perKind := fs.Int("per-kind", 3, "objects of each kind per member")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	members, err := memberFlags(*memberValues)
	if err != nil {
		return err
	}
	if err := kind.Seed(ctx, members, *perKind); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d objects of each of the 20 kinds in %d members\n", *perKind, len(members))
	return nil
}

func runScenarios(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	hubKubeconfig := fs.String("hub-kubeconfig", "", "kubeconfig of the hub cluster (required)")
	adminURL := fs.String("admin-url", "", "URL of the simulator's admin API (required)")
	memberValues := fs.StringArray("member", nil, "NAME=KUBECONFIG of a member cluster; its agent is the ObsykAgent NAME in --namespace; repeatable (at least one)")
	namespace := fs.String("namespace", "obsyk-system", "hub namespace of the agents and of the hub's release")
	release := fs.String("release", "obsyk-hub", "Helm release of the hub (its pods carry app.kubernetes.io/instance=<release>)")
	clientIDPrefix := fs.String("client-id-prefix", "kind-e2e-", "the platform client_id of member NAME's agent is <prefix>NAME")
	privateKeys := fs.StringArray("private-key", nil, "an agent's private key file (PEM), which must never appear in the hub's log; repeatable")
	churn := fs.Duration("churn", 60*time.Second, "length of each churn phase")
	outage := fs.Duration("outage", 30*time.Second, "length of the platform outage")
	convergeTimeout := fs.Duration("converge-timeout", 5*time.Minute, "bound of each wait for convergence")
	if err := parse(fs, args, stdout, "hub-kubeconfig", "admin-url"); err != nil {
		return err
	}
	members, err := memberFlags(*memberValues)
	if err != nil {
		return err
	}
	for _, m := range members {
		m.Agent = client.ObjectKey{Namespace: *namespace, Name: m.Name}
		m.ClientID = *clientIDPrefix + m.Name
	}
	var keys [][]byte
	for _, p := range *privateKeys {
		k, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	cfg, err := restConfig(*hubKubeconfig)
	if err != nil {
		return err
	}
	hub, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		return fmt.Errorf("hub client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("hub clientset: %w", err)
	}
	pods := hubPods{kube: kube, namespace: *namespace,
		selector: "app.kubernetes.io/name=obsyk-hub,app.kubernetes.io/instance=" + *release, timeout: *convergeTimeout}

	results, err := kind.Run(ctx, kind.Fleet{Hub: hub, Members: members}, kind.NewSimulator(*adminURL), kind.Options{
		ConvergeTimeout: *convergeTimeout,
		Churn:           *churn,
		Outage:          *outage,
		HubInstance:     pods.instance,
		RestartHub:      pods.kill,
		HubLogs:         pods.logs,
		PrivateKeys:     keys,
		Log:             stdout,
	})
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSCENARIO\tCONVERGED IN")
	for _, r := range results {
		took := r.Converged.Round(100 * time.Millisecond).String()
		if r.Scenario == "logs" {
			took = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\n", r.Scenario, took)
	}
	_ = tw.Flush()
	return err
}

// hubPods are the hub's pods in the hub cluster.
type hubPods struct {
	kube      kubernetes.Interface
	namespace string
	selector  string
	timeout   time.Duration
}

func (h hubPods) list(ctx context.Context) ([]corev1.Pod, error) {
	list, err := h.kube.CoreV1().Pods(h.namespace).List(ctx, metav1.ListOptions{LabelSelector: h.selector})
	if err != nil {
		return nil, fmt.Errorf("list hub pods: %w", err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// instance names the running hub pods with their UIDs and restart counts.
func (h hubPods) instance(ctx context.Context) (string, error) {
	pods, err := h.list(ctx)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, p := range pods {
		restarts := int32(0)
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
		ids = append(ids, fmt.Sprintf("%s/%s/restarts=%d", p.Name, p.UID, restarts))
	}
	slices.Sort(ids)
	return strings.Join(ids, ","), nil
}

// kill deletes every hub pod with a zero grace period (the kubelet kills the container at
// once: no drain, no lease release) and waits until a new one is ready.
func (h hubPods) kill(ctx context.Context) error {
	pods, err := h.list(ctx)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return errors.New("no hub pod to kill")
	}
	old := map[string]bool{}
	zero := int64(0)
	for _, p := range pods {
		old[string(p.UID)] = true
		if err := h.kube.CoreV1().Pods(h.namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			return fmt.Errorf("kill hub pod %s: %w", p.Name, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		pods, err := h.list(ctx)
		if err == nil {
			for _, p := range pods {
				if !old[string(p.UID)] && podReady(p) {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no new hub pod became ready within %s", h.timeout)
		case <-tick.C:
		}
	}
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// logs returns the logs of the hub container of every hub pod (and of its previous run,
// when it restarted).
func (h hubPods) logs(ctx context.Context) (string, error) {
	pods, err := h.list(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range pods {
		for _, previous := range []bool{true, false} {
			data, err := h.kube.CoreV1().Pods(h.namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: "hub", Previous: previous}).DoRaw(ctx)
			if err != nil {
				if previous {
					continue // it did not restart
				}
				return "", fmt.Errorf("read the log of hub pod %s: %w", p.Name, err)
			}
			b.Write(data)
		}
	}
	return b.String(), nil
}
