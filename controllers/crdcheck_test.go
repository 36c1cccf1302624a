package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// TestCheckCRDFromTheReferenceOperatorToTheHub walks the migration path: no CRD, then the
// reference operator's CRD with an existing agent (whose hub fields the API server prunes),
// then the hub's CRD applied over it (the agent survives and keeps the hub's fields).
func TestCheckCRDFromTheReferenceOperatorToTheHub(t *testing.T) {
	g := NewWithT(t)
	scheme := k8sruntime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	g.Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	g.Expect(obsykv1.AddToScheme(scheme)).To(Succeed())
	cluster := testbed.NewTestCluster(t, testbed.ClusterOptions{Name: "crdcheck", Scheme: scheme})
	c := cluster.Client
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// 1. Nothing installed.
	err := controllers.CheckCRD(ctx, c)
	g.Expect(err).To(MatchError(ContainSubstring("is not installed")))

	// 2. The reference operator's CRD and an agent written for the hub.
	installCRD(ctx, g, c, "testdata/reference-obsykagents-crd.yaml")
	err = controllers.CheckCRD(ctx, c)
	g.Expect(err).To(MatchError(controllers.ErrCRDOutdated))
	for _, field := range []string{"spec.clusterRef", "spec.kinds", "spec.namespaces", "spec.resyncInterval",
		"status.lastHeartbeatTime", "status.objectCount", "status.outbox", "status.resourceCounts"} {
		g.Expect(err.Error()).To(ContainSubstring(field))
	}
	g.Expect(err.Error()).To(ContainSubstring("kubectl apply --server-side"), "the message says how to upgrade")

	agent := &obsykv1.ObsykAgent{
		ObjectMeta: metav1.ObjectMeta{Name: "staging-eu-1", Namespace: "default"},
		Spec: obsykv1.ObsykAgentSpec{
			PlatformURL: "https://api.obsyk.example", ClusterName: "staging-eu-1",
			CredentialsSecretRef: obsykv1.SecretReference{Name: "obsyk-credentials"},
			ClusterRef:           &obsykv1.ClusterReference{Name: "staging-eu-1"},
		},
	}
	g.Expect(c.Create(ctx, agent)).To(Succeed())
	var got obsykv1.ObsykAgent
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(agent), &got)).To(Succeed())
	g.Expect(got.Spec.ClusterRef).To(BeNil(), "the reference CRD prunes the hub's fields silently: that is why the hub checks")

	// 3. The hub's CRD over it.
	installCRD(ctx, g, c, filepath.Join("..", "charts", "obsyk-hub", "files", "crds", "obsyk.io_obsykagents.yaml"))
	g.Eventually(func() error { return controllers.CheckCRD(ctx, c) }).WithTimeout(30 * time.Second).Should(Succeed())
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(agent), &got)).To(Succeed(), "the existing agent survives the upgrade")
	got.Spec.ClusterRef = &obsykv1.ClusterReference{Name: "staging-eu-1"}
	g.Expect(c.Update(ctx, &got)).To(Succeed())
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(agent), &got)).To(Succeed())
	g.Expect(got.Spec.ClusterRef).To(Equal(&obsykv1.ClusterReference{Name: "staging-eu-1"}))
}

// installCRD creates or replaces the CRD in file and waits until it is established.
func installCRD(ctx context.Context, g *WithT, c client.Client, file string) {
	data, err := os.ReadFile(file)
	g.Expect(err).NotTo(HaveOccurred())
	var crd apiextensionsv1.CustomResourceDefinition
	g.Expect(yaml.Unmarshal(data, &crd)).To(Succeed())
	var existing apiextensionsv1.CustomResourceDefinition
	if err := c.Get(ctx, client.ObjectKeyFromObject(&crd), &existing); err == nil {
		crd.ResourceVersion = existing.ResourceVersion
		g.Expect(c.Update(ctx, &crd)).To(Succeed())
	} else {
		g.Expect(c.Create(ctx, &crd)).To(Succeed())
	}
	g.Eventually(func() bool {
		var cur apiextensionsv1.CustomResourceDefinition
		if c.Get(ctx, client.ObjectKeyFromObject(&crd), &cur) != nil {
			return false
		}
		for _, cond := range cur.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true
			}
		}
		return false
	}).WithTimeout(30 * time.Second).Should(BeTrue())
}
