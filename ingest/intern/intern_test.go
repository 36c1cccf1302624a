package intern

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	. "github.com/onsi/gomega"
)

// fresh returns a copy of s in its own allocation, as a decoder would produce it.
func fresh(s string) string { return strings.Clone(s) }

func data(s string) *byte { return unsafe.StringData(s) }

func mapPtr(m map[string]string) unsafe.Pointer { return reflect.ValueOf(m).UnsafePointer() }

func TestEqualStringsShareOneCopyThatIsNeverTheArgument(t *testing.T) {
	g := NewWithT(t)
	a, b := fresh("registry.example.com/team/app:v1.2.3"), fresh("registry.example.com/team/app:v1.2.3")
	ia, ib := String(a), String(b)
	g.Expect(ia).To(Equal(a))
	g.Expect(data(ia)).To(BeIdenticalTo(data(ib)))
	g.Expect(data(ia)).NotTo(BeIdenticalTo(data(a)))
	g.Expect(data(ib)).NotTo(BeIdenticalTo(data(b)))
	g.Expect(data(String(fresh("registry.example.com/team/app:v1.2.4")))).NotTo(BeIdenticalTo(data(ia)))
	g.Expect(String("")).To(BeEmpty())
	runtime.KeepAlive(ia)
}

func TestEqualMapsShareOneCanonicalMapOfInternedStrings(t *testing.T) {
	g := NewWithT(t)
	a := map[string]string{fresh("app"): fresh("cart"), fresh("team"): fresh("payments"), fresh("tier"): fresh("web")}
	b := map[string]string{fresh("tier"): fresh("web"), fresh("app"): fresh("cart"), fresh("team"): fresh("payments")}
	ia, ib := Map(a), Map(b)
	g.Expect(ia).To(Equal(a))
	g.Expect(mapPtr(ia)).To(BeIdenticalTo(mapPtr(ib)))
	g.Expect(mapPtr(ia)).NotTo(BeIdenticalTo(mapPtr(a)))
	for k, v := range ia {
		g.Expect(data(k)).To(BeIdenticalTo(data(String(fresh(k)))))
		g.Expect(data(v)).To(BeIdenticalTo(data(String(fresh(v)))))
	}

	a["app"] = "changed" // the source may change afterwards; the canonical map does not
	g.Expect(ia).To(HaveKeyWithValue("app", "cart"))
	g.Expect(mapPtr(Map(a))).NotTo(BeIdenticalTo(mapPtr(ia)))
	g.Expect(mapPtr(Map(map[string]string{"app": "cart", "team": "payments"}))).NotTo(BeIdenticalTo(mapPtr(ia)))
	g.Expect(Map(map[string]string{})).To(BeNil())
	g.Expect(Map(nil)).To(BeNil())
}

type port struct {
	Name string
	Port int32
}

var ports = NewSlices(
	func(h Hash, p *port) Hash { return h.String(p.Name).Int(int64(p.Port)) },
	func(a, b *port) bool { return *a == *b },
)

func TestEqualListsShareOneCanonicalListWithoutSpareCapacity(t *testing.T) {
	g := NewWithT(t)
	a := append(make([]port, 0, 8), port{"http", 80}, port{"metrics", 9090})
	b := []port{{"http", 80}, {"metrics", 9090}}
	ia, ib := ports.Get(a), ports.Get(b)
	g.Expect(ia).To(Equal(b))
	g.Expect(&ia[0]).To(BeIdenticalTo(&ib[0]))
	g.Expect(&ia[0]).NotTo(BeIdenticalTo(&a[0]))
	g.Expect(cap(ia)).To(Equal(2))
	g.Expect(&ports.Get([]port{{"http", 80}})[0]).NotTo(BeIdenticalTo(&ia[0]))
	g.Expect(&ports.Get([]port{{"metrics", 9090}, {"http", 80}})[0]).NotTo(BeIdenticalTo(&ia[0]))
	g.Expect(ports.Get(nil)).To(BeNil())

}

// internDropped interns a string of its own and drops every reference to the result.
func internDropped(i int) {
	_ = String(fmt.Sprintf("a string nobody keeps, number %08d", i))
}

func TestAValueNobodyReferencesIsCollectedAndItsEntrySwept(t *testing.T) {
	g := NewWithT(t)
	runtime.GC()
	strs.sweep()
	before := strs.len()
	kept := String(fresh("a string a record keeps, long enough not to be tiny"))
	for i := range 100 {
		internDropped(i)
	}
	g.Expect(strs.len()).To(Equal(before + 101))

	runtime.GC()
	strs.sweep()
	g.Expect(strs.len()).To(Equal(before+1), "only the referenced string keeps its entry")
	g.Expect(data(String(fresh(kept)))).To(BeIdenticalTo(data(kept)), "and it is still shared")
	runtime.KeepAlive(kept)
}

func TestATableStaysBoundedUnderChurnWithoutExplicitSweeps(t *testing.T) {
	g := NewWithT(t)
	// 200k distinct strings, none kept, a collection after every 2,000: each shard sweeps
	// itself when it doubles, so no shard outgrows its minimum size by much.
	for batch := range 100 {
		for i := range 2000 {
			internDropped(100 + batch*2000 + i)
		}
		runtime.GC()
	}
	g.Expect(strs.len()).To(BeNumerically("<=", shardCount*minSweep))
}

func TestTwoValuesWithOneHashAreBothCorrect(t *testing.T) {
	g := NewWithT(t)
	colliding := &table[string]{shape: strs.shape}
	colliding.hash = func(string) uint64 { return 42 }
	a, b := colliding.get(fresh("first value")), colliding.get(fresh("second value"))
	g.Expect(a).To(Equal("first value"))
	g.Expect(b).To(Equal("second value"))
	g.Expect(colliding.get(fresh("second value"))).To(Equal("second value"))
	g.Expect(colliding.get(fresh("first value"))).To(Equal("first value"))
}

func TestConcurrentCallersGetTheSameCanonicalCopies(t *testing.T) {
	g := NewWithT(t)
	const workers, values = 8, 500
	got := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[w] = make([]string, values)
			for i := range values {
				got[w][i] = String(fmt.Sprintf("shared value %d", i))
			}
		}()
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		for i := range values {
			g.Expect(data(got[w][i])).To(BeIdenticalTo(data(got[0][i])))
		}
	}
}
