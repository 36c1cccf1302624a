package transport

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
)

// trickyStrings exercise every escaping rule of encoding/json.
var trickyStrings = []string{
	"", "plain", "a<b>&c", `quote " and back\slash`, "tab\tnew\nline\rcr", "\b\f\x00\x1f\x7f",
	"ünïcödé ✓ 日本", "line\u2028sep\u2029par", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate",
	"emoji 😀", "kubernetes.io/metadata.name", "100m", "</script>",
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	g := NewWithT(t)
	all := append([]string(nil), trickyStrings...)
	var every strings.Builder
	for c := range 256 {
		every.WriteByte(byte(c))
	}
	all = append(all, every.String())
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		all = append(all, string(b))
		r := make([]rune, rng.IntN(6))
		for i := range r {
			r[i] = rune(rng.IntN(0x30000))
		}
		all = append(all, string(r))
	}
	for _, s := range all {
		want, err := json.Marshal(s)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(appendString(nil, s))).To(Equal(string(want)), "%q", s)
	}
}

// filler sets every field of a value to a random value, walking the types by reflection so
// that a field the hand-written encoder forgets cannot go unnoticed.
type filler struct{ rng *rand.Rand }

func (f filler) str() string {
	if f.rng.IntN(4) == 0 {
		return ""
	}
	return trickyStrings[f.rng.IntN(len(trickyStrings))]
}

func (f filler) fill(v reflect.Value) {
	switch v.Type() {
	case reflect.TypeFor[Time]():
		if f.rng.IntN(3) > 0 {
			v.Set(reflect.ValueOf(Unix(f.rng.Int64N(4_000_000_000) - 1_000_000_000)))
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(f.str())
	case reflect.Bool:
		v.SetBool(f.rng.IntN(2) == 0)
	case reflect.Int32:
		switch f.rng.IntN(4) {
		case 0:
		case 1:
			v.SetInt(int64(int32(f.rng.Uint32())))
		default:
			v.SetInt(int64(f.rng.IntN(10)))
		}
	case reflect.Int:
		if f.rng.IntN(3) > 0 {
			v.SetInt(f.rng.Int64N(1<<40) - 1<<39)
		}
	case reflect.Pointer:
		if f.rng.IntN(3) > 0 {
			p := reflect.New(v.Type().Elem())
			f.fill(p.Elem())
			v.Set(p)
		}
	case reflect.Map:
		switch f.rng.IntN(3) {
		case 0:
		case 1:
			v.Set(reflect.MakeMap(v.Type()))
		default:
			m := reflect.MakeMap(v.Type())
			for range 1 + f.rng.IntN(20) {
				m.SetMapIndex(reflect.ValueOf(f.str()), reflect.ValueOf(f.str()))
			}
			v.Set(m)
		}
	case reflect.Slice:
		switch f.rng.IntN(3) {
		case 0:
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			s := reflect.MakeSlice(v.Type(), 1+f.rng.IntN(3), 3)
			for i := range s.Len() {
				f.fill(s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i))
			}
		}
	default:
		panic("filler: unhandled kind " + v.Kind().String())
	}
}

func TestEveryRecordEncodesExactlyAsEncodingJSON(t *testing.T) {
	f := filler{rng: rand.New(rand.NewPCG(3, 4))}
	for _, kind := range Kinds {
		t.Run("random "+string(kind)+" records encode as json.Marshal writes them", func(t *testing.T) {
			g := NewWithT(t)
			for range 300 {
				rec := NewRecord(kind)
				f.fill(reflect.ValueOf(rec).Elem())
				want, err := json.Marshal(rec)
				g.Expect(err).NotTo(HaveOccurred())
				got := rec.appendJSON(nil)
				g.Expect(string(got)).To(Equal(string(want)))
				g.Expect(utf8.Valid(got)).To(BeTrue())

				ev := &EventPayload{ClusterUID: f.str(), Type: EventModified, Kind: rec.Kind(),
					UID: f.str(), Name: f.str(), Namespace: f.str(), Object: rec}
				want, err = json.Marshal(ev)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(string(appendEvent(nil, ev))).To(Equal(string(want)))
			}
		})
	}
}

func TestTheFastEncoderMatchesTheContractExamples(t *testing.T) {
	g := NewWithT(t)
	svc := exampleService()
	ev := &EventPayload{ClusterUID: exampleClusterUID, Type: EventAdded, Kind: KindService,
		UID: svc.UID, Name: svc.Name, Namespace: svc.Namespace, Object: svc}
	g.Expect(string(appendEvent(nil, ev))).To(Equal(string(compactGolden(t, "event-added-service.json"))))
	del := &EventPayload{ClusterUID: exampleClusterUID, Type: EventDeleted, Kind: KindNode,
		UID: "5e0b9d27-8c14-4a6f-b3d2-6f1a0c9e8b47", Name: "worker-a3"}
	g.Expect(string(appendEvent(nil, del))).To(Equal(string(compactGolden(t, "event-deleted-node.json"))))
}

func TestASnapshotStreamsAsTheReflectionEncoderWritesIt(t *testing.T) {
	g := NewWithT(t)
	f := filler{rng: rand.New(rand.NewPCG(5, 6))}
	var recs []Record
	for range 20 {
		for _, kind := range Kinds {
			rec := NewRecord(kind)
			f.fill(reflect.ValueOf(rec).Elem())
			recs = append(recs, rec)
		}
	}
	snap := snapshotOf("c", recs)
	snap.AgentVersion, snap.Region = "v1<2>", "eu & us"
	got, err := json.Marshal(snap)
	g.Expect(err).NotTo(HaveOccurred())

	// The same document through encoding/json's reflection over the struct tags, with the
	// arrays that the snapshot encoder always writes forced to [].
	type plain SnapshotPayload // no MarshalJSON
	p := plain(*snap)
	v := reflect.ValueOf(&p).Elem()
	for i := range v.NumField() {
		if fv := v.Field(i); fv.Kind() == reflect.Slice && fv.IsNil() {
			fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
		}
	}
	want, err := json.Marshal(&p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(got)).To(Equal(string(want)))
}

func TestEncodingARecordAllocatesNothing(t *testing.T) {
	g := NewWithT(t)
	pod := benchPod(7)
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() { buf = pod.appendJSON(buf[:0]) })
	g.Expect(allocs).To(BeZero())
}
