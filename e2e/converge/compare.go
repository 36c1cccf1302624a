package converge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// setKeys are the record keys whose order the contract calls random (§7 gap 27): they are
// compared as sets.
var setKeys = map[string][]string{
	"Node":        {"roles"},
	"ConfigMap":   {"data_keys", "binary_keys"},
	"Secret":      {"data_keys"},
	"Role":        {"resources"},
	"ClusterRole": {"resources"},
}

// timeKeys are the top-level record keys holding RFC 3339 timestamps; they are compared as
// instants, so a zone other than Z still matches.
var timeKeys = []string{"k8s_created_at", "first_timestamp", "last_timestamp", "start_time", "completion_time", "last_schedule_time"}

// unsetOnlyKeys are the keys whose absence means "unset" and whose false means false
// (contract §0, "unset-only"), so for them an absent key does not equal false.
var unsetOnlyKeys = []string{"automount_service_account_token", "privileged"}

// quantityKeys are the keys holding Kubernetes quantities (contract type "qty"). They are
// compared by value: the API server keeps a spelling such as "05Gi" as written, so
// Quantity.String() returns it, while the contract asks for the canonical form ("5Gi").
var quantityKeys = []string{"cpu_request", "cpu_limit", "memory_request", "memory_limit",
	"cpu_capacity", "memory_capacity", "pod_capacity", "storage_request"}

// maxRendered bounds a rendered value in a Diff.
const maxRendered = 200

// compareRecords reports every top-level key, and every nested leaf below it, whose values
// differ between the member's expected record and the platform's record.
func compareRecords(ref Ref, member, plat map[string]any, ignored func(kind, key string) bool) []Diff {
	var diffs []Diff
	add := func(path string, m, p any) {
		diffs = append(diffs, Diff{Ref: ref, Field: path, Member: render(m), Platform: render(p)})
	}
	for _, key := range unionKeys(member, plat) {
		if ignored(ref.Kind, key) {
			continue
		}
		m, p := member[key], plat[key]
		switch {
		case slices.Contains(setKeys[ref.Kind], key):
			ms, mok := stringSet(m)
			ps, pok := stringSet(p)
			if !mok || !pok || !slices.Equal(ms, ps) {
				add(key, m, p)
			}
		case slices.Contains(timeKeys, key):
			if !sameTime(m, p) {
				add(key, m, p)
			}
		default:
			compareValues(key, m, p, add)
		}
	}
	return diffs
}

// compareValues walks two decoded JSON values and calls add for each differing leaf. Maps
// are compared key by key; arrays of equal length element by element; anything else whole.
// An absent value equals an empty one, except for the unset-only keys.
func compareValues(path string, m, p any, add func(path string, m, p any)) {
	if isEmpty(m) && isEmpty(p) && (m == nil) == (p == nil) {
		return
	}
	if isEmpty(m) && isEmpty(p) && !slices.Contains(unsetOnlyKeys, path[strings.LastIndex(path, ".")+1:]) {
		return
	}
	mm, mIsMap := m.(map[string]any)
	pm, pIsMap := p.(map[string]any)
	if mIsMap && pIsMap {
		for _, k := range unionKeys(mm, pm) {
			compareValues(path+"."+k, mm[k], pm[k], add)
		}
		return
	}
	ma, mIsArr := m.([]any)
	pa, pIsArr := p.([]any)
	if mIsArr && pIsArr && len(ma) == len(pa) {
		for i := range ma {
			compareValues(fmt.Sprintf("%s[%d]", path, i), ma[i], pa[i], add)
		}
		return
	}
	if !reflect.DeepEqual(m, p) && !sameQuantity(path, m, p) {
		add(path, m, p)
	}
}

// sameQuantity reports whether path names a quantity key and m and p are two spellings of
// the same quantity.
func sameQuantity(path string, m, p any) bool {
	if !slices.Contains(quantityKeys, path[strings.LastIndex(path, ".")+1:]) {
		return false
	}
	ms, mok := m.(string)
	ps, pok := p.(string)
	if !mok || !pok {
		return false
	}
	mq, err1 := resource.ParseQuantity(ms)
	pq, err2 := resource.ParseQuantity(ps)
	return err1 == nil && err2 == nil && mq.Cmp(pq) == 0
}

func unionKeys(a, b map[string]any) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// isEmpty reports whether v is absent or the zero value that omitempty would leave out.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// stringSet returns the sorted, de-duplicated strings of a decoded JSON array (nil for an
// absent value); ok is false when v is not an array of strings.
func stringSet(v any) (set []string, ok bool) {
	if v == nil {
		return nil, true
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		set = append(set, s)
	}
	slices.Sort(set)
	return slices.Compact(set), true
}

func sameTime(m, p any) bool {
	ms, mok := m.(string)
	ps, pok := p.(string)
	if !mok || !pok {
		return isEmpty(m) && isEmpty(p)
	}
	mt, err1 := time.Parse(time.RFC3339, ms)
	pt, err2 := time.Parse(time.RFC3339, ps)
	if err1 != nil || err2 != nil {
		return ms == ps
	}
	return mt.Equal(pt)
}

// render formats a value for a Diff: compact JSON, "<absent>" for nil, cut at maxRendered.
func render(v any) string {
	if v == nil {
		return "<absent>"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > maxRendered {
		return string(b[:maxRendered]) + "..."
	}
	return string(b)
}
