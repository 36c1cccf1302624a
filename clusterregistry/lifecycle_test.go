package clusterregistry_test

import (
	"runtime"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/obsyk/obsyk-hub/clusterregistry"
)

func TestRegistryChurnLeavesNoGoroutines(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	member := f.Members[0]
	// The kubeconfig is registered into a namespace the registry does not watch, then copied.
	register(t, "churn-source", member, clusterregistry.RegisterOptions{})
	data := hubSecretData(t, "churn-source", member.Name)
	ns := testNamespace("churn")
	ensureNamespace(t, ns)
	aware := newTestAware()
	reg := startRegistry(t, fastOptions(ns), aware)

	cycle := func() {
		g.Expect(f.Hub.Client.Create(t.Context(), kubeconfigSecret(ns, member.Name, data))).To(Succeed())
		g.Eventually(state(reg, member.Name), 30*time.Second, 20*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
		g.Eventually(func() bool { return aware.active(member.Name) }, 10*time.Second, 20*time.Millisecond).Should(BeTrue())
		g.Expect(f.Hub.Client.Delete(t.Context(), kubeconfigSecret(ns, member.Name, nil))).To(Succeed())
		g.Eventually(state(reg, member.Name), 30*time.Second, 20*time.Millisecond).Should(Equal("<absent>"))
		g.Expect(aware.active(member.Name)).To(BeFalse())
	}
	// One warm-up cycle starts what lives once per process (client-go's and the HTTP
	// stack's background goroutines), so that it does not count as a leak.
	cycle()
	// The baseline is taken once the count has settled: two polls, 200 ms apart, agree.
	baseline := -1
	g.Eventually(func() bool {
		n := runtime.NumGoroutine()
		settled := n == baseline
		baseline = n
		return settled
	}, 30*time.Second, 200*time.Millisecond).Should(BeTrue())
	for range 20 {
		cycle()
	}
	_, engagements := aware.get(member.Name)
	g.Expect(engagements).To(Equal(21))
	// Goroutines of closed connections end asynchronously; they must all end.
	g.Eventually(runtime.NumGoroutine, 30*time.Second, 100*time.Millisecond).Should(BeNumerically("<=", baseline))
	t.Logf("goroutines: baseline %d, after 20 cycles %d", baseline, runtime.NumGoroutine())
}

func TestRegistryReconnectsARotatedMemberAlone(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("rotation")
	for _, m := range f.Members {
		register(t, ns, m, clusterregistry.RegisterOptions{})
	}
	aware := newTestAware()
	reg := startRegistry(t, fastOptions(ns), aware)
	for _, m := range f.Members {
		g.Eventually(func() bool { return aware.active(m.Name) }, 30*time.Second, 50*time.Millisecond).Should(BeTrue())
	}
	before := map[string]engagement{}
	for _, m := range f.Members {
		before[m.Name], _ = aware.get(m.Name)
	}
	rotated := f.Members[0]
	oldSecret := hubSecretData(t, ns, rotated.Name)

	// Registering again issues a new token and rewrites the Secret.
	register(t, ns, rotated, clusterregistry.RegisterOptions{})
	g.Expect(hubSecretData(t, ns, rotated.Name)).NotTo(Equal(oldSecret))
	g.Eventually(func() int { _, n := aware.get(rotated.Name); return n }, 30*time.Second, 50*time.Millisecond).Should(Equal(2))
	g.Expect(before[rotated.Name].ctx.Err()).To(HaveOccurred(), "the old connection's engagement ends")
	g.Eventually(state(reg, rotated.Name), 30*time.Second, 50*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
	cl, err := reg.Get(t.Context(), multicluster.ClusterName(rotated.Name))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cl).NotTo(BeIdenticalTo(before[rotated.Name].cl))

	for _, m := range f.Members[1:] {
		now, n := aware.get(m.Name)
		g.Expect(n).To(Equal(1), "cluster %s must not be re-engaged", m.Name)
		g.Expect(now.ctx.Err()).NotTo(HaveOccurred(), "cluster %s must not be interrupted", m.Name)
		g.Expect(now.cl).To(BeIdenticalTo(before[m.Name].cl))
	}
}

func TestRegistryRecordsRejectedCredentialsAndRecovers(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("credentials")
	member := f.Members[1]
	register(t, "credentials-source", member, clusterregistry.RegisterOptions{})
	good := hubSecretData(t, "credentials-source", member.Name)
	kc, err := clientcmd.Load(good)
	g.Expect(err).NotTo(HaveOccurred())
	for _, u := range kc.AuthInfos {
		u.Token = "not-a-valid-token"
	}
	bad, err := clientcmd.Write(*kc)
	g.Expect(err).NotTo(HaveOccurred())

	ensureNamespace(t, ns)
	reg := startRegistry(t, fastOptions(ns), newTestAware())
	g.Expect(f.Hub.Client.Create(t.Context(), kubeconfigSecret(ns, member.Name, bad))).To(Succeed())
	g.Eventually(func() string { st, _ := reg.Member(member.Name); return st.Reason }, 30*time.Second, 50*time.Millisecond).
		Should(Equal(clusterregistry.ReasonCredentialsRejected))
	st, _ := reg.Member(member.Name)
	g.Expect(st.State).To(Equal(clusterregistry.StateDisconnected))
	g.Expect(st.LastError).NotTo(ContainSubstring("not-a-valid-token"))

	g.Expect(f.Hub.Client.Update(t.Context(), kubeconfigSecret(ns, member.Name, good))).To(Succeed())
	g.Eventually(state(reg, member.Name), 30*time.Second, 50*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
}

func TestRegistryRejectsUnsafeSecretsAlone(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	ns := testNamespace("unsafe")
	healthy := f.Members[2]
	register(t, ns, healthy, clusterregistry.RegisterOptions{})
	register(t, "unsafe-source", f.Members[0], clusterregistry.RegisterOptions{})
	good := hubSecretData(t, "unsafe-source", f.Members[0].Name)
	withExec := func() []byte {
		kc, err := clientcmd.Load(good)
		g.Expect(err).NotTo(HaveOccurred())
		for _, u := range kc.AuthInfos {
			u.Token = ""
			u.Exec = &clientcmdapi.ExecConfig{Command: "/bin/sh", APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}
		}
		data, err := clientcmd.Write(*kc)
		g.Expect(err).NotTo(HaveOccurred())
		return data
	}()
	opts := fastOptions(ns)
	metrics := prometheus.NewRegistry()
	opts.Registerer = metrics
	reg := startRegistry(t, opts, newTestAware())
	g.Eventually(state(reg, healthy.Name), 30*time.Second, 50*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
	healthyBefore, err := reg.Get(t.Context(), multicluster.ClusterName(healthy.Name))
	g.Expect(err).NotTo(HaveOccurred())

	cases := []struct {
		name, secret string
		data         []byte
		wantReason   string
	}{
		{"a kubeconfig that runs a program is rejected as ExecNotAllowed", "runs-exec", withExec, clusterregistry.ReasonExecNotAllowed},
		{"a Secret without a kubeconfig is rejected as ParseError", "empty", nil, clusterregistry.ReasonParseError},
		{"a Secret whose kubeconfig is garbage is rejected as ParseError", "garbage", []byte("{{{"), clusterregistry.ReasonParseError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(f.Hub.Client.Create(t.Context(), kubeconfigSecret(ns, tc.secret, tc.data))).To(Succeed())
			g.Eventually(func() string { st, _ := reg.Member(tc.secret); return st.Reason }, 10*time.Second, 50*time.Millisecond).Should(Equal(tc.wantReason))
			st, _ := reg.Member(tc.secret)
			g.Expect(st.State).To(Equal(clusterregistry.StateInvalid))
			_, err := reg.Get(t.Context(), multicluster.ClusterName(tc.secret))
			g.Expect(err).To(MatchError(multicluster.ErrClusterNotFound))
		})
	}

	g.Expect(series(g, metrics, "obsyk_hub_cluster_kubeconfig_rejected")).To(ConsistOf(
		"runs-exec/"+clusterregistry.ReasonExecNotAllowed, "empty/"+clusterregistry.ReasonParseError, "garbage/"+clusterregistry.ReasonParseError))

	// Fixing a Secret recovers its cluster without a restart.
	g.Expect(f.Hub.Client.Update(t.Context(), kubeconfigSecret(ns, "runs-exec", good))).To(Succeed())
	g.Eventually(state(reg, "runs-exec"), 30*time.Second, 50*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
	// Deleting an invalid Secret removes the entry.
	g.Expect(f.Hub.Client.Delete(t.Context(), kubeconfigSecret(ns, "garbage", nil))).To(Succeed())
	g.Eventually(state(reg, "garbage"), 10*time.Second, 50*time.Millisecond).Should(Equal("<absent>"))

	g.Expect(series(g, metrics, "obsyk_hub_cluster_kubeconfig_rejected")).To(ConsistOf("empty/" + clusterregistry.ReasonParseError))

	healthyAfter, err := reg.Get(t.Context(), multicluster.ClusterName(healthy.Name))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(healthyAfter).To(BeIdenticalTo(healthyBefore), "invalid Secrets must not touch other clusters")
}

func TestRegistryReadsClusterAPISecretsWhenAsked(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	member := f.Members[2]
	register(t, "capi-source", member, clusterregistry.RegisterOptions{})
	data := hubSecretData(t, "capi-source", member.Name)
	ns := testNamespace("capi")
	ensureNamespace(t, ns)
	opts := fastOptions(ns)
	opts.CAPISecrets = true
	reg := startRegistry(t, opts, newTestAware())

	const clusterName = "workload-1"
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: clusterName + "-kubeconfig", Labels: map[string]string{clusterregistry.CAPIClusterNameLabel: clusterName}},
		Type:       clusterregistry.CAPISecretType,
		Data:       map[string][]byte{clusterregistry.CAPIKubeconfigSecretKey: data},
	}
	g.Expect(f.Hub.Client.Create(t.Context(), secret)).To(Succeed())
	g.Eventually(state(reg, clusterName), 30*time.Second, 50*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
	st, _ := reg.Member(clusterName)
	g.Expect(st.SecretName).To(Equal(clusterName + "-kubeconfig"))
	g.Expect(f.Hub.Client.Delete(t.Context(), secret)).To(Succeed())
	g.Eventually(state(reg, clusterName), 30*time.Second, 50*time.Millisecond).Should(Equal("<absent>"))
}

func TestRegistryIgnoresSecretsOutsideItsScope(t *testing.T) {
	g := NewWithT(t)
	f := fleet(t)
	member := f.Members[1]
	register(t, "scope-source", member, clusterregistry.RegisterOptions{})
	data := hubSecretData(t, "scope-source", member.Name)
	ns, elsewhere := testNamespace("scope"), testNamespace("scope-elsewhere")
	ensureNamespace(t, ns)
	ensureNamespace(t, elsewhere)
	reg := startRegistry(t, fastOptions(ns), newTestAware())

	unlabelled := kubeconfigSecret(ns, "unlabelled", data)
	unlabelled.Labels = nil
	g.Expect(f.Hub.Client.Create(t.Context(), unlabelled)).To(Succeed())
	g.Expect(f.Hub.Client.Create(t.Context(), kubeconfigSecret(elsewhere, "other-namespace", data))).To(Succeed())
	g.Expect(f.Hub.Client.Create(t.Context(), kubeconfigSecret(ns, "in-scope", data))).To(Succeed())
	// The informers are scoped by namespace and label: the other two never reach the registry.
	g.Eventually(state(reg, "in-scope"), 30*time.Second, 50*time.Millisecond).Should(Equal(clusterregistry.StateConnected))
	g.Consistently(reg.Members, time.Second, 100*time.Millisecond).Should(HaveLen(1))

	// Removing the label removes the cluster, as deleting the Secret would.
	inScope := kubeconfigSecret(ns, "in-scope", data)
	inScope.Labels = map[string]string{"example.com/other": "true"}
	g.Expect(f.Hub.Client.Update(t.Context(), inScope)).To(Succeed())
	g.Eventually(state(reg, "in-scope"), 30*time.Second, 50*time.Millisecond).Should(Equal("<absent>"))
}
