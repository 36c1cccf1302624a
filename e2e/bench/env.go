package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
	"github.com/obsyk/obsyk-hub/ingest"
)

const (
	hubNamespace = "obsyk-system"
	credsSecret  = "obsyk-credentials"
	hubClientID  = "bench-hub"
	// liftedRate is the highest rate limit an ObsykAgent accepts (events/s and burst): the
	// benchmark's "rate limits lifted".
	liftedRate = 1000
	// hubWorkers is how many events each agent sends at once (not configurable).
	hubWorkers = ingest.DefaultWorkers
)

// member is one member cluster as the benchmark drives it.
type member struct {
	name  string
	c     *testbed.Cluster
	bulk  client.Client // client-side rate limit raised
	uid   string        // cluster UID (kube-system namespace UID)
	etcd  *clientv3.Client
	agent string // ObsykAgent name (in hubNamespace)
	kcfg  string // admin kubeconfig file
}

// agentKey is the agent label of the hub's per-agent metrics.
func (m *member) agentKey() string { return hubNamespace + "/" + m.agent }

// fleetEnv is a hub control plane with members, registered with `obsyk-hub cluster add`,
// with one ObsykAgent each, streaming to the simulator.
type fleetEnv struct {
	fleet   *testbed.Fleet
	hub     client.Client // hub cluster, controllers.Scheme
	members []*member
}

// startFleetEnv starts the control planes and prepares the members: kubeconfig files, etcd
// clients and cluster UIDs. Nothing is registered yet.
func (e *env) startFleetEnv(ctx context.Context, n int, watchCacheOff bool, tag string) (*fleetEnv, error) {
	hubOpts := testbed.ClusterOptions{Name: tag + "hub", CRDDirectoryPaths: []string{e.crdDir}, Scheme: controllers.Scheme()}
	f, err := testbed.StartFleet(ctx, testbed.FleetOptions{
		Members: n,
		Hub:     hubOpts,
		MemberOptions: func(i int) testbed.ClusterOptions {
			return testbed.ClusterOptions{Name: fmt.Sprintf("%smember-%d", tag, i), WatchCacheDisabled: watchCacheOff}
		},
	})
	if err != nil {
		return nil, err
	}
	fe := &fleetEnv{fleet: f, hub: f.Hub.Client}
	kc, err := f.Hub.AdminKubeconfig()
	if err != nil {
		return fe, err
	}
	hubKC := filepath.Join(e.out, tag+"hub.kubeconfig")
	if err := os.WriteFile(hubKC, kc, 0o600); err != nil {
		return fe, err
	}
	e.hubKubeconfig = hubKC
	for i, c := range f.Members {
		m := &member{name: c.Name, c: c, agent: c.Name}
		if m.bulk, err = workload.NewClient(c.Config); err != nil {
			return fe, err
		}
		if m.uid, err = converge.ClusterUID(ctx, c.Client); err != nil {
			return fe, fmt.Errorf("member %d: %w", i, err)
		}
		kc, err := c.AdminKubeconfig()
		if err != nil {
			return fe, err
		}
		m.kcfg = filepath.Join(e.out, c.Name+".kubeconfig")
		if err := os.WriteFile(m.kcfg, kc, 0o600); err != nil {
			return fe, err
		}
		m.etcd, err = clientv3.New(clientv3.Config{Endpoints: []string{c.EtcdEndpoint()}, DialTimeout: 20 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return fe, fmt.Errorf("etcd client of %s: %w", c.Name, err)
		}
		fe.members = append(fe.members, m)
	}
	return fe, nil
}

// stop closes the etcd clients and stops the control planes.
func (fe *fleetEnv) stop() error {
	for _, m := range fe.members {
		if m.etcd != nil {
			_ = m.etcd.Close()
		}
	}
	if fe.fleet == nil {
		return nil
	}
	return fe.fleet.Stop()
}

// register runs `obsyk-hub cluster add` for each member, all at once, and returns how long
// the slowest took.
func (e *env) register(ctx context.Context, members []*member) (time.Duration, error) {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range members {
		g.Go(func() error {
			cmd := exec.CommandContext(gctx, e.hubBin, "cluster", "add", "--kubeconfig", m.kcfg, "--name", m.name,
				"--hub-kubeconfig", e.hubKubeconfig, "--namespace", hubNamespace)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("obsyk-hub cluster add --name %s: %w\n%s", m.name, err, out)
			}
			return nil
		})
	}
	err := g.Wait()
	return time.Since(start), err
}

// credentials generates the platform client's key, registers it with the simulator and
// writes the credentials Secret into the hub cluster.
func (e *env) credentials(ctx context.Context, hub client.Client) error {
	key, keyPEM, err := newKey()
	if err != nil {
		return err
	}
	e.sim.RegisterClient(hubClientID, &key.PublicKey)
	e.hubKeyPEM = keyPEM
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNamespace}}
	if err := hub.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", hubNamespace, err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: credsSecret},
		Data:       map[string][]byte{"client_id": []byte(hubClientID), "private_key": keyPEM},
	}
	if err := hub.Create(ctx, sec); err != nil {
		return fmt.Errorf("create credentials secret: %w", err)
	}
	return nil
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// createAgent creates the member's ObsykAgent; rate 0 leaves spec.rateLimit out (the
// defaults, 10/s with a burst of 20).
func (e *env) createAgent(ctx context.Context, hub client.Client, m *member, rate int32) error {
	a := &obsykv1.ObsykAgent{
		ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: m.agent},
		Spec: obsykv1.ObsykAgentSpec{
			PlatformURL: e.sim.URL(), ClusterName: m.name,
			CredentialsSecretRef: obsykv1.SecretReference{Name: credsSecret},
			ClusterRef:           &obsykv1.ClusterReference{Name: m.name},
		},
	}
	if rate > 0 {
		a.Spec.RateLimit = &obsykv1.RateLimitConfig{EventsPerSecond: rate, BurstSize: rate}
	}
	if err := hub.Create(ctx, a); err != nil {
		return fmt.Errorf("create obsykagent %s: %w", m.agent, err)
	}
	return nil
}

// updateAgent applies change to the member's ObsykAgent (retrying conflicts).
func updateAgent(ctx context.Context, hub client.Client, m *member, change func(*obsykv1.ObsykAgent)) error {
	for range 10 {
		a := &obsykv1.ObsykAgent{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: hubNamespace, Name: m.agent}, a); err != nil {
			return err
		}
		change(a)
		err := hub.Update(ctx, a)
		if err == nil || !apierrors.IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("update obsykagent %s: too many conflicts", m.agent)
}

// agentsReady returns the members whose agent is Ready with an accepted snapshot.
func agentsReady(ctx context.Context, hub client.Client, members []*member) (map[string]bool, error) {
	var list obsykv1.ObsykAgentList
	if err := hub.List(ctx, &list, client.InNamespace(hubNamespace)); err != nil {
		return nil, err
	}
	ready := map[string]bool{}
	for _, a := range list.Items {
		c := meta.FindStatusCondition(a.Status.Conditions, controllers.ConditionReady)
		if c != nil && c.Status == metav1.ConditionTrue && a.Status.LastSnapshotTime != nil {
			ready[a.Name] = true
		}
	}
	out := map[string]bool{}
	for _, m := range members {
		out[m.name] = ready[m.agent]
	}
	return out, nil
}

// agentStates describes each member's agent for an error message.
func agentStates(ctx context.Context, hub client.Client, members []*member) string {
	var b strings.Builder
	for _, m := range members {
		a := &obsykv1.ObsykAgent{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: hubNamespace, Name: m.agent}, a); err != nil {
			fmt.Fprintf(&b, "\n  %s: %v", m.agent, err)
			continue
		}
		c := meta.FindStatusCondition(a.Status.Conditions, controllers.ConditionReady)
		if c == nil {
			fmt.Fprintf(&b, "\n  %s: no Ready condition", m.agent)
			continue
		}
		fmt.Fprintf(&b, "\n  %s: Ready=%s %s: %s", m.agent, c.Status, c.Reason, c.Message)
	}
	return b.String()
}

// lastSnapshot returns when the simulator last accepted a snapshot of the cluster and how
// many it accepted (a cheap read: no namespaced object is copied).
func lastSnapshot(sim *platform.Server, uid string) (time.Time, int) {
	st := sim.ClusterIn(uid)
	return st.LastSnapshot, st.Snapshots
}

// waitSnapshots waits until the simulator accepted a snapshot of every member after since,
// and returns when each was accepted.
func (e *env) waitSnapshots(ctx context.Context, h *hubProc, hub client.Client, members []*member, since time.Time, timeout time.Duration) (map[string]time.Time, error) {
	deadline := time.Now().Add(timeout)
	got := map[string]time.Time{}
	for {
		for _, m := range members {
			if _, ok := got[m.name]; ok {
				continue
			}
			if t, _ := lastSnapshot(e.sim, m.uid); t.After(since) {
				got[m.name] = t
			}
		}
		if len(got) == len(members) {
			return got, nil
		}
		if h != nil {
			if err := h.alive(); err != nil {
				return got, err
			}
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, m := range members {
				if _, ok := got[m.name]; !ok {
					missing = append(missing, m.name)
				}
			}
			return got, fmt.Errorf("no snapshot accepted within %s for %s; agents:%s", timeout, strings.Join(missing, ", "),
				agentStates(ctx, hub, members))
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
