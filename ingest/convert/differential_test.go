package convert_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/obsyk/obsyk-hub/e2e/converge"
	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
	"github.com/obsyk/obsyk-hub/e2e/workload"
	"github.com/obsyk/obsyk-hub/ingest/convert"
	"github.com/obsyk/obsyk-hub/transport"
)

// setKeys are the record keys whose order the contract calls random (§7 gap 27); the
// differential test compares them as sets, as package converge does.
var setKeys = map[transport.Kind][]string{
	transport.KindNode:        {"roles"},
	transport.KindConfigMap:   {"data_keys", "binary_keys"},
	transport.KindSecret:      {"data_keys"},
	transport.KindRole:        {"resources"},
	transport.KindClusterRole: {"resources"},
}

// newLists returns one empty typed list per contract kind.
func newLists() []client.ObjectList {
	return []client.ObjectList{
		&corev1.NamespaceList{}, &corev1.PodList{}, &corev1.ServiceList{}, &corev1.NodeList{},
		&appsv1.DeploymentList{}, &appsv1.StatefulSetList{}, &appsv1.DaemonSetList{},
		&batchv1.JobList{}, &batchv1.CronJobList{}, &networkingv1.IngressList{},
		&networkingv1.NetworkPolicyList{}, &corev1.ConfigMapList{}, &corev1.SecretList{},
		&corev1.PersistentVolumeClaimList{}, &corev1.ServiceAccountList{}, &rbacv1.RoleList{},
		&rbacv1.ClusterRoleList{}, &rbacv1.RoleBindingList{}, &rbacv1.ClusterRoleBindingList{},
		&corev1.EventList{},
	}
}

// listAll lists every object of the 20 kinds, keyed by UID.
func listAll(ctx context.Context, g Gomega, c client.Client) map[string]runtime.Object {
	out := map[string]runtime.Object{}
	for _, l := range newLists() {
		g.Expect(c.List(ctx, l)).To(Succeed())
		items, err := meta.ExtractList(l)
		g.Expect(err).NotTo(HaveOccurred())
		for _, it := range items {
			m, err := meta.Accessor(it)
			g.Expect(err).NotTo(HaveOccurred())
			out[string(m.GetUID())] = it
		}
	}
	return out
}

// normalize sorts and de-duplicates the set-valued keys of a decoded record (the platform
// stores decoded JSON), so that they compare as sets.
func normalize(kind transport.Kind, m map[string]any) map[string]any {
	for _, k := range setKeys[kind] {
		arr, ok := m[k].([]any)
		if !ok {
			continue
		}
		s := make([]string, 0, len(arr))
		for _, v := range arr {
			s = append(s, v.(string))
		}
		slices.Sort(s)
		s = slices.Compact(s)
		arr = arr[:0]
		for _, v := range s {
			arr = append(arr, v)
		}
		m[k] = arr
	}
	return m
}

func TestConvertAgreesWithConvergeOnEveryObjectOfALiveAPIServer(t *testing.T) {
	g := NewWithT(t)
	cluster := testbed.NewTestCluster(t, testbed.ClusterOptions{Name: "convert"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := workload.NewClient(cluster.Config)
	g.Expect(err).NotTo(HaveOccurred())

	seeded, err := workload.Seed(ctx, c, 3, workload.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	before := listAll(ctx, g, c)
	g.Expect(workload.Mutate(ctx, c, seeded.Refs, workload.Options{})).To(Succeed())
	after := listAll(ctx, g, c)

	perKind := map[transport.Kind]int{}
	for uid, obj := range after {
		kind, ok := convert.KindOf(obj)
		g.Expect(ok).To(BeTrue(), "%T", obj)
		perKind[kind]++
		rec, err := convert.Convert(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rec.Kind()).To(Equal(kind))
		body, err := json.Marshal(rec)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(platform.ValidateRecord(string(kind), body)).To(Succeed(), "%s %s: %s", kind, uid, body)

		var got map[string]any
		g.Expect(json.Unmarshal(body, &got)).To(Succeed())
		wantKind, want, err := converge.Record(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(wantKind).To(Equal(string(kind)))
		got, want = normalize(kind, got), normalize(kind, want)
		for _, k := range unionKeys(got, want) {
			g.Expect(got[k]).To(Equal(want[k]), "%s %s key %q\nhub:      %s", kind, uid, k, body)
		}

		again, err := convert.Convert(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(convert.Equal(rec, again)).To(BeTrue(), "%s %s converted twice", kind, uid)

		compact, err := convert.Compact(obj)
		g.Expect(err).NotTo(HaveOccurred())
		compactBody, err := json.Marshal(compact)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(compactBody)).To(Equal(string(body)), "%s %s compacted", kind, uid)
		g.Expect(convert.Equal(rec, compact)).To(BeTrue(), "%s %s compacted", kind, uid)
		g.Expect(shared(compact, obj)).To(BeEmpty(), "%s %s compacted", kind, uid)
	}
	for _, k := range transport.Kinds {
		g.Expect(perKind[k]).To(BeNumerically(">=", 3), "objects of kind %s", k)
	}
	t.Logf("compared %d objects: %v", len(after), perKind)

	// Every seeded object was mutated in a field the contract carries, so its record must
	// differ from the one before; Equal must see that, and agree with the bytes.
	for _, ref := range seeded.Refs {
		old, now := before[ref.UID], after[ref.UID]
		g.Expect(old).NotTo(BeNil(), ref.String())
		g.Expect(now).NotTo(BeNil(), ref.String())
		a, err := convert.Convert(old)
		g.Expect(err).NotTo(HaveOccurred())
		b, err := convert.Convert(now)
		g.Expect(err).NotTo(HaveOccurred())
		ab, _ := json.Marshal(a)
		bb, _ := json.Marshal(b)
		g.Expect(string(ab)).NotTo(Equal(string(bb)), ref.String())
		g.Expect(convert.Equal(a, b)).To(BeFalse(), ref.String())
		ca, err := convert.Compact(old)
		g.Expect(err).NotTo(HaveOccurred())
		cb, err := convert.Compact(now)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(convert.Equal(ca, cb)).To(BeFalse(), ref.String())
	}

	t.Run("a quantity the API server keeps as written is sent canonical", func(t *testing.T) {
		aQuantityKeptAsWrittenIsSentCanonical(ctx, t, cluster)
	})
}

// aQuantityKeptAsWrittenIsSentCanonical pins the one place where the hub deliberately
// differs from Quantity.String() and so from package converge: a non-canonical spelling that
// the API server stores as written.
func aQuantityKeptAsWrittenIsSentCanonical(ctx context.Context, t *testing.T, cluster *testbed.Cluster) {
	g := NewWithT(t)
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "odd", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("05Gi")}},
		},
	}
	g.Expect(cluster.Client.Create(ctx, pvc)).To(Succeed())
	var live corev1.PersistentVolumeClaim
	g.Expect(cluster.Client.Get(ctx, client.ObjectKeyFromObject(pvc), &live)).To(Succeed())
	stored := live.Spec.Resources.Requests[corev1.ResourceStorage]
	g.Expect(stored.String()).To(Equal("05Gi"), "the API server keeps the spelling")

	rec := convert.PersistentVolumeClaim(&live)
	g.Expect(rec.StorageRequest).To(Equal("5Gi"))
	body, err := json.Marshal(rec)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(platform.ValidateRecord("PersistentVolumeClaim", body)).To(Succeed())

	_, want, err := converge.Record(&live)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(want).To(HaveKeyWithValue("storage_request", "05Gi"), "converge follows String()")
	converged, err := json.Marshal(want)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(platform.ValidateRecord("PersistentVolumeClaim", converged)).NotTo(Succeed(),
		"converge's expectation is one the simulator rejects")
}

func unionKeys(a, b map[string]any) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
