package ingest

import (
	"context"
	"testing"
	"time"
	"unsafe"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/obsyk/obsyk-hub/transport"
)

func configMap(uid, rv string, keys ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm", UID: k8stypes.UID("u-" + uid), ResourceVersion: rv}}
	cm.Data = map[string]string{}
	for _, k := range keys {
		cm.Data[k] = "value"
	}
	return cm
}

func mustItem(g *WithT, obj any) *item {
	out, err := toItem(obj)
	g.Expect(err).NotTo(HaveOccurred())
	it, ok := out.(*item)
	g.Expect(ok).To(BeTrue())
	return it
}

func TestTheTransformStoresACompactItemThatTheInformerKeyFunctionsAccept(t *testing.T) {
	g := NewWithT(t)
	it := mustItem(g, configMap("1", "7", "a"))
	g.Expect(it.kind).To(Equal(transport.KindConfigMap))
	g.Expect(it.uid).To(Equal("u-1"))
	g.Expect(it.resourceVersion).To(Equal("7"))
	g.Expect(it.record.(*transport.ConfigMapInfo).DataKeys).To(ConsistOf("a"))

	again, err := toItem(it)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(BeIdenticalTo(it), "an item passes through unchanged")

	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(it)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(key).To(Equal("ns/cm"))
	idx, err := cache.MetaNamespaceIndexFunc(it)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(idx).To(Equal([]string{"ns"}))

	ns := mustItem(g, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", UID: "n1"}})
	key, err = cache.MetaNamespaceKeyFunc(ns)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(key).To(Equal("team"))

	_, err = toItem("not an object")
	g.Expect(err).To(HaveOccurred())
}

func TestAnItemKeepsNothingOfItsObjectAndSharesItsIdentityWithItsRecord(t *testing.T) {
	g := NewWithT(t)
	pod := realisticPod(1)
	it := mustItem(g, pod)
	rec := it.record.(*transport.PodInfo)
	data := func(s string) *byte { return unsafe.StringData(s) }
	g.Expect(data(it.name)).To(BeIdenticalTo(data(rec.Name)))
	g.Expect(data(it.uid)).To(BeIdenticalTo(data(rec.UID)))
	g.Expect(data(it.namespace)).To(BeIdenticalTo(data(rec.Namespace)))
	g.Expect(data(it.name)).NotTo(BeIdenticalTo(data(pod.Name)))
	g.Expect(data(it.uid)).NotTo(BeIdenticalTo(data(string(pod.UID))))
	g.Expect(data(it.namespace)).NotTo(BeIdenticalTo(data(pod.Namespace)))
	g.Expect(data(it.resourceVersion)).NotTo(BeIdenticalTo(data(pod.ResourceVersion)))
	g.Expect(it.resourceVersion).To(Equal(pod.ResourceVersion))

	other := mustItem(g, realisticPod(2)) // a replica of the same Deployment
	g.Expect(data(other.namespace)).To(BeIdenticalTo(data(it.namespace)))
	g.Expect(&other.record.(*transport.PodInfo).Containers[0]).To(BeIdenticalTo(&rec.Containers[0]))
}

// nextChange reads the next change, or fails after a second.
func nextChange(g *WithT, ch *EventChannel) Change {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := ch.Next(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	return c
}

func channelEmpty(ch *EventChannel) bool {
	st := ch.Stats()
	return st.Buffered == 0 && st.Overflow == 0
}

func TestTheHandlersPushOnlyRealChanges(t *testing.T) {
	g := NewWithT(t)
	p := &pipeline{ch: NewEventChannel(EventChannelOptions{})}
	h := p.handlers()
	v1 := mustItem(g, configMap("1", "1", "a"))
	v2 := mustItem(g, configMap("1", "2", "a"))      // only the resource version changed
	v3 := mustItem(g, configMap("1", "3", "a", "b")) // a new key: the record changed
	other := mustItem(g, configMap("2", "4", "a"))   // same name, new UID

	h.OnAdd(v1, true)
	g.Expect(channelEmpty(p.ch)).To(BeTrue(), "the initial list is carried by the snapshot")
	h.OnAdd(v1, false)
	g.Expect(nextChange(g, p.ch)).To(Equal(Change{Kind: transport.KindConfigMap, Namespace: "ns", Name: "cm", UID: "u-1", Type: transport.EventAdded}))

	h.OnUpdate(v1, v2)
	g.Expect(channelEmpty(p.ch)).To(BeTrue())
	g.Expect(p.suppressed.Load()).To(Equal(uint64(1)))

	h.OnUpdate(v2, v3)
	g.Expect(nextChange(g, p.ch).Type).To(Equal(transport.EventModified))

	h.OnUpdate(v3, other)
	c := nextChange(g, p.ch)
	g.Expect(c.Type).To(Equal(transport.EventDeleted))
	g.Expect(c.UID).To(Equal("u-1"))
	c = nextChange(g, p.ch)
	g.Expect(c.Type).To(Equal(transport.EventAdded))
	g.Expect(c.UID).To(Equal("u-2"))

	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/cm", Obj: other})
	c = nextChange(g, p.ch)
	g.Expect(c.Type).To(Equal(transport.EventDeleted))
	g.Expect(c.UID).To(Equal("u-2"))
	g.Expect(p.tombstones.Load()).To(Equal(uint64(1)))
}

func TestTheNamespaceFilterAppliesToNamespacedObjectsAndNamespaceNames(t *testing.T) {
	cases := []struct {
		name             string
		include, exclude []string
		kind             transport.Kind
		ns, objName      string
		want             bool
	}{
		{"an object passes with no filter", nil, nil, transport.KindPod, "a", "p", true},
		{"an excluded namespace's object is left out", nil, []string{"a"}, transport.KindPod, "a", "p", false},
		{"the excluded Namespace object itself is left out", nil, []string{"a"}, transport.KindNamespace, "", "a", false},
		{"an object outside the included namespaces is left out", []string{"b"}, nil, transport.KindPod, "a", "p", false},
		{"an included namespace's object passes", []string{"a"}, nil, transport.KindConfigMap, "a", "c", true},
		{"cluster-scoped kinds other than Namespace always pass", []string{"b"}, nil, transport.KindNode, "", "n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &agent{kinds: map[transport.Kind]bool{tc.kind: true}, exclude: map[string]bool{}}
			if tc.include != nil {
				a.include = map[string]bool{}
				for _, n := range tc.include {
					a.include[n] = true
				}
			}
			for _, n := range tc.exclude {
				a.exclude[n] = true
			}
			c := Change{Kind: tc.kind, Namespace: tc.ns, Name: tc.objName}
			NewWithT(t).Expect(a.wants(c)).To(Equal(tc.want))
		})
	}
}

// TestTheHandlersCountObjectsByNamespace checks the counts that status and metrics read
// instead of listing a store: adds (initial list included) and deletes (tombstones
// included) count, updates never do, even when the UID under a key changed; a Namespace
// counts under its own name and other cluster-scoped objects under "".
func TestTheHandlersCountObjectsByNamespace(t *testing.T) {
	g := NewWithT(t)
	p := &pipeline{ch: NewEventChannel(EventChannelOptions{})}
	h := p.handlers()
	inNS := func(ns, name, uid string) *item {
		cm := configMap(uid, "1")
		cm.Namespace, cm.Name = ns, name
		return mustItem(g, cm)
	}
	a1, a2, b1 := inNS("a", "one", "1"), inNS("a", "two", "2"), inNS("b", "one", "3")
	h.OnAdd(a1, true)
	h.OnAdd(a2, false)
	h.OnAdd(b1, false)
	h.OnUpdate(a2, inNS("a", "two", "4")) // recreated under the same key
	h.OnAdd(mustItem(g, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "ns-a"}}), true)
	h.OnAdd(mustItem(g, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", UID: "ns-b"}}), true)
	h.OnAdd(mustItem(g, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-1"}}), true)

	all := func(string, string) bool { return true }
	onlyA := func(ns, name string) bool { return ns == "a" || name == "a" }
	g.Expect(p.countsOf(transport.KindConfigMap, all)).To(Equal(3))
	g.Expect(p.countsOf(transport.KindConfigMap, onlyA)).To(Equal(2))
	g.Expect(p.countsOf(transport.KindNamespace, all)).To(Equal(2))
	g.Expect(p.countsOf(transport.KindNamespace, onlyA)).To(Equal(1))
	g.Expect(p.countsOf(transport.KindNode, all)).To(Equal(1))

	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "a/one", Obj: a1})
	h.OnDelete(b1)
	g.Expect(p.countsOf(transport.KindConfigMap, all)).To(Equal(1))
	g.Expect(p.countsOf(transport.KindConfigMap, onlyA)).To(Equal(1))
	g.Expect(p.counts[transport.KindConfigMap]).NotTo(HaveKey("b"), "an emptied namespace leaves no entry")
}
