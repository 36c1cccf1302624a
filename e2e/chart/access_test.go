package chart_test

import (
	"context"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// accessCase is one question to the API server's authorizer about the chart's
// ServiceAccount, and the answer the chart must give.
type accessCase struct {
	name  string
	attrs authorizationv1.ResourceAttributes
	want  bool
}

// neverCases are what the hub's identity may do in no installation: it never writes what it
// reads, never runs or changes workloads, never changes RBAC or CRDs, never acts as someone
// else and never mints tokens.
var neverCases = []accessCase{
	{"never creates an agent", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "create", Group: "obsyk.io", Resource: "obsykagents"}, false},
	{"never deletes an agent", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "delete", Group: "obsyk.io", Resource: "obsykagents"}, false},
	{"lists no Secrets cluster-wide", authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false},
	{"watches no Secrets cluster-wide", authorizationv1.ResourceAttributes{Verb: "watch", Resource: "secrets"}, false},
	{"lists no Secrets in another namespace", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "list", Resource: "secrets"}, false},
	{"writes no Secret", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "update", Resource: "secrets"}, false},
	{"creates no Secret", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "create", Resource: "secrets"}, false},
	{"deletes no Secret", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "delete", Resource: "secrets"}, false},
	{"takes no Lease elsewhere", authorizationv1.ResourceAttributes{Namespace: "kube-system", Verb: "update", Group: "coordination.k8s.io", Resource: "leases"}, false},
	{"deletes no Lease", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "delete", Group: "coordination.k8s.io", Resource: "leases"}, false},
	{"deletes no Event", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "delete", Group: "events.k8s.io", Resource: "events"}, false},
	{"reads no other CRD", authorizationv1.ResourceAttributes{Verb: "get", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: "servicemonitors.monitoring.coreos.com"}, false},
	{"lists no CRDs", authorizationv1.ResourceAttributes{Verb: "list", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}, false},
	{"never changes its own CRD", authorizationv1.ResourceAttributes{Verb: "update", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: crdName}, false},
	{"never deletes its own CRD", authorizationv1.ResourceAttributes{Verb: "delete", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: crdName}, false},
	{"creates no Pod", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "create", Resource: "pods"}, false},
	{"execs into no Pod", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "create", Resource: "pods", Subresource: "exec"}, false},
	{"changes no Deployment", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "patch", Group: "apps", Resource: "deployments"}, false},
	{"mints no ServiceAccount token", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "create", Resource: "serviceaccounts", Subresource: "token"}, false},
	{"impersonates no one", authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts"}, false},
	{"binds no role", authorizationv1.ResourceAttributes{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}, false},
	{"escalates no role", authorizationv1.ResourceAttributes{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, false},
	{"approves no certificate", authorizationv1.ResourceAttributes{Verb: "update", Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Subresource: "approval"}, false},
}

// checkHubAccess asks the API server, with SubjectAccessReviews, what the chart's
// ServiceAccount may do with the chart's default values: what the hub does (the same
// requests TestHubRunsWithTheChartsIdentity sees it make) and nothing more.
func checkHubAccess(ctx context.Context, g Gomega, cluster *testbed.Cluster) {
	checkAccess(ctx, g, cluster, append([]accessCase{
		{"watches ObsykAgents in every namespace", authorizationv1.ResourceAttributes{Verb: "watch", Group: "obsyk.io", Resource: "obsykagents"}, true},
		{"updates an agent's status", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "update", Group: "obsyk.io", Resource: "obsykagents", Subresource: "status"}, true},
		{"updates an agent's finalizers", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "update", Group: "obsyk.io", Resource: "obsykagents", Subresource: "finalizers"}, true},
		{"gets a credentials Secret by name", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "get", Resource: "secrets", Name: "obsyk-credentials"}, true},
		{"lists and watches kubeconfig Secrets in its namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "watch", Resource: "secrets"}, true},
		{"lists kubeconfig Secrets in its namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "list", Resource: "secrets"}, true},
		{"takes its Lease in its namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "update", Group: "coordination.k8s.io", Resource: "leases"}, true},
		{"creates its Lease in its namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "create", Group: "coordination.k8s.io", Resource: "leases"}, true},
		{"records Events", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "create", Group: "events.k8s.io", Resource: "events"}, true},
		{"records leader election Events in its namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "create", Resource: "events"}, true},
		{"reads the ObsykAgent CRD", authorizationv1.ResourceAttributes{Verb: "get", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: crdName}, true},
		{"does not read the hub's own cluster without hubCluster.collect", authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"}, false},
		{"does not read kube-system without hubCluster.collect", authorizationv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "kube-system"}, false},
	}, neverCases...))
}

// checkWatchedNamespacesAccess is checkHubAccess for ci/all-features-values.yaml: agents,
// credentials and Events only in the watched namespaces team-a and team-b, kubeconfig
// Secrets in obsyk-clusters, the Lease in the release namespace, and the hub's own cluster
// readable (hubCluster.collect) without its Secrets.
func checkWatchedNamespacesAccess(ctx context.Context, g Gomega, cluster *testbed.Cluster) {
	checkAccess(ctx, g, cluster, append([]accessCase{
		{"watches ObsykAgents in a watched namespace", authorizationv1.ResourceAttributes{Namespace: "team-b", Verb: "watch", Group: "obsyk.io", Resource: "obsykagents"}, true},
		{"updates an agent's status in a watched namespace", authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "update", Group: "obsyk.io", Resource: "obsykagents", Subresource: "status"}, true},
		{"gets a credentials Secret in a watched namespace", authorizationv1.ResourceAttributes{Namespace: "team-b", Verb: "get", Resource: "secrets", Name: "obsyk-credentials"}, true},
		{"records Events in a watched namespace", authorizationv1.ResourceAttributes{Namespace: "team-b", Verb: "create", Group: "events.k8s.io", Resource: "events"}, true},
		{"lists and watches kubeconfig Secrets in the cluster Secret namespace", authorizationv1.ResourceAttributes{Namespace: "obsyk-clusters", Verb: "watch", Resource: "secrets"}, true},
		{"takes its Lease in the release namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "update", Group: "coordination.k8s.io", Resource: "leases"}, true},
		{"records leader election Events in the release namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "create", Resource: "events"}, true},
		{"reads the ObsykAgent CRD", authorizationv1.ResourceAttributes{Verb: "get", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: crdName}, true},
		{"reads the hub's own cluster (hubCluster.collect)", authorizationv1.ResourceAttributes{Verb: "watch", Resource: "pods"}, true},
		{"sees no ObsykAgents cluster-wide", authorizationv1.ResourceAttributes{Verb: "list", Group: "obsyk.io", Resource: "obsykagents"}, false},
		{"sees no ObsykAgents in an unwatched namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "watch", Group: "obsyk.io", Resource: "obsykagents"}, false},
		{"reads no Secret in an unwatched namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "get", Resource: "secrets", Name: "obsyk-credentials"}, false},
		{"lists no Secrets in the release namespace", authorizationv1.ResourceAttributes{Namespace: releaseNamespace, Verb: "list", Resource: "secrets"}, false},
		{"reads no Secret of the hub's own cluster", authorizationv1.ResourceAttributes{Namespace: "kube-system", Verb: "get", Resource: "secrets"}, false},
		{"records no Events in an unwatched namespace", authorizationv1.ResourceAttributes{Namespace: "kube-system", Verb: "create", Group: "events.k8s.io", Resource: "events"}, false},
	}, neverCases...))
}

// checkAccess fails unless the chart's ServiceAccount is allowed exactly what the cases say.
func checkAccess(ctx context.Context, g Gomega, cluster *testbed.Cluster, cases []accessCase) {
	user, groups := hubSubject()
	allowed := func(g Gomega, attrs authorizationv1.ResourceAttributes) bool {
		review, err := cluster.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &attrs},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return review.Status.Allowed
	}
	// The authorizer learns of new bindings through its informers: wait for every grant
	// before judging the denials.
	g.Eventually(func(g Gomega) {
		for _, tc := range cases {
			if tc.want {
				g.Expect(allowed(g, tc.attrs)).To(BeTrue(), tc.name)
			}
		}
	}).WithContext(ctx).WithTimeout(settleTimeout).Should(Succeed())
	for _, tc := range cases {
		if !tc.want {
			g.Expect(allowed(g, tc.attrs)).To(BeFalse(), tc.name)
		}
	}
}
