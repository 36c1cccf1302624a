package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/clusterregistry"
)

const clusterUsage = `Usage:
  obsyk-hub cluster add [flags]      register a member cluster with the hub
  obsyk-hub cluster remove [flags]   unregister a member cluster

Run 'obsyk-hub cluster <add|remove> --help' for the flags.
`

func runCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "obsyk-hub cluster: a subcommand is required\n\n%s", clusterUsage)
		return exitUsage
	}
	switch args[0] {
	case "add":
		return runClusterAdd(args[1:], stdout, stderr)
	case "remove":
		return runClusterRemove(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, clusterUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "obsyk-hub cluster: unknown subcommand %q\n\n%s", args[0], clusterUsage)
		return exitUsage
	}
}

// hubFlags are the flags that reach the hub cluster.
type hubFlags struct {
	kubeconfig string
	context    string
	namespace  string
}

func (h *hubFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&h.kubeconfig, "hub-kubeconfig", "", "kubeconfig of the hub cluster; empty uses KUBECONFIG, ~/.kube/config or the in-cluster service account")
	fs.StringVar(&h.context, "hub-context", "", "context of --hub-kubeconfig; empty uses its current context")
	fs.StringVar(&h.namespace, "namespace", clusterregistry.DefaultRegistrationNamespace, "hub namespace of the kubeconfig Secret (the hub's --cluster-secret-namespace)")
}

func (h hubFlags) client() (client.Client, error) {
	cfg, err := loadRESTConfig(h.kubeconfig, h.context)
	if err != nil {
		return nil, fmt.Errorf("load hub kubeconfig: %w (set --hub-kubeconfig or KUBECONFIG)", err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("build hub client: %w", err)
	}
	return c, nil
}

// loadRESTConfig loads a kubeconfig file (empty: KUBECONFIG, ~/.kube/config, then the
// in-cluster service account) at a context (empty: its current context).
func loadRESTConfig(path, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
}

// commandContext is cancelled by SIGINT or SIGTERM and carries a logger that writes
// clusterregistry's messages of verbosity 0 to stderr (it logs details at V(1) only).
func commandContext(stderr io.Writer) (context.Context, context.CancelFunc) {
	log := funcr.New(func(prefix, args string) {
		if prefix != "" {
			fmt.Fprintf(stderr, "%s: %s\n", prefix, args)
			return
		}
		fmt.Fprintln(stderr, args)
	}, funcr.Options{})
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return logr.NewContext(ctx, log), cancel
}

func runClusterAdd(args []string, stdout, stderr io.Writer) int {
	const name = "obsyk-hub cluster add"
	var (
		hub               hubFlags
		clusterName       string
		kubeconfig        string
		kubeContext       string
		server            string
		collectSecrets    bool
		allowedNamespaces []string
		tokenTTL          time.Duration
	)
	fs := newFlagSet(name)
	fs.StringVar(&clusterName, "name", "", "name of the cluster, and of its kubeconfig Secret in the hub (required)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with admin access to the member, used once to create the hub's read-only identity (required)")
	fs.StringVar(&kubeContext, "context", "", "context of --kubeconfig; empty uses its current context")
	hub.add(fs)
	fs.StringVar(&server, "server", "", "member API server URL as the hub reaches it (https); empty uses the --kubeconfig server")
	fs.BoolVar(&collectSecrets, "collect-secrets", false,
		"RISK: also let the hub list Secrets (key names only); the grant is cluster-wide Secret read, so this kubeconfig can read every ServiceAccount token of the member")
	fs.StringSliceVar(&allowedNamespaces, "allowed-namespaces", nil, "comma-separated hub namespaces whose ObsykAgents may also target this cluster")
	fs.DurationVar(&tokenTTL, "token-ttl", clusterregistry.DefaultTokenTTL,
		"lifetime asked for the token when the member issues no long-lived one (at least 10m); the member may shorten it")
	summary := "Register a member cluster: create a read-only identity in the member and its kubeconfig Secret in the hub.\n" +
		"Idempotent: run it again to change the settings or renew the token."
	if code, done := parseFlags(fs, name, summary, args, stdout, stderr); done {
		return code
	}
	switch {
	case clusterName == "":
		return usageError(stderr, name, "--name is required")
	case kubeconfig == "":
		return usageError(stderr, name, "--kubeconfig is required")
	case tokenTTL < clusterregistry.MinTokenTTL:
		return usageError(stderr, name, fmt.Sprintf("--token-ttl %s is shorter than %s", tokenTTL, clusterregistry.MinTokenTTL))
	}

	member, err := loadRESTConfig(kubeconfig, kubeContext)
	if err != nil {
		return failure(stderr, name, fmt.Errorf("load member kubeconfig %s: %w", kubeconfig, err))
	}
	hubClient, err := hub.client()
	if err != nil {
		return failure(stderr, name, err)
	}
	ctx, cancel := commandContext(stderr)
	defer cancel()
	reg, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
		Name:              clusterName,
		Member:            member,
		Hub:               hubClient,
		Namespace:         hub.namespace,
		ServerURL:         server,
		CollectSecrets:    collectSecrets,
		TokenTTL:          tokenTTL,
		AllowedNamespaces: allowedNamespaces,
	})
	if err != nil {
		return failure(stderr, name, err)
	}
	printRegistration(stdout, reg, allowedNamespaces, time.Now())
	return exitOK
}

func printRegistration(w io.Writer, reg *clusterregistry.Registration, allowed []string, now time.Time) {
	fmt.Fprintf(w, "Registered cluster %q.\n", reg.Name)
	fmt.Fprintf(w, "  hub:    Secret %s/%s (label %s=true, key %q) with a kubeconfig for %s\n",
		reg.SecretNamespace, reg.Name, clusterregistry.KubeconfigSecretLabel, clusterregistry.KubeconfigSecretKey, reg.ServerURL)
	fmt.Fprintf(w, "  member: ServiceAccount %s, and ClusterRole and ClusterRoleBinding %s (read-only)\n",
		reg.ServiceAccount, clusterregistry.ReaderName)
	if len(allowed) > 0 {
		fmt.Fprintf(w, "  ObsykAgents in namespace %s and in %s may target it\n", reg.SecretNamespace, strings.Join(allowed, ", "))
	}
	if reg.CollectSecrets {
		fmt.Fprintf(w, "  WARNING: the identity may list and watch Secrets cluster-wide; whoever holds this kubeconfig can read every ServiceAccount token of the member\n")
	}
	if reg.TokenExpiry == nil {
		fmt.Fprintf(w, "Token: does not expire (a long-lived ServiceAccount token); 'obsyk-hub cluster remove' revokes it.\n")
		return
	}
	left := reg.TokenExpiry.Sub(now)
	in := left.Round(time.Minute).String()
	if left >= 48*time.Hour {
		in = fmt.Sprintf("%d days", int(math.Round(left.Hours()/24)))
	}
	fmt.Fprintf(w, "Token: expires at %s (in %s); run 'obsyk-hub cluster add' again before then to renew it.\n",
		reg.TokenExpiry.UTC().Format(time.RFC3339), in)
}

func runClusterRemove(args []string, stdout, stderr io.Writer) int {
	const name = "obsyk-hub cluster remove"
	var (
		hub         hubFlags
		clusterName string
		kubeconfig  string
		kubeContext string
	)
	fs := newFlagSet(name)
	fs.StringVar(&clusterName, "name", "", "name of the cluster, as given to 'cluster add' (required)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with admin access to the member; empty leaves the member untouched")
	fs.StringVar(&kubeContext, "context", "", "context of --kubeconfig; empty uses its current context")
	hub.add(fs)
	summary := "Unregister a member cluster: delete its kubeconfig Secret in the hub and, with --kubeconfig,\n" +
		"the read-only identity in the member (which revokes its tokens)."
	if code, done := parseFlags(fs, name, summary, args, stdout, stderr); done {
		return code
	}
	if clusterName == "" {
		return usageError(stderr, name, "--name is required")
	}
	if kubeconfig == "" && kubeContext != "" {
		return usageError(stderr, name, "--context needs --kubeconfig")
	}

	var member *rest.Config
	if kubeconfig != "" {
		var err error
		if member, err = loadRESTConfig(kubeconfig, kubeContext); err != nil {
			return failure(stderr, name, fmt.Errorf("load member kubeconfig %s: %w", kubeconfig, err))
		}
	}
	hubClient, err := hub.client()
	if err != nil {
		return failure(stderr, name, err)
	}
	ctx, cancel := commandContext(stderr)
	defer cancel()
	err = clusterregistry.Unregister(ctx, clusterregistry.UnregisterOptions{
		Name:      clusterName,
		Member:    member,
		Hub:       hubClient,
		Namespace: hub.namespace,
	})
	if err != nil {
		return failure(stderr, name, err)
	}
	fmt.Fprintf(stdout, "Unregistered cluster %q: the hub Secret %s/%s is gone.\n", clusterName, hub.namespace, clusterName)
	if member == nil {
		fmt.Fprintf(stdout, "The member was not touched (no --kubeconfig): ServiceAccount %s/%s and its ClusterRole and ClusterRoleBinding remain,\n"+
			"and an issued token stays valid until it expires. Run again with --kubeconfig to remove them.\n",
			clusterregistry.MemberNamespace, clusterregistry.ReaderName)
		return exitOK
	}
	fmt.Fprintf(stdout, "Removed from the member: ClusterRoleBinding, ClusterRole and ServiceAccount %s/%s; its tokens no longer work.\n"+
		"The namespace %s was left in place.\n", clusterregistry.MemberNamespace, clusterregistry.ReaderName, clusterregistry.MemberNamespace)
	return exitOK
}
