package convert_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	"github.com/obsyk/obsyk-hub/ingest/convert"
	"github.com/obsyk/obsyk-hub/transport"
)

// span is a range of memory [from, to).
type span struct{ from, to uintptr }

// memory returns the ranges of memory reachable from v through strings, slices, maps,
// pointers and interfaces, unexported fields included (a Quantity's cached string, say).
func memory(v reflect.Value) []span {
	var out []span
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			if n := v.Len(); n > 0 {
				p := uintptr(unsafe.Pointer(unsafe.StringData(v.String())))
				out = append(out, span{p, p + uintptr(n)})
			}
		case reflect.Slice:
			if v.Cap() == 0 {
				return
			}
			p := uintptr(v.UnsafePointer())
			out = append(out, span{p, p + uintptr(v.Cap())*v.Type().Elem().Size()})
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			if v.IsNil() {
				return
			}
			p := uintptr(v.UnsafePointer())
			out = append(out, span{p, p + 1})
			for it := v.MapRange(); it.Next(); {
				walk(it.Key())
				walk(it.Value())
			}
		case reflect.Pointer:
			if v.IsNil() {
				return
			}
			p := uintptr(v.UnsafePointer())
			if seen[p] {
				return
			}
			seen[p] = true
			out = append(out, span{p, p + v.Type().Elem().Size()})
			walk(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		}
	}
	walk(v)
	return out
}

// shared returns a description of the first memory range of rec that overlaps obj's.
func shared(rec transport.Record, obj any) string {
	objMem := memory(reflect.ValueOf(obj))
	for _, r := range memory(reflect.ValueOf(rec)) {
		for _, o := range objMem {
			if r.from < o.to && o.from < r.to {
				return fmt.Sprintf("record memory %#x-%#x overlaps object memory %#x-%#x", r.from, r.to, o.from, o.to)
			}
		}
	}
	return ""
}

func TestACompactRecordEncodesExactlyAsTheConvertedOneAndSharesNothingWithItsObject(t *testing.T) {
	for _, tc := range kindCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			obj := tc.obj()
			pristine := obj.DeepCopyObject()

			rec, err := convert.Convert(obj)
			g.Expect(err).NotTo(HaveOccurred())
			compact, err := convert.Compact(obj)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(compact).To(Equal(tc.want()))
			g.Expect(convert.Equal(compact, rec)).To(BeTrue())
			want, err := json.Marshal(rec)
			g.Expect(err).NotTo(HaveOccurred())
			got, err := json.Marshal(compact)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(string(want)))

			g.Expect(obj).To(Equal(pristine), "the source object must not be modified")
			g.Expect(shared(compact, obj)).To(BeEmpty())
			g.Expect(shared(rec, obj)).NotTo(BeEmpty(), "the check must see what Convert shares")

			m, err := meta.Accessor(obj)
			g.Expect(err).NotTo(HaveOccurred())
			ns, name, uid := convert.Identity(compact)
			g.Expect(name).To(Equal(m.GetName()))
			g.Expect(uid).To(Equal(string(m.GetUID())))
			if tc.kind.ClusterScoped() {
				g.Expect(ns).To(BeEmpty())
			} else {
				g.Expect(ns).To(Equal(m.GetNamespace()))
			}
		})
	}
}

func TestACompactRecordOfAnObjectWithEmptyFieldsEncodesAsTheConvertedOne(t *testing.T) {
	for _, tc := range kindCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			// The object with every list, map and optional field empty, but its identity.
			obj := tc.obj()
			m, _ := meta.Accessor(obj)
			name, ns, uid := m.GetName(), m.GetNamespace(), m.GetUID()
			v := reflect.ValueOf(obj).Elem()
			v.Set(reflect.Zero(v.Type()))
			m.SetName(name)
			m.SetNamespace(ns)
			m.SetUID(uid)

			rec, err := convert.Convert(obj)
			g.Expect(err).NotTo(HaveOccurred())
			compact, err := convert.Compact(obj)
			g.Expect(err).NotTo(HaveOccurred())
			want, _ := json.Marshal(rec)
			got, _ := json.Marshal(compact)
			g.Expect(string(got)).To(Equal(string(want)))
			g.Expect(compact).To(Equal(rec))
			g.Expect(shared(compact, obj)).To(BeEmpty())
		})
	}
}

// replica returns the i-th replica of one Deployment: the same spec, labels and status,
// its own name, UID and IP, every string freshly allocated as a decoder would.
func replica(i int) *corev1.Pod {
	p := fullPod().DeepCopy()
	c := func(s string) string { return string([]byte(s)) }
	p.Name = fmt.Sprintf("cart-7d9f8c6b5-%05d", i)
	p.UID = types.UID(fmt.Sprintf("uid-%d", i))
	p.Status.PodIP = fmt.Sprintf("10.244.0.%d", i)
	p.Namespace, p.Spec.NodeName = c(p.Namespace), c(p.Spec.NodeName)
	labels := map[string]string{}
	for k, v := range p.Labels {
		labels[c(k)] = c(v)
	}
	p.Labels = labels
	for j := range p.Spec.Containers {
		p.Spec.Containers[j].Image = c(p.Spec.Containers[j].Image)
	}
	return p
}

func TestTheReplicasOfADeploymentShareEverythingButTheirIdentity(t *testing.T) {
	g := NewWithT(t)
	ra, err := convert.Compact(replica(1))
	g.Expect(err).NotTo(HaveOccurred())
	rb, err := convert.Compact(replica(2))
	g.Expect(err).NotTo(HaveOccurred())
	a, b := ra.(*transport.PodInfo), rb.(*transport.PodInfo)

	g.Expect(reflect.ValueOf(a.Labels).UnsafePointer()).To(Equal(reflect.ValueOf(b.Labels).UnsafePointer()))
	g.Expect(reflect.ValueOf(a.Annotations).UnsafePointer()).To(Equal(reflect.ValueOf(b.Annotations).UnsafePointer()))
	g.Expect(&a.Conditions[0]).To(BeIdenticalTo(&b.Conditions[0]))
	g.Expect(&a.Containers[0]).To(BeIdenticalTo(&b.Containers[0]))
	g.Expect(&a.InitContainers[0]).To(BeIdenticalTo(&b.InitContainers[0]))
	g.Expect(&a.Volumes[0]).To(BeIdenticalTo(&b.Volumes[0]))
	g.Expect(unsafe.StringData(a.Namespace)).To(BeIdenticalTo(unsafe.StringData(b.Namespace)))
	g.Expect(unsafe.StringData(a.NodeName)).To(BeIdenticalTo(unsafe.StringData(b.NodeName)))
	g.Expect(cap(a.Containers)).To(Equal(len(a.Containers)), "a shared list has no room to append into")

	g.Expect(a.Name).NotTo(Equal(b.Name))
	g.Expect(a.UID).NotTo(Equal(b.UID))
	g.Expect(a.PodIP).NotTo(Equal(b.PodIP))

	// A replica whose container restarted shares all but its container list, whose
	// nested lists it still shares.
	p := replica(3)
	for i := range p.Status.ContainerStatuses {
		if st := &p.Status.ContainerStatuses[i]; st.Name == p.Spec.Containers[0].Name {
			st.RestartCount++
		}
	}
	rc, err := convert.Compact(p)
	g.Expect(err).NotTo(HaveOccurred())
	c := rc.(*transport.PodInfo)
	g.Expect(&c.Containers[0]).NotTo(BeIdenticalTo(&a.Containers[0]))
	g.Expect(c.Containers[0].RestartCount).To(Equal(a.Containers[0].RestartCount + 1))
	g.Expect(&c.Containers[0].Ports[0]).To(BeIdenticalTo(&a.Containers[0].Ports[0]))
	g.Expect(&c.Volumes[0]).To(BeIdenticalTo(&a.Volumes[0]))
}
