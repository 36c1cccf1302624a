package clusterregistry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// collectedKinds are the contract's kinds (§5.1) other than Secrets, written out here rather
// than derived from ReaderPolicyRules so that a wrong rule fails the test.
var collectedKinds = []schema.GroupVersionResource{
	{Version: "v1", Resource: "namespaces"},
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "nodes"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "persistentvolumeclaims"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Version: "v1", Resource: "events"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
}

var secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

func TestRegisterRefusesInvalidOptions(t *testing.T) {
	member := &rest.Config{Host: "https://127.0.0.1:6443"}
	hub := fake.NewClientBuilder().Build()
	valid := func() clusterregistry.RegisterOptions {
		return clusterregistry.RegisterOptions{Name: "prod-eu", Member: member, Hub: hub}
	}
	tests := []struct {
		name    string
		modify  func(*clusterregistry.RegisterOptions)
		wantErr string
	}{
		{"a registration without a name is refused", func(o *clusterregistry.RegisterOptions) { o.Name = "" }, "cluster name is required"},
		{"a name that cannot name a secret is refused", func(o *clusterregistry.RegisterOptions) { o.Name = "Prod_EU" }, "invalid cluster name"},
		{"a registration without member credentials is refused", func(o *clusterregistry.RegisterOptions) { o.Member = nil }, "member rest config is required"},
		{"a registration without a hub client is refused", func(o *clusterregistry.RegisterOptions) { o.Hub = nil }, "hub client is required"},
		{"a plain http server url is refused because it would carry the token in the clear", func(o *clusterregistry.RegisterOptions) { o.ServerURL = "http://10.0.0.1:6443" }, "must be https"},
		{"a token lifetime below the TokenRequest minimum is refused", func(o *clusterregistry.RegisterOptions) { o.TokenTTL = time.Minute }, "shorter than"},
		{"an allowed namespace that is not a namespace name is refused", func(o *clusterregistry.RegisterOptions) { o.AllowedNamespaces = []string{"team-a", "Team B"} }, `invalid allowed namespace "Team B"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			opts := valid()
			tc.modify(&opts)
			reg, err := clusterregistry.Register(t.Context(), opts)
			g.Expect(reg).To(BeNil())
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}

	t.Run("an unregistration without a hub client is refused", func(t *testing.T) {
		g := NewWithT(t)
		err := clusterregistry.Unregister(t.Context(), clusterregistry.UnregisterOptions{Name: "prod-eu", Member: member})
		g.Expect(err).To(MatchError(ContainSubstring("hub client is required")))
	})
}

// TestRegister runs the registration lifecycle against a real hub and two real members.
// The subtests run in order and build on each other.
func TestRegister(t *testing.T) {
	f := testbed.NewTestFleet(t, testbed.FleetOptions{Members: 2})
	plain, withSecrets := f.Members[0], f.Members[1]

	t.Run("a registration grants list and watch on every collected kind but secrets, and nothing else", func(t *testing.T) {
		g := NewWithT(t)
		ctx := testContext(t)
		began := time.Now()
		reg, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{Name: plain.Name, Member: plain.Config, Hub: f.Hub.Client})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(reg.Name).To(Equal(plain.Name))
		g.Expect(reg.SecretNamespace).To(Equal("obsyk-system"))
		g.Expect(reg.ServiceAccount.String()).To(Equal("obsyk-system/obsyk-hub-reader"))
		// The test control planes never fill in token Secrets, so this is a TokenRequest token.
		g.Expect(reg.TokenExpiry).NotTo(BeNil())
		g.Expect(*reg.TokenExpiry).To(BeTemporally("~", began.Add(365*24*time.Hour), time.Hour))
		_, err = plain.Kube.CoreV1().Secrets("obsyk-system").Get(ctx, clusterregistry.ReaderTokenSecretName, metav1.GetOptions{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the unfilled token secret must be deleted: %v", err)

		secret := hubSecret(t, f.Hub, plain.Name)
		g.Expect(secret.Labels).To(HaveKeyWithValue("sigs.k8s.io/multicluster-runtime-kubeconfig", "true"))
		g.Expect(secret.Annotations).NotTo(HaveKey("obsyk.io/allowed-namespaces"))
		expectReaderKubeconfig(g, secret.Data["kubeconfig"], plain)

		reader := readerConfig(t, f.Hub, plain.Name)
		expectCanListAndWatch(t, reader, collectedKinds...)
		expectForbidden(t, reader, secretsGVR)
		expectReadOnly(t, reader)
	})

	t.Run("a registration with secret collection also grants secrets, and records the allowed namespaces", func(t *testing.T) {
		g := NewWithT(t)
		ctx := testContext(t)
		_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
			Name: withSecrets.Name, Member: withSecrets.Config, Hub: f.Hub.Client,
			CollectSecrets: true, AllowedNamespaces: []string{"team-a", " team-b", "team-a"},
			LegacyTokenWait: -1, // the fallback was covered above; spare the wait
		})
		g.Expect(err).NotTo(HaveOccurred())
		secret := hubSecret(t, f.Hub, withSecrets.Name)
		g.Expect(secret.Annotations).To(HaveKeyWithValue("obsyk.io/allowed-namespaces", "team-a,team-b"))

		reader := readerConfig(t, f.Hub, withSecrets.Name)
		expectCanListAndWatch(t, reader, append([]schema.GroupVersionResource{secretsGVR}, collectedKinds...)...)
		expectReadOnly(t, reader)
	})

	t.Run("registering again converges on the new options and renews the token", func(t *testing.T) {
		g := NewWithT(t)
		ctx := testContext(t)
		before := hubSecret(t, f.Hub, plain.Name)
		opts := clusterregistry.RegisterOptions{
			Name: plain.Name, Member: plain.Config, Hub: f.Hub.Client,
			CollectSecrets: true, AllowedNamespaces: []string{"team-c"}, LegacyTokenWait: -1,
		}
		_, err := clusterregistry.Register(ctx, opts)
		g.Expect(err).NotTo(HaveOccurred())
		after := hubSecret(t, f.Hub, plain.Name)
		g.Expect(after.Annotations).To(HaveKeyWithValue("obsyk.io/allowed-namespaces", "team-c"))
		g.Expect(after.Data["kubeconfig"]).NotTo(Equal(before.Data["kubeconfig"]), "a new token must be written")
		reader := readerConfig(t, f.Hub, plain.Name)
		g.Eventually(func() error { return listAndWatch(ctx, reader, secretsGVR) }).
			WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(Succeed(), "secrets must become readable")

		opts.CollectSecrets, opts.AllowedNamespaces = false, nil
		_, err = clusterregistry.Register(ctx, opts)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(hubSecret(t, f.Hub, plain.Name).Annotations).NotTo(HaveKey("obsyk.io/allowed-namespaces"))
		reader = readerConfig(t, f.Hub, plain.Name)
		g.Eventually(func() bool { return apierrors.IsForbidden(listAndWatch(ctx, reader, secretsGVR)) }).
			WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(BeTrue(), "secrets must become unreadable again")
		expectCanListAndWatch(t, reader, collectedKinds...)
	})

	t.Run("a hub secret of the same name that is not a kubeconfig secret is not overwritten", func(t *testing.T) {
		g := NewWithT(t)
		ctx := testContext(t)
		foreign := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "not-a-kubeconfig", Namespace: "obsyk-system"},
			Data:       map[string][]byte{"password": []byte("keep me")},
		}
		g.Expect(f.Hub.Client.Create(ctx, foreign)).To(Succeed())
		_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
			Name: foreign.Name, Member: withSecrets.Config, Hub: f.Hub.Client, LegacyTokenWait: -1,
		})
		g.Expect(err).To(MatchError(ContainSubstring("refusing to overwrite")))
		g.Expect(hubSecret(t, f.Hub, foreign.Name).Data).To(Equal(foreign.Data))
		// The refusal comes before any change in the member: its registration (with
		// secrets) is intact.
		expectCanListAndWatch(t, readerConfig(t, f.Hub, withSecrets.Name), secretsGVR)
		err = clusterregistry.Unregister(ctx, clusterregistry.UnregisterOptions{Name: foreign.Name, Hub: f.Hub.Client})
		g.Expect(err).To(MatchError(ContainSubstring("refusing to delete")))
	})

	t.Run("unregistering removes everything it created and revokes the token", func(t *testing.T) {
		g := NewWithT(t)
		ctx := testContext(t)
		reader, err := kubernetes.NewForConfig(readerConfig(t, f.Hub, plain.Name))
		g.Expect(err).NotTo(HaveOccurred())
		opts := clusterregistry.UnregisterOptions{Name: plain.Name, Member: plain.Config, Hub: f.Hub.Client}
		g.Expect(clusterregistry.Unregister(ctx, opts)).To(Succeed())

		member := plain.Kube
		gone := map[string]error{}
		_, gone["service account"] = member.CoreV1().ServiceAccounts("obsyk-system").Get(ctx, "obsyk-hub-reader", metav1.GetOptions{})
		_, gone["token secret"] = member.CoreV1().Secrets("obsyk-system").Get(ctx, clusterregistry.ReaderTokenSecretName, metav1.GetOptions{})
		_, gone["cluster role"] = member.RbacV1().ClusterRoles().Get(ctx, "obsyk-hub-reader", metav1.GetOptions{})
		_, gone["cluster role binding"] = member.RbacV1().ClusterRoleBindings().Get(ctx, "obsyk-hub-reader", metav1.GetOptions{})
		gone["hub secret"] = f.Hub.Client.Get(ctx, client.ObjectKey{Namespace: "obsyk-system", Name: plain.Name}, &corev1.Secret{})
		for what, err := range gone {
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s must be gone, got %v", what, err)
		}
		g.Eventually(func() error {
			_, err := reader.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
			return err
		}).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(Satisfy(apierrors.IsUnauthorized),
			"the token must stop working once its service account is gone (kube-apiserver caches a "+
				"token's successful authentication for 10s)")

		g.Expect(clusterregistry.Unregister(ctx, opts)).To(Succeed(), "unregistering twice is not an error")
		// The other member's registration is untouched.
		expectCanListAndWatch(t, readerConfig(t, f.Hub, withSecrets.Name), secretsGVR)
	})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func hubSecret(t *testing.T, hub *testbed.Cluster, name string) *corev1.Secret {
	t.Helper()
	var secret corev1.Secret
	if err := hub.Client.Get(testContext(t), client.ObjectKey{Namespace: "obsyk-system", Name: name}, &secret); err != nil {
		t.Fatalf("get hub secret %s: %v", name, err)
	}
	return &secret
}

// readerConfig is the rest config of the kubeconfig Register wrote into the hub.
func readerConfig(t *testing.T, hub *testbed.Cluster, name string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(hubSecret(t, hub, name).Data["kubeconfig"])
	if err != nil {
		t.Fatalf("parse kubeconfig of %s: %v", name, err)
	}
	cfg.Timeout = 30 * time.Second
	return cfg
}

// expectReaderKubeconfig checks that the kubeconfig reaches the member with an embedded CA
// and a token, and carries nothing else: no client certificate, no file, no plugin.
func expectReaderKubeconfig(g *WithT, data []byte, member *testbed.Cluster) {
	kc, err := clientcmd.Load(data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(kc.Clusters).To(HaveLen(1))
	g.Expect(kc.AuthInfos).To(HaveLen(1))
	for _, c := range kc.Clusters {
		g.Expect(c.Server).To(Equal(strings.TrimSuffix(member.Config.Host, "/")))
		g.Expect(c.CertificateAuthorityData).To(Equal(member.Config.CAData))
		g.Expect(c.CertificateAuthority).To(BeEmpty())
		g.Expect(c.InsecureSkipTLSVerify).To(BeFalse())
	}
	for _, a := range kc.AuthInfos {
		g.Expect(a.Token).NotTo(BeEmpty())
		g.Expect(a.TokenFile).To(BeEmpty())
		g.Expect(a.ClientCertificateData).To(BeEmpty())
		g.Expect(a.ClientKeyData).To(BeEmpty())
		g.Expect(a.ClientCertificate).To(BeEmpty())
		g.Expect(a.ClientKey).To(BeEmpty())
		g.Expect(a.Exec).To(BeNil())
		g.Expect(a.AuthProvider).To(BeNil())
		g.Expect(a.Username + a.Password).To(BeEmpty())
	}
}

func listAndWatch(ctx context.Context, cfg *rest.Config, gvr schema.GroupVersionResource) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return err
	}
	w, err := dyn.Resource(gvr).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	w.Stop()
	return nil
}

func expectCanListAndWatch(t *testing.T, cfg *rest.Config, gvrs ...schema.GroupVersionResource) {
	t.Helper()
	for _, gvr := range gvrs {
		t.Run("list and watch "+gvr.GroupResource().String(), func(t *testing.T) {
			NewWithT(t).Expect(listAndWatch(testContext(t), cfg, gvr)).To(Succeed())
		})
	}
}

func expectForbidden(t *testing.T, cfg *rest.Config, gvrs ...schema.GroupVersionResource) {
	t.Helper()
	for _, gvr := range gvrs {
		t.Run("no list or watch of "+gvr.GroupResource().String(), func(t *testing.T) {
			g := NewWithT(t)
			ctx := testContext(t)
			dyn, err := dynamic.NewForConfig(cfg)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "list: %v", err)
			_, err = dyn.Resource(gvr).Watch(ctx, metav1.ListOptions{})
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "watch: %v", err)
		})
	}
}

// expectReadOnly checks the two remaining edges of the role: get works on the kube-system
// namespace only, and writes are refused.
func expectReadOnly(t *testing.T, cfg *rest.Config) {
	t.Helper()
	g := NewWithT(t)
	ctx := testContext(t)
	kube, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred(), "get kube-system")
	g.Expect(ns.UID).NotTo(BeEmpty())
	_, err = kube.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "get of another namespace: %v", err)
	_, err = kube.CoreV1().ConfigMaps("default").Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "written-by-the-hub"}}, metav1.CreateOptions{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "create configmap: %v", err)
}
