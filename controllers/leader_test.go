package controllers_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

// TestLeaderElectionOneReplicaServesAndHandsOverOnStop runs two hubs with leader election
// against one hub cluster: only the leader sends; when it stops it releases the Lease, so
// the other takes over long before the lease would have expired, and streaming goes on.
func TestLeaderElectionOneReplicaServesAndHandsOverOnStop(t *testing.T) {
	g := NewWithT(t)
	ctrllog.SetLogger(logr.Discard())
	f := testbed.NewTestFleet(t, testbed.FleetOptions{
		Members: 1,
		Hub:     testbed.ClusterOptions{CRDDirectoryPaths: []string{chartCRDs()}, Scheme: controllers.Scheme()},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hc, m := f.Hub.Client, f.Members[0]
	sim := platform.StartForTest(t, platform.Options{})
	cr := newCreds(g, "client-le", sim)
	_, err := clusterregistry.Register(ctx, clusterregistry.RegisterOptions{
		Name: m.Name, Member: m.Config, Hub: hc, Namespace: hubNamespace, LegacyTokenWait: -1,
	})
	g.Expect(err).NotTo(HaveOccurred())
	uid, err := converge.ClusterUID(ctx, m.Client)
	g.Expect(err).NotTo(HaveOccurred())
	putSecret(ctx, g, hc, hubNamespace, "obsyk-credentials", credsData(cr))
	g.Expect(hc.Create(ctx, newAgent(hubNamespace, "le", sim.URL(), m.Name, "obsyk-credentials"))).To(Succeed())

	// A lease that would take a minute to expire: only a release hands over quickly.
	leader := func(o *controllers.HubOptions) {
		o.LeaderElect = true
		o.LeaderElectionID = "obsyk-hub-test"
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = time.Minute, 40*time.Second, 500*time.Millisecond
	}
	a := startHubWith(t, f, logr.Discard(), leader, sim)
	g.Eventually(func() int { return sim.Cluster(uid).Snapshots }).WithTimeout(2 * time.Minute).Should(Equal(1))
	holder := func() string {
		var l coordinationv1.Lease
		if err := hc.Get(ctx, client.ObjectKey{Namespace: hubNamespace, Name: "obsyk-hub-test"}, &l); err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	first := holder()
	g.Expect(first).NotTo(BeEmpty())

	startHubWith(t, f, logr.Discard(), leader, sim)
	g.Consistently(func() int { return sim.Cluster(uid).Snapshots }).WithTimeout(3*time.Second).Should(Equal(1),
		"the standby replica sends nothing")

	_, err = a.stop()
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(holder).WithTimeout(30*time.Second).ShouldNot(Or(Equal(first), BeEmpty()),
		"the stopped leader released the Lease, so the standby took it at once")
	g.Eventually(func() int { return sim.Cluster(uid).Snapshots }).WithTimeout(time.Minute).Should(Equal(2),
		"the new leader starts with a snapshot")
	_, err = workload.Create(ctx, m.Client, "ConfigMap", "default", 3, workload.Options{Prefix: "after-handover"})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = converge.WaitConverged(ctx, m.Client, uid, sim, converge.Options{ExcludeKinds: []string{"Secret"}}, 2*time.Minute)
	g.Expect(err).NotTo(HaveOccurred())
}
