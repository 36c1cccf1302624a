package convert_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/ingest/convert"
	"github.com/obsyk/obsyk-hub/transport"
)

// copyRecord returns a deep copy of r through its JSON.
func copyRecord(g Gomega, r transport.Record) transport.Record {
	body, err := json.Marshal(r)
	g.Expect(err).NotTo(HaveOccurred())
	c := transport.NewRecord(r.Kind())
	g.Expect(json.Unmarshal(body, c)).To(Succeed())
	return c
}

var timeType = reflect.TypeFor[transport.Time]()

// mutateNth changes the n-th leaf of v (a string, bool, integer, Time, *bool, map, or an empty
// list) in the walk's fixed order, and reports whether there was an n-th leaf. *n counts down.
func mutateNth(v reflect.Value, n *int) bool {
	leaf := func(set func()) bool {
		if *n == 0 {
			set()
			return true
		}
		*n--
		return false
	}
	if v.Type() == timeType {
		return leaf(func() { v.Set(reflect.ValueOf(transport.Unix(v.Interface().(transport.Time).Unix() + 1))) })
	}
	switch v.Kind() {
	case reflect.String:
		return leaf(func() { v.SetString(v.String() + "x") })
	case reflect.Bool:
		return leaf(func() { v.SetBool(!v.Bool()) })
	case reflect.Int, reflect.Int32, reflect.Int64:
		return leaf(func() { v.SetInt(v.Int() + 1) })
	case reflect.Map:
		return leaf(func() {
			if v.IsNil() {
				v.Set(reflect.MakeMap(v.Type()))
			}
			v.SetMapIndex(reflect.ValueOf("zz-mutation"), reflect.ValueOf("1"))
		})
	case reflect.Pointer:
		if v.IsNil() {
			return leaf(func() { v.Set(reflect.New(v.Type().Elem())) })
		}
		if leaf(func() { v.Set(reflect.Zero(v.Type())) }) {
			return true
		}
		return mutateNth(v.Elem(), n)
	case reflect.Slice:
		if v.Len() == 0 {
			return leaf(func() { v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem()))) })
		}
		for i := range v.Len() {
			if mutateNth(v.Index(i), n) {
				return true
			}
		}
		return leaf(func() { v.Set(v.Slice(0, v.Len()-1)) })
	case reflect.Struct:
		for i := range v.NumField() {
			if mutateNth(v.Field(i), n) {
				return true
			}
		}
		return false
	}
	panic(fmt.Sprintf("unhandled %s", v.Type()))
}

// emptify replaces every nil list and map under v by an empty non-nil one, and every empty
// one by nil.
func emptify(v reflect.Value) {
	switch v.Kind() {
	case reflect.Map:
		switch {
		case v.IsNil():
			v.Set(reflect.MakeMap(v.Type()))
		case v.Len() == 0:
			v.Set(reflect.Zero(v.Type()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			emptify(v.Elem())
		}
	case reflect.Slice:
		switch {
		case v.IsNil():
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		case v.Len() == 0:
			v.Set(reflect.Zero(v.Type()))
		default:
			for i := range v.Len() {
				emptify(v.Index(i))
			}
		}
	case reflect.Struct:
		if v.Type() == timeType {
			return
		}
		for i := range v.NumField() {
			emptify(v.Field(i))
		}
	}
}

func TestEqualAgreesWithTheEncodedBytes(t *testing.T) {
	for _, tc := range kindCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rec := tc.want()
			body, _ := json.Marshal(rec)

			same := copyRecord(g, rec)
			g.Expect(convert.Equal(rec, same)).To(BeTrue(), "a deep copy")
			g.Expect(convert.Equal(rec, rec)).To(BeTrue(), "the same pointer")

			// nil and empty lists and maps encode alike, so they are equal.
			empties := copyRecord(g, rec)
			emptify(reflect.ValueOf(empties).Elem())
			eb, _ := json.Marshal(empties)
			g.Expect(string(eb)).To(Equal(string(body)))
			g.Expect(convert.Equal(rec, empties)).To(BeTrue(), "nil and empty collections")
			g.Expect(convert.Equal(empties, rec)).To(BeTrue(), "nil and empty collections, swapped")

			// Any change of any one leaf changes the bytes, and Equal must see it.
			mutations := 0
			for i := 0; ; i++ {
				m := copyRecord(g, rec)
				n := i
				if !mutateNth(reflect.ValueOf(m).Elem(), &n) {
					break
				}
				mutations++
				mb, _ := json.Marshal(m)
				g.Expect(string(mb)).NotTo(Equal(string(body)), "mutation %d", i)
				g.Expect(convert.Equal(rec, m)).To(BeFalse(), "mutation %d: %s", i, mb)
				g.Expect(convert.Equal(m, rec)).To(BeFalse(), "mutation %d swapped: %s", i, mb)
			}
			g.Expect(mutations).To(BeNumerically(">=", reflect.TypeOf(rec).Elem().NumField()))
		})
	}
}

func TestEqualComparesOnlyRecordsOfOneType(t *testing.T) {
	g := NewWithT(t)
	role, clusterRole := wantRole(), wantClusterRole()
	g.Expect(convert.Equal(role, wantRoleBinding())).To(BeFalse())
	g.Expect(convert.Equal(role, clusterRole)).To(BeFalse())
	g.Expect(convert.Equal(nil, nil)).To(BeTrue())
	g.Expect(convert.Equal(role, nil)).To(BeFalse())
	g.Expect(convert.Equal(nil, role)).To(BeFalse())
	g.Expect(convert.Equal((*transport.RoleInfo)(nil), (*transport.RoleInfo)(nil))).To(BeTrue())
	g.Expect(convert.Equal(role, (*transport.RoleInfo)(nil))).To(BeFalse())
}

func TestConvertingAnUnchangedObjectAgainGivesAnEqualRecord(t *testing.T) {
	for _, tc := range kindCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a, err := convert.Convert(tc.obj())
			g.Expect(err).NotTo(HaveOccurred())
			b, err := convert.Convert(tc.obj())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(convert.Equal(a, b)).To(BeTrue())
		})
	}
}
