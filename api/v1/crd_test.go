package v1_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// referenceManifest is the contract's §6.6 manifest: existing reference-operator manifests
// must still apply.
const referenceManifest = `
apiVersion: obsyk.io/v1
kind: ObsykAgent
metadata:
  name: staging-eu-1
  namespace: default
spec:
  platformURL: "https://api.obsyk.example"
  clusterName: "staging-eu-1"
  credentialsSecretRef:
    name: obsyk-credentials
  syncInterval: "5m"
  rateLimit:
    eventsPerSecond: 10
    burstSize: 20
`

func TestGeneratedCRDOnARealAPIServer(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	crds := filepath.Join(filepath.Dir(file), "..", "..", "charts", "obsyk-hub", "files", "crds")
	scheme := k8sruntime.NewScheme()
	NewWithT(t).Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	NewWithT(t).Expect(obsykv1.AddToScheme(scheme)).To(Succeed())
	c := testbed.NewTestCluster(t, testbed.ClusterOptions{Name: "crd", CRDDirectoryPaths: []string{crds}, Scheme: scheme})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("the reference manifest applies unchanged", func(t *testing.T) {
		g := NewWithT(t)
		var agent obsykv1.ObsykAgent
		g.Expect(yaml.UnmarshalStrict([]byte(referenceManifest), &agent)).To(Succeed())
		g.Expect(c.Client.Create(ctx, &agent)).To(Succeed())
		var got obsykv1.ObsykAgent
		g.Expect(c.Client.Get(ctx, client.ObjectKeyFromObject(&agent), &got)).To(Succeed())
		g.Expect(got.Spec).To(Equal(agent.Spec))
	})

	t.Run("the hub's own fields are kept", func(t *testing.T) {
		g := NewWithT(t)
		agent := &obsykv1.ObsykAgent{
			ObjectMeta: metav1.ObjectMeta{Name: "hub-fields", Namespace: "default"},
			Spec: obsykv1.ObsykAgentSpec{
				PlatformURL: "https://api.obsyk.example", ClusterName: "prod-eu",
				CredentialsSecretRef: obsykv1.SecretReference{Name: "creds"},
				ClusterRef:           &obsykv1.ClusterReference{Name: "prod-eu"},
				Kinds:                []obsykv1.Kind{"Pod", "Secret"},
				Namespaces:           &obsykv1.NamespaceFilter{Include: []string{"shop"}, Exclude: []string{"kube-system"}},
				ResyncInterval:       "0s",
			},
		}
		g.Expect(c.Client.Create(ctx, agent)).To(Succeed())
		var got obsykv1.ObsykAgent
		g.Expect(c.Client.Get(ctx, client.ObjectKeyFromObject(agent), &got)).To(Succeed())
		g.Expect(got.Spec.ClusterRef).To(Equal(agent.Spec.ClusterRef))
		g.Expect(got.Spec.Kinds).To(Equal(agent.Spec.Kinds))
		g.Expect(got.Spec.Namespaces).To(Equal(agent.Spec.Namespaces))
		g.Expect(got.Spec.ResyncInterval).To(Equal("0s"))
	})

	t.Run("defaults are filled in", func(t *testing.T) {
		g := NewWithT(t)
		agent := &obsykv1.ObsykAgent{
			ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "default"},
			Spec: obsykv1.ObsykAgentSpec{
				PlatformURL: "https://api.obsyk.example", ClusterName: "c",
				CredentialsSecretRef: obsykv1.SecretReference{Name: "creds"},
				RateLimit:            &obsykv1.RateLimitConfig{},
			},
		}
		g.Expect(c.Client.Create(ctx, agent)).To(Succeed())
		g.Expect(agent.Spec.SyncInterval).To(Equal("60s"), "the hub's heartbeat default is 60s, not the reference's 5m")
		g.Expect(agent.Spec.ResyncInterval).To(Equal("6h"), "anti-entropy snapshots are on by default, hours apart")
		g.Expect(agent.Spec.ClusterRef).To(BeNil(), "without a target an agent streams the hub's own cluster")
		g.Expect(agent.Spec.Kinds).To(BeEmpty(), "an empty kind list means all kinds but Secret")
		g.Expect(agent.Spec.RateLimit.EventsPerSecond).To(BeEquivalentTo(10))
		g.Expect(agent.Spec.RateLimit.BurstSize).To(BeEquivalentTo(20))
	})

	invalid := []struct {
		name   string
		mutate func(*obsykv1.ObsykAgentSpec)
		field  string
	}{
		{"a platform URL that is not http(s) is refused", func(s *obsykv1.ObsykAgentSpec) { s.PlatformURL = "ftp://x" }, "spec.platformURL"},
		{"an empty cluster name is refused", func(s *obsykv1.ObsykAgentSpec) { s.ClusterName = "" }, "spec.clusterName"},
		{"a rate above 1000 events per second is refused", func(s *obsykv1.ObsykAgentSpec) {
			s.RateLimit = &obsykv1.RateLimitConfig{EventsPerSecond: 1001, BurstSize: 1}
		}, "spec.rateLimit.eventsPerSecond"},
		{"a kind outside the contract is refused", func(s *obsykv1.ObsykAgentSpec) { s.Kinds = []obsykv1.Kind{"ReplicaSet"} }, "spec.kinds"},
		{"a heartbeat period that is not a duration is refused", func(s *obsykv1.ObsykAgentSpec) { s.SyncInterval = "soon" }, "spec.syncInterval"},
		{"a resync interval that is not a duration is refused", func(s *obsykv1.ObsykAgentSpec) { s.ResyncInterval = "6 hours" }, "spec.resyncInterval"},
		{"a cluster reference that is not a Secret name is refused", func(s *obsykv1.ObsykAgentSpec) {
			s.ClusterRef = &obsykv1.ClusterReference{Name: "Prod_EU"}
		}, "spec.clusterRef.name"},
	}
	for i, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			agent := &obsykv1.ObsykAgent{
				ObjectMeta: metav1.ObjectMeta{Name: "invalid-" + string(rune('a'+i)), Namespace: "default"},
				Spec: obsykv1.ObsykAgentSpec{
					PlatformURL: "https://api.obsyk.example", ClusterName: "c",
					CredentialsSecretRef: obsykv1.SecretReference{Name: "creds"},
				},
			}
			tc.mutate(&agent.Spec)
			err := c.Client.Create(ctx, agent)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.field))
		})
	}
}
