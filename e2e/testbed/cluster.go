package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	defaultClusterName  = "cluster"
	defaultStartTimeout = 60 * time.Second
	defaultStopTimeout  = 20 * time.Second
	// etcdCallTimeout bounds each call Compact makes to etcd.
	etcdCallTimeout = 30 * time.Second
	// maxStartAttempts: a start is retried, on fresh ports, only when a port was taken between
	// envtest choosing it and the process binding it.
	maxStartAttempts = 3
	// logTailLines is how much of each process log a start error quotes.
	logTailLines = 20
)

// errPortInUse marks a start that failed because a chosen port was taken meanwhile.
var errPortInUse = errors.New("address already in use")

// ClusterOptions configures one test control plane (etcd + kube-apiserver). The zero value is
// valid.
type ClusterOptions struct {
	// Name identifies the cluster in errors and in its temporary directory's name.
	// Default "cluster" (StartFleet defaults it to "hub" and "member-<i>").
	Name string
	// WatchCacheDisabled runs kube-apiserver with --watch-cache=false, so that watches are served
	// by etcd itself: a watch from a compacted revision then fails with 410 Gone, which the
	// watch cache would otherwise hide. Default false.
	WatchCacheDisabled bool
	// APIServerFlags are extra kube-apiserver flags (name without leading dashes → values).
	// They replace envtest's defaults for the same flag. Default none.
	APIServerFlags map[string][]string
	// CRDDirectoryPaths are CRD manifest files or directories installed after the start; a
	// missing path is an error. Default none.
	CRDDirectoryPaths []string
	// Scheme is the scheme of Cluster.Client. Default client-go's scheme.Scheme.
	Scheme *runtime.Scheme
	// Dir is the parent of the cluster's temporary directory (certificates, etcd data, process
	// logs), which Stop removes. Default os.TempDir().
	Dir string
	// StartTimeout bounds the start of each process and, separately, the wait for /readyz.
	// Default 60s (a loaded 2-core machine needs the headroom).
	StartTimeout time.Duration
	// StopTimeout bounds each process's graceful stop; the process is then killed. Default 20s.
	StopTimeout time.Duration
}

func (o ClusterOptions) withDefaults() ClusterOptions {
	if o.Name == "" {
		o.Name = defaultClusterName
	}
	if o.Scheme == nil {
		o.Scheme = scheme.Scheme
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = defaultStartTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = defaultStopTimeout
	}
	return o
}

// clusterState is where a Cluster is in its lifecycle.
type clusterState int

const (
	stateRunning clusterState = iota
	stateAPIServerStopped
	stateChanging // a Stop, StopAPIServer or StartAPIServer is in progress
	stateStopped
)

// Cluster is one running test control plane: its own etcd (with its own data directory) and
// kube-apiserver, on loopback ports of their own. Create it with StartCluster; Stop it.
type Cluster struct {
	// Name is ClusterOptions.Name.
	Name string
	// Config authenticates as a member of system:masters with a client certificate. It keeps
	// working across StopAPIServer/StartAPIServer.
	Config *rest.Config
	// Client is a controller-runtime client (no cache) built from Config.
	Client client.Client
	// Kube is a client-go clientset built from Config.
	Kube kubernetes.Interface

	opts         ClusterOptions // defaulted; read-only after StartCluster
	dir          string         // the temporary directory Stop removes
	apiAddr      string         // host:port of kube-apiserver's secure port; never changes
	etcdEndpoint string         // etcd client URL; never changes
	logs         []*os.File     // process logs, closed by Stop

	// plane is written only by StartCluster and read only by the goroutine that moved state
	// to stateChanging, so it needs no lock.
	plane *envtest.ControlPlane

	// mu guards state. It is never held while a process starts or stops: a caller moves the
	// state to stateChanging, unlocks, does the work, then sets the final state.
	mu    sync.Mutex
	state clusterState
}

// StartCluster starts etcd and kube-apiserver and returns once /readyz answers ok and the
// default and kube-system namespaces exist. Each process start is bounded by
// opts.StartTimeout rather than ctx (envtest's start is not cancellable); ctx bounds the
// readiness wait, and a ctx that ends during the start makes StartCluster stop what it started.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	opts = opts.withDefaults()
	binDir, err := BinaryDir()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range maxStartAttempts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("start cluster %s: %w", opts.Name, err)
		}
		c, err := startOnce(ctx, opts, binDir)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	return nil, fmt.Errorf("start cluster %s: %w", opts.Name, lastErr)
}

func startOnce(ctx context.Context, opts ClusterOptions, binDir string) (_ *Cluster, retErr error) {
	// Best effort: a failure to reap someone else's leftovers must not fail this start.
	_, _ = ReapOrphans(opts.Dir)
	dir, err := os.MkdirTemp(opts.Dir, "obsyk-testbed-"+opts.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("create temporary directory: %w", err)
	}
	c := &Cluster{Name: opts.Name, opts: opts, dir: dir, state: stateChanging}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, c.stopProcesses())
		}
	}()
	if err := writeOwner(dir); err != nil {
		return nil, err
	}

	certDir := filepath.Join(dir, "apiserver")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return nil, fmt.Errorf("create certificate directory: %w", err)
	}
	apiLog, err := c.openLog("kube-apiserver.log")
	if err != nil {
		return nil, err
	}
	etcdLog, err := c.openLog("etcd.log")
	if err != nil {
		return nil, err
	}

	// envtest keeps the port, the serving certificate, the client CA and the service-account
	// signing keys across APIServer.Stop/Start when CertDir is ours (it would regenerate
	// certificates in a directory of its own), which is what StartAPIServer relies on.
	c.plane = &envtest.ControlPlane{
		Etcd: &envtest.Etcd{
			Path:         filepath.Join(binDir, "etcd"),
			DataDir:      filepath.Join(dir, "etcd"),
			StartTimeout: opts.StartTimeout,
			StopTimeout:  opts.StopTimeout,
			Out:          etcdLog,
			Err:          etcdLog,
		},
		APIServer: &envtest.APIServer{
			Path:         filepath.Join(binDir, "kube-apiserver"),
			CertDir:      certDir,
			StartTimeout: opts.StartTimeout,
			StopTimeout:  opts.StopTimeout,
			Out:          apiLog,
			Err:          apiLog,
		},
		KubectlPath: filepath.Join(binDir, "kubectl"),
	}
	args := c.plane.APIServer.Configure()
	if opts.WatchCacheDisabled {
		args.Set("watch-cache", "false")
	}
	for name, values := range opts.APIServerFlags {
		args.Set(name, values...)
	}

	if err := c.plane.Start(); err != nil {
		return nil, c.withLogs(fmt.Errorf("start control plane: %w", err))
	}
	c.apiAddr = c.plane.APIServer.SecureServing.HostPort()
	c.etcdEndpoint = c.plane.Etcd.URL.String()

	admin, err := c.plane.AddUser(envtest.User{Name: "testbed-admin", Groups: []string{"system:masters"}},
		&rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return nil, fmt.Errorf("provision admin user: %w", err)
	}
	c.Config = admin.Config()
	if c.Kube, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, fmt.Errorf("build clientset: %w", err)
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: opts.Scheme}); err != nil {
		return nil, fmt.Errorf("build client: %w", err)
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, c.withLogs(err)
	}
	if len(opts.CRDDirectoryPaths) > 0 {
		if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
			Paths:              opts.CRDDirectoryPaths,
			ErrorIfPathMissing: true,
			Scheme:             opts.Scheme,
		}); err != nil {
			return nil, fmt.Errorf("install CRDs: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.state = stateRunning // not yet shared: no lock needed
	return c, nil
}

func (c *Cluster) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(c.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create process log: %w", err)
	}
	c.logs = append(c.logs, f)
	return f, nil
}

// withLogs appends the tail of kube-apiserver's log to err (and of etcd's, when err names
// etcd: its shutdown is noisy), and marks a port clash as errPortInUse so that StartCluster
// retries on fresh ports.
func (c *Cluster) withLogs(err error) error {
	var tails strings.Builder
	inUse := false
	for _, name := range []string{"kube-apiserver.log", "etcd.log"} {
		data, readErr := os.ReadFile(filepath.Join(c.dir, name))
		if readErr != nil || len(data) == 0 {
			continue
		}
		inUse = inUse || bytes.Contains(data, []byte(errPortInUse.Error()))
		if name == "etcd.log" && !strings.Contains(err.Error(), "etcd") {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		lines = lines[max(0, len(lines)-logTailLines):]
		fmt.Fprintf(&tails, "\n--- last lines of %s ---\n%s", name, strings.Join(lines, "\n"))
	}
	if inUse {
		err = fmt.Errorf("%w (%w)", err, errPortInUse)
	}
	if tails.Len() == 0 {
		return err
	}
	return fmt.Errorf("%w%s", err, tails.String())
}

// waitReady polls /readyz, then the default and kube-system namespaces (created by the
// apiserver's own bootstrap controller, which /readyz does not cover), within StartTimeout.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	var last error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
			last = fmt.Errorf("readyz: %w", err)
			return false, nil
		}
		for _, ns := range []string{"default", "kube-system"} {
			if _, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
				last = fmt.Errorf("get namespace %s: %w", ns, err)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for kube-apiserver to be ready: %w (last: %v)", err, last)
	}
	return nil
}

// transition moves the state to stateChanging if it is one of from.
func (c *Cluster) transition(op string, from ...clusterState) (clusterState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range from {
		if c.state == s {
			c.state = stateChanging
			return s, nil
		}
	}
	return c.state, fmt.Errorf("%s on cluster %s: cluster is %s", op, c.Name, c.state)
}

func (c *Cluster) setState(s clusterState) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

func (s clusterState) String() string {
	switch s {
	case stateRunning:
		return "running"
	case stateAPIServerStopped:
		return "running without its kube-apiserver"
	case stateChanging:
		return "being started or stopped"
	default:
		return "stopped"
	}
}

// Stop stops kube-apiserver and etcd and removes the cluster's temporary directory. A second
// Stop returns nil.
func (c *Cluster) Stop() error {
	if cur, err := c.transition("stop", stateRunning, stateAPIServerStopped); err != nil {
		if cur == stateStopped {
			return nil
		}
		return err
	}
	defer c.setState(stateStopped)
	if err := c.stopProcesses(); err != nil {
		return fmt.Errorf("stop cluster %s: %w", c.Name, err)
	}
	return nil
}

func (c *Cluster) stopProcesses() error {
	var errs []error
	if c.plane != nil {
		errs = append(errs, c.plane.Stop())
	}
	for _, f := range c.logs {
		errs = append(errs, f.Close())
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

// StopAPIServer stops kube-apiserver gracefully; etcd keeps running with its data.
func (c *Cluster) StopAPIServer() error {
	if _, err := c.transition("stop kube-apiserver", stateRunning); err != nil {
		return err
	}
	if err := c.plane.APIServer.Stop(); err != nil {
		// The process was killed after StopTimeout, or could not be signalled; treat it as
		// stopped so that StartAPIServer or Stop can follow.
		c.setState(stateAPIServerStopped)
		return fmt.Errorf("stop kube-apiserver of cluster %s: %w", c.Name, err)
	}
	c.setState(stateAPIServerStopped)
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same port, with the
// same serving certificate, client CA and service-account signing keys, against the same
// etcd: Config, kubeconfigs and service-account tokens issued before keep working. It returns
// once /readyz answers ok, within ctx and ClusterOptions.StartTimeout.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if _, err := c.transition("start kube-apiserver", stateAPIServerStopped); err != nil {
		return err
	}
	if err := c.plane.APIServer.Start(); err != nil {
		err = errors.Join(c.withLogs(err), c.plane.APIServer.Stop())
		c.setState(stateAPIServerStopped)
		return fmt.Errorf("start kube-apiserver of cluster %s: %w", c.Name, err)
	}
	c.setState(stateRunning)
	if err := c.waitReady(ctx); err != nil {
		return fmt.Errorf("restart kube-apiserver of cluster %s: %w", c.Name, err)
	}
	return nil
}

// Compact compacts etcd's history at its current revision, so that any resource version
// older than now is gone: a watch (served by etcd, see WatchCacheDisabled) from such a
// version fails with 410 Gone. It talks to etcd with the etcd v3 client, as kube-apiserver's
// own compactor does.
func (c *Cluster) Compact(ctx context.Context) error {
	c.mu.Lock()
	stopped := c.state == stateStopped
	c.mu.Unlock()
	if stopped {
		return fmt.Errorf("compact etcd of cluster %s: cluster is stopped", c.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, etcdCallTimeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{c.etcdEndpoint},
		DialTimeout: etcdCallTimeout,
		Context:     ctx,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("connect to etcd of cluster %s: %w", c.Name, err)
	}
	defer cli.Close()
	status, err := cli.Status(ctx, c.etcdEndpoint)
	if err != nil {
		return fmt.Errorf("read etcd revision of cluster %s: %w", c.Name, err)
	}
	if _, err := cli.Compact(ctx, status.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("compact etcd of cluster %s at revision %d: %w", c.Name, status.Header.Revision, err)
	}
	return nil
}

// APIServerAddr returns host:port of kube-apiserver's secure port, e.g. the target of a Proxy.
func (c *Cluster) APIServerAddr() string { return c.apiAddr }

// EtcdEndpoint returns etcd's client URL.
func (c *Cluster) EtcdEndpoint() string { return c.etcdEndpoint }

// ConfigThrough returns a copy of Config that reaches kube-apiserver through p. TLS still
// verifies the apiserver: its serving certificate names 127.0.0.1, where p listens.
func (c *Cluster) ConfigThrough(p *Proxy) *rest.Config {
	cfg := rest.CopyConfig(c.Config)
	cfg.Host = "https://" + p.Addr()
	return cfg
}

// AdminKubeconfig returns a kubeconfig with Config's server, CA and client certificate, for
// kubectl or a demo. It holds the admin key: keep it out of logs.
func (c *Cluster) AdminKubeconfig() ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: c.Config.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.Config.CertData, ClientKeyData: c.Config.KeyData}
	kc.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: "admin"}
	kc.CurrentContext = c.Name
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, fmt.Errorf("write kubeconfig of cluster %s: %w", c.Name, err)
	}
	return data, nil
}

// ProcessMemory is the resident memory of a cluster's processes, in bytes.
type ProcessMemory struct {
	APIServer uint64
	Etcd      uint64
}

// Total is the sum of both processes.
func (m ProcessMemory) Total() uint64 { return m.APIServer + m.Etcd }

// ResidentMemory reads VmRSS of the cluster's kube-apiserver and etcd from /proc (Linux only).
// A process that is not running counts 0.
func (c *Cluster) ResidentMemory() (ProcessMemory, error) {
	var m ProcessMemory
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return m, fmt.Errorf("list processes: %w", err)
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(c.dir+string(filepath.Separator))) {
			continue // gone meanwhile, or not one of ours
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		rss, err := vmRSS(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		switch filepath.Base(string(argv0)) {
		case "kube-apiserver":
			m.APIServer += rss
		case "etcd":
			m.Etcd += rss
		}
	}
	return m, nil
}

func vmRSS(statusFile string) (uint64, error) {
	data, err := os.ReadFile(statusFile)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in %s", statusFile)
}
