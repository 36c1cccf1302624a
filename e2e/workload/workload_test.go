package workload_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
)

// kindOf returns an empty typed object for a contract kind, read straight from the API types
// so the test does not lean on the package's own table.
func kindOf(kind string) client.Object {
	switch kind {
	case "Namespace":
		return &corev1.Namespace{}
	case "Pod":
		return &corev1.Pod{}
	case "Service":
		return &corev1.Service{}
	case "Node":
		return &corev1.Node{}
	case "Deployment":
		return &appsv1.Deployment{}
	case "StatefulSet":
		return &appsv1.StatefulSet{}
	case "DaemonSet":
		return &appsv1.DaemonSet{}
	case "Job":
		return &batchv1.Job{}
	case "CronJob":
		return &batchv1.CronJob{}
	case "Ingress":
		return &networkingv1.Ingress{}
	case "NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "ConfigMap":
		return &corev1.ConfigMap{}
	case "Secret":
		return &corev1.Secret{}
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "ServiceAccount":
		return &corev1.ServiceAccount{}
	case "Role":
		return &rbacv1.Role{}
	case "ClusterRole":
		return &rbacv1.ClusterRole{}
	case "RoleBinding":
		return &rbacv1.RoleBinding{}
	case "ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}
	case "Event":
		return &corev1.Event{}
	}
	return nil
}

// specific renders, per kind, the contract-recorded fields that Mutate promises to change.
var specific = map[string]func(client.Object) string{
	"Namespace": func(o client.Object) string { return o.GetAnnotations()["workload.obsyk.io/note"] },
	"Pod": func(o client.Object) string {
		p := o.(*corev1.Pod)
		restarts := int32(-1)
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == p.Spec.Containers[0].Name {
				restarts = cs.RestartCount
			}
		}
		return fmt.Sprint(p.Spec.Containers[0].Image, " restarts=", restarts)
	},
	"Service": func(o client.Object) string {
		s := o.(*corev1.Service)
		return fmt.Sprint(s.Spec.Selector, " ", s.Spec.Ports[0].TargetPort.String())
	},
	"Node": func(o client.Object) string {
		n := o.(*corev1.Node)
		return fmt.Sprint(n.Status.Capacity.Cpu().String(), " ", n.Status.Capacity.Memory().String())
	},
	"Deployment": func(o client.Object) string {
		d := o.(*appsv1.Deployment)
		return fmt.Sprint(*d.Spec.Replicas, " ", d.Spec.Template.Spec.Containers[0].Image)
	},
	"StatefulSet": func(o client.Object) string {
		s := o.(*appsv1.StatefulSet)
		return fmt.Sprint(*s.Spec.Replicas, " ", s.Spec.Template.Spec.Containers[0].Image)
	},
	"DaemonSet": func(o client.Object) string {
		d := o.(*appsv1.DaemonSet)
		return fmt.Sprint(d.Spec.Template.Spec.Containers[0].Image, " ", d.Spec.Template.Spec.NodeSelector)
	},
	"Job": func(o client.Object) string { return fmt.Sprint(*o.(*batchv1.Job).Spec.Parallelism) },
	"CronJob": func(o client.Object) string {
		c := o.(*batchv1.CronJob)
		return fmt.Sprint(c.Spec.Schedule, " suspend=", *c.Spec.Suspend)
	},
	"Ingress": func(o client.Object) string {
		in := o.(*networkingv1.Ingress)
		return fmt.Sprint(in.Spec.Rules[0].Host, " ", in.Spec.TLS[0].Hosts)
	},
	"NetworkPolicy": func(o client.Object) string {
		np := o.(*networkingv1.NetworkPolicy)
		return fmt.Sprint(np.Spec.PodSelector.MatchLabels, " ", np.Spec.PolicyTypes)
	},
	"ConfigMap": func(o client.Object) string {
		return fmt.Sprint(slices.Sorted(maps.Keys(o.(*corev1.ConfigMap).Data)))
	},
	"Secret": func(o client.Object) string {
		return fmt.Sprint(slices.Sorted(maps.Keys(o.(*corev1.Secret).Data)))
	},
	"PersistentVolumeClaim": func(o client.Object) string {
		return string(o.(*corev1.PersistentVolumeClaim).Status.Phase)
	},
	"ServiceAccount": func(o client.Object) string {
		sa := o.(*corev1.ServiceAccount)
		return fmt.Sprint(sa.ImagePullSecrets, " automount=", sa.AutomountServiceAccountToken != nil && *sa.AutomountServiceAccountToken)
	},
	"Role":        func(o client.Object) string { return fmt.Sprint(o.(*rbacv1.Role).Rules[0].Resources) },
	"ClusterRole": func(o client.Object) string { return fmt.Sprint(o.(*rbacv1.ClusterRole).Rules[0].Resources) },
	"RoleBinding": func(o client.Object) string { return fmt.Sprint(o.(*rbacv1.RoleBinding).Subjects) },
	"ClusterRoleBinding": func(o client.Object) string {
		return fmt.Sprint(o.(*rbacv1.ClusterRoleBinding).Subjects)
	},
	"Event": func(o client.Object) string {
		e := o.(*corev1.Event)
		return fmt.Sprint(e.Message, " count=", e.Count)
	},
}

func read(ctx context.Context, c client.Client, r workload.Ref) (client.Object, error) {
	obj := kindOf(r.Kind)
	err := c.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, obj)
	return obj, err
}

// startMember starts one control plane and returns a bulk client for it.
func startMember(t *testing.T) client.Client {
	t.Helper()
	cluster := testbed.NewTestCluster(t, testbed.ClusterOptions{Name: "workload"})
	c, err := workload.NewClient(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHelpersCreateMutateAndDeleteEveryKind(t *testing.T) {
	c := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g := NewWithT(t)
	nsRefs, err := workload.Create(ctx, c, "Namespace", "", 1, workload.Options{Prefix: "bulk"})
	g.Expect(err).NotTo(HaveOccurred())
	ns := nsRefs[0].Name

	const n = 6
	for _, kind := range platform.Kinds {
		t.Run(kind+" objects are created, mutated twice and deleted", func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(specific).To(HaveKey(kind), "the test must know what Mutate changes for every kind")

			refs, err := workload.Create(ctx, c, kind, ns, n, workload.Options{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(refs).To(HaveLen(n))
			before := map[string]string{}
			for _, r := range refs {
				g.Expect(r.Kind).To(Equal(kind))
				obj, err := read(ctx, c, r)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(string(obj.GetUID())).To(Equal(r.UID))
				g.Expect(obj.GetLabels()).To(HaveKeyWithValue(workload.GenerationLabel, "0"))
				before[r.Name] = specific[kind](obj)
			}

			for gen := 1; gen <= 2; gen++ {
				g.Expect(workload.Mutate(ctx, c, refs, workload.Options{})).To(Succeed())
				for _, r := range refs {
					obj, err := read(ctx, c, r)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(obj.GetLabels()).To(HaveKeyWithValue(workload.GenerationLabel, fmt.Sprint(gen)), "labels of %s", r)
					now := specific[kind](obj)
					g.Expect(now).NotTo(Equal(before[r.Name]), "mutation %d of %s must change its kind-specific fields", gen, r)
					before[r.Name] = now
				}
			}

			g.Expect(workload.Delete(ctx, c, refs, workload.Options{})).To(Succeed())
			for _, r := range refs {
				_, err := read(ctx, c, r)
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s should be gone, got %v", r, err)
			}
		})
	}

	t.Run("deleting an object that is already gone succeeds", func(t *testing.T) {
		g := NewWithT(t)
		refs, err := workload.Create(ctx, c, "ConfigMap", ns, 2, workload.Options{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(workload.Delete(ctx, c, refs, workload.Options{})).To(Succeed())
		g.Expect(workload.Delete(ctx, c, refs, workload.Options{})).To(Succeed())
	})

	t.Run("an unknown kind is an error", func(t *testing.T) {
		g := NewWithT(t)
		_, err := workload.Create(ctx, c, "ReplicaSet", ns, 1, workload.Options{})
		g.Expect(err).To(MatchError(ContainSubstring("unknown kind")))
	})

	t.Run("more Services than the cluster IP range holds are created, the rest headless", func(t *testing.T) {
		g := NewWithT(t)
		refs, err := workload.Create(ctx, c, "Service", ns, 400, workload.Options{Parallelism: 32})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(refs).To(HaveLen(400))
		var list corev1.ServiceList
		g.Expect(c.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		headless := 0
		for _, s := range list.Items {
			if s.Spec.ClusterIP == corev1.ClusterIPNone {
				headless++
			}
		}
		// envtest's range is a /24: at most ~253 Services get an address.
		g.Expect(headless).To(BeNumerically(">=", 400-254))
		g.Expect(workload.Delete(ctx, c, refs, workload.Options{Parallelism: 32})).To(Succeed())
	})
}

func TestSeedCreatesRealisticObjectsOfEveryKind(t *testing.T) {
	c := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	g := NewWithT(t)

	const perKind = 3
	seeded, err := workload.Seed(ctx, c, perKind, workload.Options{Labels: map[string]string{"scenario": "seed"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seeded.Namespace).To(HavePrefix("seed-"))

	for _, kind := range platform.Kinds {
		refs := workload.ByKind(seeded.Refs, kind)
		g.Expect(refs).To(HaveLen(perKind), "seeded %s", kind)
		for _, r := range refs {
			obj, err := read(ctx, c, r)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(obj.GetUID())).To(Equal(r.UID))
			g.Expect(obj.GetLabels()).To(HaveKeyWithValue("scenario", "seed"))
			g.Expect(len(obj.GetLabels())).To(BeNumerically(">=", 8))
			if kind != "Namespace" && kind != "Node" && kind != "ClusterRole" && kind != "ClusterRoleBinding" {
				g.Expect(r.Namespace).To(Equal(seeded.Namespace))
			}
			g.Expect(obj.GetAnnotations()).To(And(
				HaveKey("kubectl.kubernetes.io/last-applied-configuration"),
				HaveKey("kubernetes.io/change-cause"),
				HaveKey("prometheus.io/scrape"),
			), "annotations of %s include ones the contract filters and ones it keeps", r)
		}
	}

	node := workload.ByKind(seeded.Refs, "Node")[0].Name
	cronJob := workload.ByKind(seeded.Refs, "CronJob")[0].Name
	for i, r := range workload.ByKind(seeded.Refs, "Pod") {
		obj, err := read(ctx, c, r)
		g.Expect(err).NotTo(HaveOccurred())
		p := obj.(*corev1.Pod)
		g.Expect(p.Spec.NodeName).To(Equal(node))
		g.Expect(p.Spec.Containers).To(HaveLen(2))
		g.Expect(p.Spec.InitContainers).To(HaveLen(1))
		g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		g.Expect(p.Status.ContainerStatuses).To(HaveLen(2))
		g.Expect(p.Status.Conditions).NotTo(BeEmpty())
		g.Expect(p.Status.PodIP).NotTo(BeEmpty())
		g.Expect(p.Status.QOSClass).NotTo(BeEmpty())
		types := map[string]bool{}
		for _, v := range p.Spec.Volumes {
			switch {
			case v.EmptyDir != nil:
				types["emptyDir"] = true
			case v.ConfigMap != nil:
				types["configMap"] = true
			case v.Secret != nil:
				types["secret"] = true
			case v.PersistentVolumeClaim != nil:
				types["pvc"] = true
			case v.HostPath != nil:
				types["hostPath"] = true
			case v.Projected != nil:
				types["projected"] = true
			case v.DownwardAPI != nil:
				types["downwardAPI"] = true
			case v.CSI != nil:
				types["csi"] = true
			case v.NFS != nil:
				types["nfs"] = true
			case v.Ephemeral != nil:
				types["ephemeral"] = true
			}
		}
		g.Expect(types).To(HaveLen(10), "pod %d volume types", i)
		app := p.Spec.Containers[0]
		g.Expect(app.Resources.Requests).NotTo(BeEmpty())
		g.Expect(app.SecurityContext).NotTo(BeNil())
		g.Expect(app.Env).To(ContainElement(HaveField("Value", Not(BeEmpty()))))
		g.Expect(app.Env).To(ContainElement(HaveField("ValueFrom", Not(BeNil()))))
	}
	for _, r := range workload.ByKind(seeded.Refs, "Job") {
		obj, err := read(ctx, c, r)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(obj.GetOwnerReferences()).To(ContainElement(And(
			HaveField("Kind", "CronJob"), HaveField("Name", cronJob))))
	}
	for _, r := range workload.ByKind(seeded.Refs, "Node") {
		obj, err := read(ctx, c, r)
		g.Expect(err).NotTo(HaveOccurred())
		n := obj.(*corev1.Node)
		g.Expect(n.Status.Capacity.Cpu().IsZero()).To(BeFalse())
		g.Expect(n.Status.NodeInfo.KubeletVersion).NotTo(BeEmpty())
	}

	g.Expect(workload.Seed(ctx, c, 0, workload.Options{})).Error().To(HaveOccurred())

	// Everything seeded, the namespace included, can be deleted in one call.
	g.Expect(workload.Delete(ctx, c, seeded.Refs, workload.Options{})).To(Succeed())
	for _, r := range seeded.Refs {
		_, err := read(ctx, c, r)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s should be gone, got %v", r, err)
	}
}

// TestBuilderMakesWhatCreateWouldWithoutWriting needs no control plane: a Builder only
// builds objects.
func TestBuilderMakesWhatCreateWouldWithoutWriting(t *testing.T) {
	t.Run("a pod with status is bound to the node and running", func(t *testing.T) {
		g := NewWithT(t)
		b, err := workload.NewBuilder("Pod", "shop", workload.Options{NodeName: "n1", Prefix: "p"})
		g.Expect(err).NotTo(HaveOccurred())
		plain := b.Object(3).(*corev1.Pod)
		g.Expect(plain.Namespace).To(Equal("shop"))
		g.Expect(plain.Spec.NodeName).To(Equal("n1"))
		g.Expect(plain.Status.Phase).To(BeEmpty(), "Object carries no status")
		full := b.ObjectWithStatus(3).(*corev1.Pod)
		g.Expect(full.Name).To(Equal(plain.Name))
		g.Expect(full.Status.Phase).To(Equal(corev1.PodRunning))
		g.Expect(full.Status.ContainerStatuses).To(HaveLen(len(full.Spec.Containers)))
	})
	t.Run("two builders never share a name", func(t *testing.T) {
		g := NewWithT(t)
		a, err := workload.NewBuilder("ConfigMap", "shop", workload.Options{})
		g.Expect(err).NotTo(HaveOccurred())
		b, err := workload.NewBuilder("ConfigMap", "shop", workload.Options{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(a.Object(0).GetName()).NotTo(Equal(b.Object(0).GetName()))
	})
	t.Run("an unknown kind or a namespaced kind without a namespace is an error", func(t *testing.T) {
		g := NewWithT(t)
		_, err := workload.NewBuilder("ReplicaSet", "shop", workload.Options{})
		g.Expect(err).To(MatchError(ContainSubstring("unknown kind")))
		_, err = workload.NewBuilder("Pod", "", workload.Options{})
		g.Expect(err).To(MatchError(ContainSubstring("a namespace is required")))
		n, err := workload.NewBuilder("Node", "ignored", workload.Options{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(n.Object(0).GetNamespace()).To(BeEmpty())
	})
}
