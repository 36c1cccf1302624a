package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

func TestClusterAddAndRemove(t *testing.T) {
	f := testbed.NewTestFleet(t, testbed.FleetOptions{Members: 1})
	member := f.Members[0]
	dir := t.TempDir()
	hubKubeconfig := writeKubeconfig(t, dir, "hub", f.Hub, "")
	memberKubeconfig := writeKubeconfig(t, dir, "member", member, "")
	// A kubeconfig whose current context points nowhere: only --context reaches the member.
	otherContext := writeKubeconfig(t, dir, "member-other-context", member, "unreachable")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	secretKey := client.ObjectKey{Namespace: "obsyk-system", Name: "prod-eu"}
	hubSecret := func(g Gomega) *corev1.Secret {
		s := &corev1.Secret{}
		g.Expect(f.Hub.Client.Get(ctx, secretKey, s)).To(Succeed())
		return s
	}
	readerExists := func() error {
		_, err := member.Kube.CoreV1().ServiceAccounts(clusterregistry.MemberNamespace).Get(ctx, clusterregistry.ReaderName, metav1.GetOptions{})
		return err
	}

	t.Run("cluster add registers the member and prints the token expiry", func(t *testing.T) {
		g := NewWithT(t)
		began := time.Now()
		out, errOut, code := runArgs("cluster", "add", "--kubeconfig", memberKubeconfig, "--name", "prod-eu",
			"--hub-kubeconfig", hubKubeconfig, "--allowed-namespaces", "team-a,team-b")
		g.Expect(code).To(Equal(0), errOut)
		t.Logf("output:\n%s", out)

		secret := hubSecret(g)
		g.Expect(secret.Labels).To(HaveKeyWithValue(clusterregistry.KubeconfigSecretLabel, "true"))
		g.Expect(secret.Annotations).To(HaveKeyWithValue(clusterregistry.AllowedNamespacesAnnotation, "team-a,team-b"))
		cfg, err := clusterregistry.ValidateKubeconfig(secret.Data[clusterregistry.KubeconfigSecretKey], clusterregistry.KubeconfigPolicy{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cfg.Host).To(Equal(strings.TrimSuffix(member.Config.Host, "/")))
		g.Expect(readerExists()).To(Succeed())

		// The test control planes issue TokenRequest tokens of the asked lifetime (one year).
		expiry := began.Add(clusterregistry.DefaultTokenTTL).UTC()
		g.Expect(out).To(ContainSubstring(`Registered cluster "prod-eu".`))
		g.Expect(out).To(ContainSubstring("Secret obsyk-system/prod-eu"))
		g.Expect(out).To(ContainSubstring("ServiceAccount obsyk-system/obsyk-hub-reader"))
		g.Expect(out).To(ContainSubstring("Token: expires at " + expiry.Format("2006-01-02T")))
		g.Expect(out).To(MatchRegexp(`\(in 365 days\)`))
		g.Expect(out).NotTo(ContainSubstring("WARNING"))
		g.Expect(string(secret.Data[clusterregistry.KubeconfigSecretKey])).NotTo(BeEmpty())
		g.Expect(out).NotTo(ContainSubstring(string(member.Config.KeyData)), "no credential is printed")
	})

	t.Run("cluster add uses the named context and finds the hub through KUBECONFIG", func(t *testing.T) {
		g := NewWithT(t)
		t.Setenv("KUBECONFIG", hubKubeconfig)
		out, errOut, code := runArgs("cluster", "add", "--kubeconfig", otherContext, "--context", member.Name,
			"--name", "prod-eu", "--collect-secrets", "--token-ttl", "2h")
		g.Expect(code).To(Equal(0), errOut)
		g.Expect(out).To(ContainSubstring("WARNING: the identity may list and watch Secrets cluster-wide"))
		g.Expect(out).To(MatchRegexp(`Token: expires at \S+ \(in (2h0m0s|1h59m0s)\)`))
		g.Expect(hubSecret(g).Annotations).NotTo(HaveKey(clusterregistry.AllowedNamespacesAnnotation), "registering again converges")
	})

	t.Run("cluster add with an unknown context fails with one clear line", func(t *testing.T) {
		g := NewWithT(t)
		out, errOut, code := runArgs("cluster", "add", "--kubeconfig", memberKubeconfig, "--context", "nope",
			"--name", "prod-eu", "--hub-kubeconfig", hubKubeconfig)
		g.Expect(code).To(Equal(1))
		g.Expect(out).To(BeEmpty())
		g.Expect(errOut).To(HavePrefix("obsyk-hub cluster add: load member kubeconfig "))
		g.Expect(errOut).To(ContainSubstring(`"nope"`))
		g.Expect(strings.Count(errOut, "\n")).To(Equal(1))
	})

	t.Run("cluster add refuses to overwrite a hub secret it did not write", func(t *testing.T) {
		g := NewWithT(t)
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: "obsyk-system"},
			Data: map[string][]byte{"password": []byte("keep me")}}
		g.Expect(f.Hub.Client.Create(ctx, foreign)).To(Succeed())
		_, errOut, code := runArgs("cluster", "add", "--kubeconfig", memberKubeconfig, "--name", "foreign",
			"--hub-kubeconfig", hubKubeconfig)
		g.Expect(code).To(Equal(1))
		g.Expect(errOut).To(HavePrefix("obsyk-hub cluster add: register cluster foreign: "))
		g.Expect(errOut).To(ContainSubstring("refusing to overwrite it"))
		g.Expect(strings.Count(errOut, "\n")).To(Equal(1))
	})

	t.Run("cluster remove without a member kubeconfig removes the hub secret only and says so", func(t *testing.T) {
		g := NewWithT(t)
		out, errOut, code := runArgs("cluster", "remove", "--name", "prod-eu", "--hub-kubeconfig", hubKubeconfig)
		g.Expect(code).To(Equal(0), errOut)
		g.Expect(out).To(ContainSubstring(`Unregistered cluster "prod-eu": the hub Secret obsyk-system/prod-eu is gone.`))
		g.Expect(out).To(ContainSubstring("The member was not touched (no --kubeconfig)"))
		g.Eventually(func() bool {
			return apierrors.IsNotFound(f.Hub.Client.Get(ctx, secretKey, &corev1.Secret{}))
		}).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(BeTrue(), "the hub secret must be gone")
		g.Expect(readerExists()).To(Succeed(), "the member identity must remain")
	})

	t.Run("cluster remove with the member kubeconfig also removes the member identity", func(t *testing.T) {
		g := NewWithT(t)
		_, errOut, code := runArgs("cluster", "add", "--kubeconfig", memberKubeconfig, "--name", "prod-eu", "--hub-kubeconfig", hubKubeconfig)
		g.Expect(code).To(Equal(0), errOut)
		hubSecret(g)

		out, errOut, code := runArgs("cluster", "remove", "--name", "prod-eu", "--kubeconfig", memberKubeconfig, "--hub-kubeconfig", hubKubeconfig)
		g.Expect(code).To(Equal(0), errOut)
		g.Expect(out).To(ContainSubstring("Removed from the member"))
		g.Eventually(func() bool {
			return apierrors.IsNotFound(f.Hub.Client.Get(ctx, secretKey, &corev1.Secret{}))
		}).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(BeTrue(), "the hub secret must be gone")
		g.Eventually(func() bool { return apierrors.IsNotFound(readerExists()) }).
			WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(BeTrue(), "the member service account must be gone")
	})

	t.Run("cluster remove refuses to delete a hub secret it did not write", func(t *testing.T) {
		g := NewWithT(t)
		_, errOut, code := runArgs("cluster", "remove", "--name", "foreign", "--hub-kubeconfig", hubKubeconfig)
		g.Expect(code).To(Equal(1))
		g.Expect(errOut).To(ContainSubstring("refusing to delete it"))
		g.Expect(f.Hub.Client.Get(ctx, client.ObjectKey{Namespace: "obsyk-system", Name: "foreign"}, &corev1.Secret{})).To(Succeed())
	})
}

func runArgs(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// writeKubeconfig writes c's admin kubeconfig to dir/name and returns its path. With a
// currentContext, the file's current context is that name, pointing at an unreachable
// server, and c stays reachable under its own context.
func writeKubeconfig(t *testing.T, dir, name string, c *testbed.Cluster, currentContext string) string {
	t.Helper()
	data, err := c.AdminKubeconfig()
	if err != nil {
		t.Fatalf("admin kubeconfig of %s: %v", c.Name, err)
	}
	if currentContext != "" {
		kc, err := clientcmd.Load(data)
		if err != nil {
			t.Fatalf("load kubeconfig: %v", err)
		}
		kc.Clusters["unreachable"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
		kc.Contexts[currentContext] = &clientcmdapi.Context{Cluster: "unreachable", AuthInfo: "admin"}
		kc.CurrentContext = currentContext
		if data, err = clientcmd.Write(*kc); err != nil {
			t.Fatalf("write kubeconfig: %v", err)
		}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
