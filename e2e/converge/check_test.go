package converge_test

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

// lists are the list types of the 20 kinds, spelled out here rather than taken from the
// package under test.
var lists = map[string]func() client.ObjectList{
	"Namespace":             func() client.ObjectList { return &corev1.NamespaceList{} },
	"Pod":                   func() client.ObjectList { return &corev1.PodList{} },
	"Service":               func() client.ObjectList { return &corev1.ServiceList{} },
	"Node":                  func() client.ObjectList { return &corev1.NodeList{} },
	"Deployment":            func() client.ObjectList { return &appsv1.DeploymentList{} },
	"StatefulSet":           func() client.ObjectList { return &appsv1.StatefulSetList{} },
	"DaemonSet":             func() client.ObjectList { return &appsv1.DaemonSetList{} },
	"Job":                   func() client.ObjectList { return &batchv1.JobList{} },
	"CronJob":               func() client.ObjectList { return &batchv1.CronJobList{} },
	"Ingress":               func() client.ObjectList { return &networkingv1.IngressList{} },
	"NetworkPolicy":         func() client.ObjectList { return &networkingv1.NetworkPolicyList{} },
	"ConfigMap":             func() client.ObjectList { return &corev1.ConfigMapList{} },
	"Secret":                func() client.ObjectList { return &corev1.SecretList{} },
	"PersistentVolumeClaim": func() client.ObjectList { return &corev1.PersistentVolumeClaimList{} },
	"ServiceAccount":        func() client.ObjectList { return &corev1.ServiceAccountList{} },
	"Role":                  func() client.ObjectList { return &rbacv1.RoleList{} },
	"ClusterRole":           func() client.ObjectList { return &rbacv1.ClusterRoleList{} },
	"RoleBinding":           func() client.ObjectList { return &rbacv1.RoleBindingList{} },
	"ClusterRoleBinding":    func() client.ObjectList { return &rbacv1.ClusterRoleBindingList{} },
	"Event":                 func() client.ObjectList { return &corev1.EventList{} },
}

// mutatedFields are the record keys that one workload.Mutate changes, per kind.
var mutatedFields = map[string][]string{
	"Namespace":             {"annotations.workload.obsyk.io/note"},
	"Pod":                   {"containers[0].image", "containers[0].restart_count"},
	"Service":               {"selector.version", "ports[0].targetPort"},
	"Node":                  {"cpu_capacity", "memory_capacity"},
	"Deployment":            {"replicas", "image"},
	"StatefulSet":           {"replicas", "image"},
	"DaemonSet":             {"image", "node_selector.workload.obsyk.io/pool"},
	"Job":                   {"parallelism"},
	"CronJob":               {"schedule", "suspend"},
	"Ingress":               {"rules[0].host", "tls[0].hosts[0]"},
	"NetworkPolicy":         {"pod_selector.version", "policy_types"},
	"ConfigMap":             {"data_keys"},
	"Secret":                {"data_keys"},
	"PersistentVolumeClaim": {"phase"},
	"ServiceAccount":        {"image_pull_secrets", "automount_service_account_token"},
	"Role":                  {"resources"},
	"ClusterRole":           {"resources"},
	"RoleBinding":           {"subjects"},
	"ClusterRoleBinding":    {"subjects"},
	"Event":                 {"message", "count"},
}

// platformObject builds what a platform that is up to date holds for obj. It reshapes the
// record the way a faithful sender may (set-like arrays in another order, timestamps in
// another zone, empty keys left out), which the checker must accept as equal.
func platformObject(t *testing.T, obj client.Object) platform.Object {
	t.Helper()
	kind, rec, err := converge.Record(obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"data_keys", "binary_keys", "resources", "roles"} {
		if arr, ok := rec[key].([]any); ok {
			slices.Reverse(arr)
		}
	}
	if s, ok := rec["k8s_created_at"].(string); ok {
		created, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		rec["k8s_created_at"] = created.In(time.FixedZone("CEST", 2*3600)).Format(time.RFC3339)
	}
	for k, v := range rec {
		if k != "automount_service_account_token" && (v == false || v == float64(0)) {
			delete(rec, k)
		}
	}
	return platform.Object{Kind: kind, UID: string(obj.GetUID()), Name: obj.GetName(), Namespace: obj.GetNamespace(), Record: rec}
}

// plantAll makes the platform hold every live object of the member.
func plantAll(t *testing.T, ctx context.Context, c client.Client, sim *platform.Server, clusterUID string) int {
	t.Helper()
	n := 0
	for _, kind := range platform.Kinds {
		list := lists[kind]()
		if err := c.List(ctx, list); err != nil {
			t.Fatalf("list %s: %v", kind, err)
		}
		items, err := apimeta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			sim.PutObject(clusterUID, platformObject(t, it.(client.Object)))
			n++
		}
	}
	return n
}

func refOf(r workload.Ref) converge.Ref { return converge.Ref(r) }

func TestCheckReportsEveryDifference(t *testing.T) {
	member := testbed.NewTestCluster(t, testbed.ClusterOptions{Name: "converge"})
	sim := platform.StartForTest(t, platform.Options{PlainHTTP: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g := NewWithT(t)
	c, err := workload.NewClient(member.Config)
	g.Expect(err).NotTo(HaveOccurred())
	seeded, err := workload.Seed(ctx, c, 2, workload.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	clusterUID, err := converge.ClusterUID(ctx, member.Client)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(clusterUID).NotTo(BeEmpty())
	total := plantAll(t, ctx, c, sim, clusterUID)

	check := func(g Gomega, opts converge.Options) converge.Report {
		rep, err := converge.Check(ctx, member.Client, clusterUID, sim, opts)
		g.Expect(err).NotTo(HaveOccurred())
		return rep
	}

	t.Run("a platform that holds exactly the member's objects gives an empty report", func(t *testing.T) {
		g := NewWithT(t)
		rep := check(g, converge.Options{})
		g.Expect(rep.Empty()).To(BeTrue(), rep.String())
		g.Expect(rep.Compared).To(Equal(total))
		// Default objects of every control plane are part of the comparison.
		g.Expect(sim.Cluster(clusterUID).Find("Namespace", "", "kube-system")).To(HaveLen(1))
		g.Expect(sim.Cluster(clusterUID).Find("Service", "default", "kubernetes")).To(HaveLen(1))
	})

	for _, kind := range platform.Kinds {
		wref := workload.ByKind(seeded.Refs, kind)[0]
		ref := refOf(wref)

		t.Run("a "+kind+" missing on the platform is reported", func(t *testing.T) {
			g := NewWithT(t)
			held, ok := sim.Cluster(clusterUID).Get(kind, ref.UID)
			g.Expect(ok).To(BeTrue())
			sim.RemoveObject(clusterUID, kind, ref.UID)
			defer sim.PutObject(clusterUID, held)
			rep := check(g, converge.Options{})
			g.Expect(rep.Missing).To(Equal([]converge.Ref{ref}), rep.String())
			g.Expect(rep.Ghosts).To(BeEmpty())
			g.Expect(rep.Diffs).To(BeEmpty())
			g.Expect(rep.String()).To(ContainSubstring("missing " + ref.String()))
		})

		t.Run("a "+kind+" ghost on the platform is reported", func(t *testing.T) {
			g := NewWithT(t)
			held, ok := sim.Cluster(clusterUID).Get(kind, ref.UID)
			g.Expect(ok).To(BeTrue())
			ghost := held
			ghost.UID = "ghost-" + ref.UID
			ghost.Record["uid"] = ghost.UID
			sim.PutObject(clusterUID, ghost)
			defer sim.RemoveObject(clusterUID, kind, ghost.UID)
			rep := check(g, converge.Options{})
			g.Expect(rep.Ghosts).To(Equal([]converge.Ref{{Kind: kind, Namespace: ref.Namespace, Name: ref.Name, UID: ghost.UID}}), rep.String())
			g.Expect(rep.Missing).To(BeEmpty())
			g.Expect(rep.Diffs).To(BeEmpty())
		})

		t.Run("a "+kind+" whose record differs on the platform is reported", func(t *testing.T) {
			g := NewWithT(t)
			held, ok := sim.Cluster(clusterUID).Get(kind, ref.UID)
			g.Expect(ok).To(BeTrue())
			changed := platform.Object{Kind: held.Kind, UID: held.UID, Name: held.Name, Namespace: "elsewhere", Record: map[string]any{}}
			for k, v := range held.Record {
				changed.Record[k] = v
			}
			changed.Record["name"] = "renamed"
			sim.PutObject(clusterUID, changed)
			defer sim.PutObject(clusterUID, held)
			rep := check(g, converge.Options{})
			g.Expect(rep.Diffs).To(ConsistOf(
				converge.Diff{Ref: ref, Field: "name", Member: `"` + ref.Name + `"`, Platform: `"renamed"`},
				converge.Diff{Ref: ref, Field: "object.namespace", Member: `"` + ref.Namespace + `"`, Platform: `"elsewhere"`},
			), rep.String())
			g.Expect(rep.Missing).To(BeEmpty())
			g.Expect(rep.Ghosts).To(BeEmpty())
		})

		t.Run("a "+kind+" mutated in the member differs until the platform catches up", func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(workload.Mutate(ctx, c, []workload.Ref{wref}, workload.Options{})).To(Succeed())
			rep := check(g, converge.Options{})
			g.Expect(rep.Missing).To(BeEmpty())
			g.Expect(rep.Ghosts).To(BeEmpty())
			var fields []string
			for _, d := range rep.Diffs {
				g.Expect(d.Ref).To(Equal(ref), rep.String())
				fields = append(fields, d.Field)
			}
			g.Expect(fields).To(ContainElements(mutatedFields[kind]), rep.String())
			if kind != "Event" { // an Event's record has no labels
				g.Expect(fields).To(ContainElement("labels."+workload.GenerationLabel), rep.String())
			}

			live := lists[kind]()
			g.Expect(c.List(ctx, live)).To(Succeed())
			items, err := apimeta.ExtractList(live)
			g.Expect(err).NotTo(HaveOccurred())
			for _, it := range items {
				if o := it.(client.Object); string(o.GetUID()) == ref.UID {
					sim.PutObject(clusterUID, platformObject(t, o))
				}
			}
			rep = check(g, converge.Options{})
			g.Expect(rep.Empty()).To(BeTrue(), rep.String())
		})
	}

	t.Run("options leave out kinds, namespaces, objects and fields", func(t *testing.T) {
		g := NewWithT(t)
		secret := refOf(workload.ByKind(seeded.Refs, "Secret")[0])
		pod := refOf(workload.ByKind(seeded.Refs, "Pod")[0])
		cm := refOf(workload.ByKind(seeded.Refs, "ConfigMap")[0])
		state := sim.Cluster(clusterUID)
		heldSecret, _ := state.Get("Secret", secret.UID)
		heldPod, _ := state.Get("Pod", pod.UID)
		heldCM, _ := state.Get("ConfigMap", cm.UID)
		sim.RemoveObject(clusterUID, "Secret", secret.UID)
		defer sim.PutObject(clusterUID, heldSecret)
		sim.RemoveObject(clusterUID, "Pod", pod.UID)
		defer sim.PutObject(clusterUID, heldPod)
		changed := platform.Object{Kind: heldCM.Kind, UID: heldCM.UID, Name: heldCM.Name, Namespace: heldCM.Namespace, Record: map[string]any{}}
		for k, v := range heldCM.Record {
			changed.Record[k] = v
		}
		changed.Record["immutable"] = true
		sim.PutObject(clusterUID, changed)
		defer sim.PutObject(clusterUID, heldCM)

		g.Expect(check(g, converge.Options{}).Missing).To(ConsistOf(secret, pod))
		for _, tc := range []struct {
			name string
			opts converge.Options
			want []converge.Ref // missing
		}{
			{"excluding Secret and ConfigMap leaves the pod", converge.Options{ExcludeKinds: []string{"Secret", "ConfigMap"}}, []converge.Ref{pod}},
			{"choosing kinds leaves the secret", converge.Options{Kinds: []string{"Secret", "Node"}}, []converge.Ref{secret}},
			{"ignoring the seeded namespace hides all", converge.Options{IgnoreNamespaces: []string{seeded.Namespace}}, nil},
			{"choosing another namespace hides all", converge.Options{Namespaces: []string{"default"}, IgnoreFields: []string{"immutable"}}, nil},
			{"an Ignore predicate hides the pod", converge.Options{Ignore: func(r converge.Ref) bool { return r.Kind == "Pod" }, IgnoreFields: []string{"ConfigMap.immutable"}}, []converge.Ref{secret}},
		} {
			rep := check(g, tc.opts)
			g.Expect(rep.Missing).To(ConsistOf(tc.want), tc.name)
			g.Expect(rep.Ghosts).To(BeEmpty(), tc.name)
			g.Expect(rep.Diffs).To(BeEmpty(), tc.name)
		}
		rep := check(g, converge.Options{Kinds: []string{"ConfigMap"}})
		g.Expect(rep.Diffs).To(ConsistOf(converge.Diff{Ref: cm, Field: "immutable", Member: "false", Platform: "true"}))

		_, err := converge.Check(ctx, member.Client, clusterUID, sim, converge.Options{Kinds: []string{"ReplicaSet"}})
		g.Expect(err).To(MatchError(ContainSubstring("unknown kind")))
	})

	t.Run("WaitConverged returns the last report when the platform does not catch up", func(t *testing.T) {
		g := NewWithT(t)
		ref := refOf(workload.ByKind(seeded.Refs, "Deployment")[0])
		held, _ := sim.Cluster(clusterUID).Get("Deployment", ref.UID)
		sim.RemoveObject(clusterUID, "Deployment", ref.UID)
		defer sim.PutObject(clusterUID, held)
		rep, err := converge.WaitConverged(ctx, member.Client, clusterUID, sim, converge.Options{PollInterval: 50 * time.Millisecond}, time.Second)
		g.Expect(err).To(MatchError(converge.ErrNotConverged))
		g.Expect(err.Error()).To(ContainSubstring(ref.Name))
		g.Expect(rep.Missing).To(Equal([]converge.Ref{ref}))

		// A deadline that passes during a check still yields that check's complete report.
		rep, err = converge.WaitConverged(ctx, member.Client, clusterUID, sim, converge.Options{}, time.Nanosecond)
		g.Expect(err).To(MatchError(converge.ErrNotConverged))
		g.Expect(err.Error()).To(ContainSubstring(ref.Name))
		g.Expect(rep.Missing).To(Equal([]converge.Ref{ref}))
	})

	t.Run("WaitConverged returns once the platform catches up", func(t *testing.T) {
		g := NewWithT(t)
		ref := refOf(workload.ByKind(seeded.Refs, "Deployment")[0])
		held, _ := sim.Cluster(clusterUID).Get("Deployment", ref.UID)
		sim.RemoveObject(clusterUID, "Deployment", ref.UID)
		catchUp := time.AfterFunc(500*time.Millisecond, func() { sim.PutObject(clusterUID, held) })
		defer catchUp.Stop()
		start := time.Now()
		rep, err := converge.WaitConverged(ctx, member.Client, clusterUID, sim, converge.Options{}, time.Minute)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rep.Empty()).To(BeTrue())
		g.Expect(time.Since(start)).To(BeNumerically(">=", 500*time.Millisecond))
	})

	t.Run("objects deleted from the member become ghosts until the platform drops them", func(t *testing.T) {
		g := NewWithT(t)
		refs := workload.ByKind(seeded.Refs, "ConfigMap")
		g.Expect(workload.Delete(ctx, c, refs, workload.Options{})).To(Succeed())
		rep := check(g, converge.Options{})
		var want []converge.Ref
		for _, r := range refs {
			want = append(want, refOf(r))
		}
		g.Expect(rep.Ghosts).To(ConsistOf(want))
		for _, r := range refs {
			sim.RemoveObject(clusterUID, r.Kind, r.UID)
		}
		g.Expect(check(g, converge.Options{}).Empty()).To(BeTrue())
	})
}

func TestReportStringIsBounded(t *testing.T) {
	g := NewWithT(t)
	var rep converge.Report
	for i := range 100 {
		rep.Missing = append(rep.Missing, converge.Ref{Kind: "Pod", Namespace: "ns", Name: "p", UID: string(rune('a' + i%26))})
	}
	rep.Diffs = []converge.Diff{{Ref: converge.Ref{Kind: "Node", Name: "n"}, Field: "status", Member: `"Ready"`, Platform: `"NotReady"`}}
	s := rep.String()
	g.Expect(rep.Empty()).To(BeFalse())
	g.Expect(s).To(ContainSubstring("100 missing"))
	g.Expect(s).To(ContainSubstring("... and 80 more"))
	g.Expect(s).To(ContainSubstring(`differs Node/n status: member "Ready", platform "NotReady"`))
	g.Expect(converge.Report{}.Empty()).To(BeTrue())
}
