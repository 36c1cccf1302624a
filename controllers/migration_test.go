package controllers_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	obsykv1 "github.com/obsyk/obsyk-hub/api/v1"
	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// TestHubTakesOverAnAgentOfTheReferenceOperator starts where an obsyk-operator user is: the
// reference CRD and an agent written for it (no clusterRef: it streams its own cluster). The
// hub refuses to start on that CRD, the documented step upgrades the CRD, and the hub then
// serves the existing agent unchanged.
func TestHubTakesOverAnAgentOfTheReferenceOperator(t *testing.T) {
	g := NewWithT(t)
	ctrllog.SetLogger(logr.Discard())
	scheme := controllers.Scheme()
	cl := testbed.NewTestCluster(t, testbed.ClusterOptions{Name: "migration", Scheme: scheme})
	c := cl.Client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	sim := platform.StartForTest(t, platform.Options{})
	cr := newCreds(g, "client-migrated", sim)
	installCRD(ctx, g, c, "testdata/reference-obsykagents-crd.yaml")
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNamespace}})).To(Succeed())
	putSecret(ctx, g, c, hubNamespace, "obsyk-credentials", credsData(cr))
	agent := &obsykv1.ObsykAgent{
		ObjectMeta: metav1.ObjectMeta{Namespace: hubNamespace, Name: "staging-eu-1"},
		Spec: obsykv1.ObsykAgentSpec{
			PlatformURL: sim.URL(), ClusterName: "staging-eu-1",
			CredentialsSecretRef: obsykv1.SecretReference{Name: "obsyk-credentials"},
			SyncInterval:         "5m",
			RateLimit:            &obsykv1.RateLimitConfig{EventsPerSecond: 10, BurstSize: 20},
		},
	}
	g.Expect(c.Create(ctx, agent)).To(Succeed())

	opts := controllers.HubOptions{
		Namespace: hubNamespace, PlatformCABundle: sim.CACertPEM(), Metrics: prometheus.NewRegistry(),
		Reconciler: controllers.ReconcilerOptions{StatusInterval: 2 * time.Second},
	}
	_, err := controllers.NewHub(ctx, cl.Config, opts)
	g.Expect(err).To(MatchError(controllers.ErrCRDOutdated), "the hub refuses the reference CRD instead of losing fields")
	g.Expect(err.Error()).To(ContainSubstring("kubectl apply --server-side"))

	installCRD(ctx, g, c, filepath.Join(chartCRDs(), "obsyk.io_obsykagents.yaml"))
	g.Eventually(func() error { return controllers.CheckCRD(ctx, c) }).WithTimeout(30 * time.Second).Should(Succeed())
	hub, err := controllers.NewHub(ctx, cl.Config, opts)
	g.Expect(err).NotTo(HaveOccurred())
	hctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- hub.Start(hctx) }()
	defer func() { stop(); g.Expect(<-done).To(Succeed()) }()

	uid, err := converge.ClusterUID(ctx, c)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = converge.WaitConverged(ctx, c, uid, sim, converge.Options{ExcludeKinds: []string{"Secret"}}, 3*time.Minute)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		a := getAgent(ctx, g, c, hubNamespace, agent.Name)
		g.Expect(condition(a, controllers.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", a.Status.Conditions)
		g.Expect(a.Status.ClusterUID).To(Equal(uid))
		g.Expect(a.Spec.SyncInterval).To(Equal("5m"), "the agent's spec is kept")
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
}
