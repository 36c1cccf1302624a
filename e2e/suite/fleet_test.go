package suite

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

const (
	// churnNamespace holds what churn creates in every member.
	churnNamespace = "churn"
	// churnEvery and churnPerTick: every tick, churn creates churnPerTick objects of the
	// next kind, mutates the previous tick's and deletes those of the tick before (status
	// writes add more changes). That is ≈ 20–25 changes/s per member, about the agents' rate
	// limit; heavyChurnPerTick makes about twice the limit, so that it is exercised.
	churnEvery        = 500 * time.Millisecond
	churnPerTick      = 4
	heavyChurnPerTick = 10
	// scenarioTimeout bounds one scenario as a whole.
	scenarioTimeout = 12 * time.Minute
	// initialBound bounds the first convergence after the hub's start; convergeBound every
	// other convergence. Generous: the machine is shared and may be loaded.
	initialBound  = 4 * time.Minute
	convergeBound = 4 * time.Minute
	// statusTimeout bounds a wait for an agent's status to show something.
	statusTimeout = 90 * time.Second
)

// churnKinds are the kinds churn rotates through; the member that collects Secrets also
// churns Secrets. Namespaces are left out (a delete needs a namespace controller's work).
var churnKinds = []string{
	"ConfigMap", "Pod", "Deployment", "Service", "Role", "Event", "ServiceAccount", "Job",
	"PersistentVolumeClaim", "NetworkPolicy", "Ingress", "StatefulSet", "DaemonSet", "CronJob",
	"RoleBinding", "Node", "ClusterRole", "ClusterRoleBinding",
}

// member is one member cluster as the suite knows it.
type member struct {
	name       string
	cluster    *testbed.Cluster
	proxy      *testbed.Proxy // the hub's only path to the member
	kubeconfig string         // admin kubeconfig file, for the CLI
	client     client.Client  // bulk client, straight to the member (never through proxy)
	uid        string
	secrets    bool   // registered with --collect-secrets; its agent lists Secret
	agent      string // the ObsykAgent's name in hubNamespace
	clientID   string // the agent's platform client
	seeded     workload.Seeded
}

func (m *member) server() string { return "https://" + m.proxy.Addr() }

// checkOptions are the convergence checker's options for the member: Secrets are compared
// only where they are collected.
func (m *member) checkOptions() converge.Options {
	if m.secrets {
		return converge.Options{}
	}
	return converge.Options{ExcludeKinds: []string{"Secret"}}
}

// addMember puts a proxy in front of c, seeds it, registers it with `obsyk-hub cluster add`
// through that proxy, and creates its credentials Secret and ObsykAgent.
func (st *suite) addMember(ctx context.Context, c *testbed.Cluster, secrets bool) (*member, error) {
	p, err := testbed.NewProxy(c.APIServerAddr())
	if err != nil {
		return nil, err
	}
	st.bgWG.Go(func() { _ = p.Start(st.bg) })
	m := &member{
		name: c.Name, cluster: c, proxy: p, secrets: secrets,
		agent: "agent-" + strings.TrimPrefix(c.Name, "member-"), clientID: "e2e-" + c.Name,
		kubeconfig: filepath.Join(st.dir, c.Name+".kubeconfig"),
	}
	kc, err := c.AdminKubeconfig()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(m.kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	st.addNeedle(clientKeyData(kc), "the admin kubeconfig's client key of "+c.Name)
	if m.client, err = workload.NewClient(c.Config); err != nil {
		return nil, err
	}
	if m.uid, err = converge.ClusterUID(ctx, m.client); err != nil {
		return nil, err
	}
	if m.seeded, err = workload.Seed(ctx, m.client, seedPerKind, workload.Options{}); err != nil {
		return nil, fmt.Errorf("seed %s: %w", c.Name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: churnNamespace}}
	if err := m.client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create churn namespace in %s: %w", c.Name, err)
	}
	if _, err := st.register(ctx, m); err != nil {
		return nil, err
	}
	cr, err := st.newCreds(m.clientID)
	if err != nil {
		return nil, err
	}
	if err := st.putSecret(ctx, "creds-"+m.name, cr.data()); err != nil {
		return nil, err
	}
	a := newAgent(m.agent, m.name, "creds-"+m.name, st.sim.URL(), m.secrets)
	if err := st.fleet.Hub.Client.Create(ctx, a); err != nil {
		return nil, fmt.Errorf("create agent %s: %w", m.agent, err)
	}
	return m, nil
}

// register runs `obsyk-hub cluster add` for m through its proxy (again: it is idempotent and
// renews the token), records the written kubeconfig's token and CA as log needles, and
// returns the token.
func (st *suite) register(ctx context.Context, m *member) (string, error) {
	args := []string{"cluster", "add", "--kubeconfig", m.kubeconfig, "--name", m.name,
		"--hub-kubeconfig", st.hubKC, "--namespace", hubNamespace, "--server", m.server()}
	if m.secrets {
		args = append(args, "--collect-secrets")
	}
	if _, err := st.cli(ctx, args...); err != nil {
		return "", err
	}
	return st.kubeconfigToken(ctx, m.name)
}

// kubeconfigToken reads the kubeconfig Secret of a cluster from the hub, records its token
// and CA data as log needles and returns the token.
func (st *suite) kubeconfigToken(ctx context.Context, name string) (string, error) {
	var sec corev1.Secret
	if err := st.fleet.Hub.Client.Get(ctx, client.ObjectKey{Namespace: hubNamespace, Name: name}, &sec); err != nil {
		return "", fmt.Errorf("read kubeconfig secret %s: %w", name, err)
	}
	cfg, err := clientcmd.Load(sec.Data[clusterregistry.KubeconfigSecretKey])
	if err != nil {
		return "", fmt.Errorf("parse kubeconfig secret %s: %w", name, err)
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if kctx == nil || cfg.AuthInfos[kctx.AuthInfo] == nil || cfg.Clusters[kctx.Cluster] == nil {
		return "", fmt.Errorf("kubeconfig secret %s: no usable current context", name)
	}
	token := cfg.AuthInfos[kctx.AuthInfo].Token
	if token == "" {
		return "", fmt.Errorf("kubeconfig secret %s holds no token", name)
	}
	st.addNeedle(token, "the member token of "+name)
	st.addNeedle(excerpt(base64.StdEncoding.EncodeToString(cfg.Clusters[kctx.Cluster].CertificateAuthorityData)),
		"the certificate-authority-data of "+name+"'s kubeconfig Secret")
	return token, nil
}

// creds is a platform client: its id and the PEM of its private key.
type creds struct {
	id  string
	pem []byte
}

func (c creds) data() map[string][]byte {
	return map[string][]byte{"client_id": []byte(c.id), "private_key": c.pem}
}

// newCreds generates a P-256 key, registers its public half with the simulator under id and
// records its key material as a log needle.
func (st *suite) newCreds(id string) (creds, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return creds{}, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return creds{}, err
	}
	st.sim.RegisterClient(id, &key.PublicKey)
	st.addNeedle(excerpt(base64.StdEncoding.EncodeToString(der)), "the private key of platform client "+id)
	return creds{id: id, pem: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})}, nil
}

// putSecret creates or replaces a Secret in the hub namespace.
func (st *suite) putSecret(ctx context.Context, name string, data map[string][]byte) error {
	hc := st.fleet.Hub.Client
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: name}}
	err := hc.Get(ctx, client.ObjectKeyFromObject(sec), sec)
	sec.Data = data
	switch {
	case apierrors.IsNotFound(err):
		err = hc.Create(ctx, sec)
	case err == nil:
		err = hc.Update(ctx, sec)
	}
	if err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	return nil
}

// newAgent returns an ObsykAgent in the hub namespace for a cluster (empty: none), with
// heartbeats every 10 s and the suite's rate limit; allKinds lists all 20 kinds, Secret
// included.
func newAgent(name, cluster, secret, platformURL string, allKinds bool) *obsykv1.ObsykAgent {
	a := &obsykv1.ObsykAgent{
		ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: name},
		Spec: obsykv1.ObsykAgentSpec{
			PlatformURL: platformURL, ClusterName: name,
			CredentialsSecretRef: obsykv1.SecretReference{Name: secret},
			SyncInterval:         "10s",
			RateLimit:            &obsykv1.RateLimitConfig{EventsPerSecond: rateLimit, BurstSize: rateBurst},
		},
	}
	if cluster != "" {
		a.Spec.ClusterRef = &obsykv1.ClusterReference{Name: cluster}
	}
	if allKinds {
		for _, k := range platform.Kinds {
			a.Spec.Kinds = append(a.Spec.Kinds, obsykv1.Kind(k))
		}
	}
	return a
}

// currentMembers returns the members, in order.
func (st *suite) currentMembers() []*member {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]*member(nil), st.members...)
}

func (st *suite) member(i int) *member { return st.currentMembers()[i] }

// begin starts a scenario: the hub must be running, and the initial convergence must have
// happened (it is waited for, unmeasured, when scenario 1 did not run). It returns the
// scenario's context.
func (st *suite) begin(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	t.Cleanup(cancel)
	st.requireHubRunning(t)
	select {
	case <-st.initial:
	default:
		t.Log("waiting for the initial convergence first (scenario 1 did not run or did not converge)")
		st.waitConverged(t, "", st.currentMembers(), time.Now(), initialBound)
		st.initialOnce.Do(func() { close(st.initial) })
	}
	return ctx
}

// requireHubRunning fails the test when the hub process has exited.
func (st *suite) requireHubRunning(t *testing.T) {
	t.Helper()
	st.mu.Lock()
	h := st.hub
	st.mu.Unlock()
	if done, err := h.exited(); done {
		t.Fatalf("the hub process exited (%v); last lines of its log:\n%s", err, st.hubLogTail(40))
	}
}

// scenario is the scenario's name: the test name below TestE2E.
func scenario(t *testing.T) string {
	name := t.Name()
	if _, rest, ok := strings.Cut(name, "/"); ok {
		return rest
	}
	return name
}

// target is one member to wait for, with the moment its fault ended and how to say so.
type target struct {
	m     *member
	since time.Time
	label string // "" neither logs nor records the time
}

// waitConverged waits until every member in ms converged (all at once), each within bound,
// logs each member's time since `since` and records it under the scenario (when label is
// not ""), and fails the test for those that did not converge. It returns the longest time.
func (st *suite) waitConverged(t *testing.T, label string, ms []*member, since time.Time, bound time.Duration) time.Duration {
	t.Helper()
	targets := make([]target, len(ms))
	for i, m := range ms {
		targets[i] = target{m: m, since: since, label: label}
	}
	return st.waitConvergedEach(t, targets, bound)
}

// waitConvergedEach is waitConverged with a start and a label per member.
func (st *suite) waitConvergedEach(t *testing.T, targets []target, bound time.Duration) time.Duration {
	t.Helper()
	return st.startConverging(targets, bound).wait(t)
}

// converging is a convergence wait running in the background (startConverging), so that a
// scenario can go on acting while the time of earlier changes is measured.
type converging struct {
	st      *suite
	targets []target
	bound   time.Duration
	wg      sync.WaitGroup
	out     []convergeOutcome // one per target, written before wg is done
}

type convergeOutcome struct {
	took time.Duration
	rep  converge.Report
	err  error
}

// startConverging starts waiting, for each target at once, until it converged within bound.
func (st *suite) startConverging(targets []target, bound time.Duration) *converging {
	c := &converging{st: st, targets: targets, bound: bound, out: make([]convergeOutcome, len(targets))}
	for i, tg := range targets {
		c.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), bound+time.Minute)
			defer cancel()
			rep, err := converge.WaitConverged(ctx, tg.m.cluster.Client, tg.m.uid, st.sim, tg.m.checkOptions(), bound)
			c.out[i] = convergeOutcome{took: time.Since(tg.since), rep: rep, err: err}
		})
	}
	return c
}

// wait waits for every target, logs and records the times of the labelled ones, and fails
// the test for those that did not converge. It returns the longest time.
func (c *converging) wait(t *testing.T) time.Duration {
	t.Helper()
	c.wg.Wait()
	var longest time.Duration
	failed := false
	for i, tg := range c.targets {
		o := c.out[i]
		if o.err != nil {
			failed = true
			t.Errorf("%s did not converge within %s: %v", tg.m.name, c.bound, o.err)
			continue
		}
		longest = max(longest, o.took)
		if tg.label != "" {
			t.Logf("%s converged %s after %s (%d objects compared; bound %s)",
				tg.m.name, o.took.Round(100*time.Millisecond), tg.label, o.rep.Compared, c.bound)
			c.st.record(scenario(t), tg.m.name, o.took)
		}
	}
	if failed {
		c.st.requireHubRunning(t)
		t.FailNow()
	}
	return longest
}

// agent reads an ObsykAgent of the hub namespace.
func (st *suite) agent(ctx context.Context, g Gomega, name string) *obsykv1.ObsykAgent {
	a := &obsykv1.ObsykAgent{}
	g.Expect(st.fleet.Hub.Client.Get(ctx, client.ObjectKey{Namespace: hubNamespace, Name: name}, a)).To(Succeed())
	return a
}

// condition returns an agent's condition of a type, or an empty one.
func condition(a *obsykv1.ObsykAgent, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(a.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// watchCondition polls an agent's condition of one type every 250 ms in the background and
// records its changes; the returned function stops it and returns them, e.g.
// "True/Connected at +0s", "False/ClusterUnreachable at +14.2s".
func (st *suite) watchCondition(agent, typ string) func() []string {
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	var (
		mu   sync.Mutex
		seen []string
		last string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			a := &obsykv1.ObsykAgent{}
			if err := st.fleet.Hub.Client.Get(ctx, client.ObjectKey{Namespace: hubNamespace, Name: agent}, a); err == nil {
				c := condition(a, typ)
				if now := string(c.Status) + "/" + c.Reason; now != last {
					last = now
					mu.Lock()
					seen = append(seen, fmt.Sprintf("%s at +%s", now, since(start)))
					mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() []string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// churn drives creates, updates and deletes on some members until stopped.
type churn struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	changes  atomic.Int64
	stopOnce sync.Once

	mu   sync.Mutex // guards errs
	errs []error
}

// startChurn starts churning ms, perTick objects every churnEvery, until stop.
func startChurn(ms []*member, perTick int) *churn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &churn{cancel: cancel}
	for _, m := range ms {
		c.wg.Go(func() {
			if err := c.run(ctx, m, perTick); err != nil && ctx.Err() == nil {
				c.mu.Lock()
				c.errs = append(c.errs, fmt.Errorf("churn on %s: %w", m.name, err))
				c.mu.Unlock()
			}
		})
	}
	return c
}

func (c *churn) run(ctx context.Context, m *member, perTick int) error {
	kinds := churnKinds
	if m.secrets {
		kinds = append(append([]string(nil), kinds...), "Secret")
	}
	tick := time.NewTicker(churnEvery)
	defer tick.Stop()
	var prev, older []workload.Ref
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		refs, err := workload.Create(ctx, m.client, kinds[i%len(kinds)], churnNamespace, perTick, workload.Options{Prefix: "churn"})
		c.changes.Add(int64(len(refs)))
		if err != nil {
			return err
		}
		if err := workload.Mutate(ctx, m.client, prev, workload.Options{}); err != nil {
			return err
		}
		c.changes.Add(int64(len(prev)))
		if err := workload.Delete(ctx, m.client, older, workload.Options{}); err != nil {
			return err
		}
		c.changes.Add(int64(len(older)))
		older, prev = prev, refs
	}
}

// stop ends the churn, waits for it, fails the test for any error it met, and returns how
// many changes it made. Later calls only return the count.
func (c *churn) stop(t *testing.T) int64 {
	t.Helper()
	c.stopOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, err := range c.errs {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%v", err)
			}
		}
	})
	return c.changes.Load()
}

// startExtraCluster starts one more member control plane, stopped by TestMain at the end.
func startExtraCluster(ctx context.Context, name string) (*testbed.Cluster, error) {
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Name: name, StopTimeout: memberStopTimeout})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.extra = append(s.extra, c)
	s.mu.Unlock()
	return c, nil
}

// waitFor waits for d, or for ctx to end: the length of a fault that a scenario prescribes
// (never a synchronisation).
func waitFor(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
