package platform

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// This file generates the rejection tests from the schema itself: a valid instance with every
// key set is built for each body, then every object node in it is mutated three ways.

const testClusterUID = "3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88"

// fullRecord builds a valid instance of rec with every key set, for the given kind.
func fullRecord(rec *record, kind string) map[string]any {
	ki := kindByName[kind]
	m := map[string]any{}
	for _, fl := range rec.fields {
		switch {
		case (rec.name == recRole || rec.name == recRoleBinding) && fl.key == namespaceKey && ki.clusterScope:
			continue // absent for ClusterRole / ClusterRoleBinding
		case fl.key == isClusterKey:
			m[fl.key] = ki.clusterScope
			continue
		case fl.key == annotationsKey:
			m[fl.key] = map[string]any{"owner": "payments@example.com"}
			continue
		case fl.key == "uid":
			m[fl.key] = "uid-" + strings.ToLower(kind)
			continue
		case fl.key == "name" && rec.name != "ContainerInfo":
			m[fl.key] = "name-" + strings.ToLower(kind)
			continue
		case fl.key == namespaceKey:
			m[fl.key] = "shop"
			continue
		}
		m[fl.key] = exampleValue(fl, fl.typ, kind)
	}
	return m
}

func exampleValue(fl field, t fieldType, kind string) any {
	switch t.kind {
	case typeString:
		if len(fl.enum) > 0 {
			return fl.enum[0]
		}
		return "v-" + fl.key
	case typeInt32, typeInt:
		return json.Number("3")
	case typeBool:
		return true
	case typeMap:
		return map[string]any{"app": "cart"}
	case typeTime:
		return "2025-11-20T14:03:11Z"
	case typeQty:
		return "100m"
	case typeRecord:
		return fullRecord(records[t.record], kind)
	case typeArray:
		return []any{exampleValue(fl, *t.elem, kind)}
	}
	panic("no example for " + t.String())
}

func fullSnapshot() map[string]any {
	m := fullRecordTop(records[recSnapshot])
	for _, ki := range kindTable {
		m[ki.snapshotKey] = []any{fullRecord(records[ki.record], ki.kind)}
	}
	return m
}

func fullRecordTop(rec *record) map[string]any {
	m := map[string]any{}
	for _, fl := range rec.fields {
		if fl.typ.kind == typeArray {
			continue
		}
		if fl.key == "cluster_uid" {
			m[fl.key] = testClusterUID
			continue
		}
		m[fl.key] = exampleValue(fl, fl.typ, "")
	}
	return m
}

func fullEvent(kind string) map[string]any {
	ki := kindByName[kind]
	return upsertEvent(testClusterUID, EventAdded, kind, fullRecord(records[ki.record], kind))
}

func fullHeartbeat() map[string]any { return fullRecordTop(records[recHeartbeat]) }

// node is an object inside a body, with the schema record that describes it.
type node struct {
	path []any // keys (string) and indexes (int) from the root
	rec  *record
}

func pathString(p []any) string {
	var b strings.Builder
	for _, e := range p {
		switch v := e.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		}
	}
	return b.String()
}

// nodes lists every object node of a body built by the full* functions.
func nodes(body map[string]any, root *record) []node {
	var out []node
	var walk func(path []any, v any, t fieldType, kind string)
	walkRecord := func(path []any, m map[string]any, rec *record, kind string) {
		out = append(out, node{path: append([]any(nil), path...), rec: rec})
		for _, fl := range rec.fields {
			v, ok := m[fl.key]
			if !ok {
				continue
			}
			ctx := kind
			if ki, ok := snapshotKeyKind[fl.key]; ok && rec.name == recSnapshot {
				ctx = ki.kind
			}
			t := fl.typ
			if t.kind == typeObject {
				k := m[eventKindKey].(string)
				ctx = k
				t = tRec(kindByName[k].record)
			}
			walk(append(path, fl.key), v, t, ctx)
		}
	}
	walk = func(path []any, v any, t fieldType, kind string) {
		switch t.kind {
		case typeRecord:
			walkRecord(path, v.(map[string]any), records[t.record], kind)
		case typeArray:
			for i, e := range v.([]any) {
				walk(append(path, i), e, *t.elem, kind)
			}
		}
	}
	walkRecord(nil, body, root, "")
	return out
}

func get(body any, path []any) any {
	for _, e := range path {
		switch k := e.(type) {
		case string:
			body = body.(map[string]any)[k]
		case int:
			body = body.([]any)[k]
		}
	}
	return body
}

// mutation is one generated invalid body and the problem it must produce.
type mutation struct {
	name string
	body map[string]any
	// want is the prefix of the expected problem: "<path>: <words>".
	want string
}

// wrongValue returns a value of the wrong JSON type for t.
func wrongValue(t fieldType) any {
	switch t.kind {
	case typeString, typeTime, typeQty:
		return json.Number("7")
	case typeInt32, typeInt, typeBool, typeRecord, typeObject:
		return "7"
	case typeMap:
		return []any{"a"}
	case typeArray:
		return map[string]any{"a": "b"}
	}
	panic("no wrong value for " + t.String())
}

// mutations generates, for every object node: each required key removed, an unknown key
// added, each key given a wrong JSON type.
func mutations(build func() map[string]any, root *record) []mutation {
	var out []mutation
	for _, n := range nodes(build(), root) {
		p := pathString(n.path)
		at := func(key string) string {
			if p == "" {
				return key
			}
			return p + "." + key
		}
		for _, fl := range n.rec.fields {
			fl := fl
			body := build()
			obj := get(body, n.path).(map[string]any)
			if _, present := obj[fl.key]; !present {
				continue
			}
			if fl.pres.required() {
				delete(obj, fl.key)
				out = append(out, mutation{
					name: fmt.Sprintf("removing the required key %s is rejected naming it", at(fl.key)),
					body: body, want: at(fl.key) + ": required key missing",
				})
			}
			body = build()
			obj = get(body, n.path).(map[string]any)
			obj[fl.key] = wrongValue(fl.typ)
			out = append(out, mutation{
				name: fmt.Sprintf("a wrong JSON type for %s (%s) is rejected naming it", at(fl.key), fl.typ),
				body: body, want: at(fl.key) + ": want ",
			})
		}
		body := build()
		get(body, n.path).(map[string]any)["x_unknown"] = "surprise"
		out = append(out, mutation{
			name: fmt.Sprintf("an unknown key at %s is rejected naming it", orBody(p)),
			body: body, want: at("x_unknown") + ": unknown key",
		})
	}
	return out
}

func hasProblem(problems []string, prefix string) bool {
	for _, p := range problems {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func TestFullInstancesAreValid(t *testing.T) {
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_full")
	cases := []struct {
		name string
		path string
		body map[string]any
	}{
		{"a snapshot with every key of every record set is accepted", PathSnapshot, fullSnapshot()},
		{"a heartbeat with every key set is accepted", PathHeartbeat, fullHeartbeat()},
	}
	for _, k := range Kinds {
		cases = append(cases, struct {
			name string
			path string
			body map[string]any
		}{fmt.Sprintf("an added %s event with every key set is accepted", k), PathEvents, fullEvent(k)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			status, body, err := a.post(tc.path, mustJSON(t, tc.body))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusOK), "body: %s", body)
		})
	}
	g := NewWithT(t)
	st := sim.Cluster(testClusterUID)
	for _, k := range Kinds {
		g.Expect(st.Count(k)).To(Equal(1), "kind %s", k)
	}
}

// TestGeneratedRejectionsInProcess runs every generated mutation of every body through the
// validator (fast, exhaustive, including every depth of the snapshot).
func TestGeneratedRejectionsInProcess(t *testing.T) {
	type bodyCase struct {
		name  string
		build func() map[string]any
		root  *record
		parse func([]byte) error
	}
	bodies := []bodyCase{
		{"snapshot", fullSnapshot, records[recSnapshot], ValidateSnapshot},
		{"heartbeat", fullHeartbeat, records[recHeartbeat], ValidateHeartbeat},
	}
	for _, k := range Kinds {
		bodies = append(bodies, bodyCase{k + " event", func() map[string]any { return fullEvent(k) }, records[recEvent], ValidateEvent})
	}
	total := 0
	for _, bc := range bodies {
		t.Run(bc.name, func(t *testing.T) {
			ms := mutations(bc.build, bc.root)
			total += len(ms)
			for _, m := range ms {
				g := NewWithT(t)
				err := bc.parse(mustJSON(t, m.body))
				g.Expect(err).To(HaveOccurred(), m.name)
				ve, ok := err.(*ValidationError)
				g.Expect(ok).To(BeTrue(), "%s: %v", m.name, err)
				g.Expect(hasProblem(ve.Problems, m.want)).To(BeTrue(), "%s: want a problem starting %q, got %q", m.name, m.want, ve.Problems)
			}
		})
	}
	// Every record of the schema is reached by some body.
	g := NewWithT(t)
	reached := map[string]bool{}
	for _, bc := range bodies {
		for _, n := range nodes(bc.build(), bc.root) {
			reached[n.rec.name] = true
		}
	}
	for name := range records {
		g.Expect(reached).To(HaveKey(name), "record %s is never exercised", name)
	}
	g.Expect(total).To(BeNumerically(">", 1000))
}

// TestGeneratedRejectionsOverHTTPS sends the mutations of every event kind (which reach
// every record type), the heartbeat and the snapshot's own keys through real HTTPS.
func TestGeneratedRejectionsOverHTTPS(t *testing.T) {
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_gen")
	type bodyCase struct {
		path  string
		build func() map[string]any
		root  *record
		top   bool // only the root node's mutations
	}
	bodies := []bodyCase{
		{PathSnapshot, fullSnapshot, records[recSnapshot], true},
		{PathHeartbeat, fullHeartbeat, records[recHeartbeat], false},
	}
	for _, k := range Kinds {
		bodies = append(bodies, bodyCase{PathEvents, func() map[string]any { return fullEvent(k) }, records[recEvent], false})
	}
	for _, bc := range bodies {
		for _, m := range mutations(bc.build, bc.root) {
			if bc.top && strings.ContainsAny(m.want[:strings.Index(m.want, ": ")], ".[") {
				continue
			}
			t.Run(strings.TrimPrefix(bc.path, "/api/v1/agent/")+": "+m.name, func(t *testing.T) {
				g := NewWithT(t)
				status, body, err := a.post(bc.path, mustJSON(t, m.body))
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(status).To(Equal(http.StatusBadRequest))
				e := decodeError(t, body)
				g.Expect(e.Error).To(Equal("invalid_body"))
				g.Expect(hasProblem(e.Problems, m.want)).To(BeTrue(), "want a problem starting %q, got %q", m.want, e.Problems)
				g.Expect(e.Description).To(ContainSubstring(m.want))
			})
		}
	}
	g := NewWithT(t)
	g.Expect(sim.Clusters()).To(BeEmpty(), "no rejected body may change state")
}
