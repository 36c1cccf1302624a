package platform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxProblems bounds how many problems one rejection reports.
const maxProblems = 50

// maxDepth bounds JSON nesting; the deepest contract body is 6 levels.
const maxDepth = 32

// ValidationError is a body the contract does not allow. Each problem starts with the path of
// the offending key, e.g. `pods[3].containers[0].resources.cpu_request: want string (qty), got number`.
type ValidationError struct {
	Problems []string
	// Truncated counts further problems that were not listed.
	Truncated int
}

func (e *ValidationError) Error() string {
	msg := strings.Join(e.Problems, "; ")
	if e.Truncated > 0 {
		msg += fmt.Sprintf("; and %d more", e.Truncated)
	}
	return msg
}

// ValidateSnapshot checks a SnapshotPayload body (§3.1, §3.2) against the contract.
func ValidateSnapshot(body []byte) error {
	_, err := parseSnapshot(body)
	return err
}

// ValidateEvent checks an EventPayload body (§3.3) against the contract.
func ValidateEvent(body []byte) error {
	_, err := parseEvent(body)
	return err
}

// ValidateHeartbeat checks a HeartbeatPayload body (§3.4) against the contract.
func ValidateHeartbeat(body []byte) error {
	_, err := parseHeartbeat(body)
	return err
}

// ValidateRecord checks one resource record (§4) of the given kind string, e.g. a record the
// hub's converter produced, without a request.
func ValidateRecord(kind string, recordJSON []byte) error {
	ki, ok := kindByName[kind]
	if !ok {
		return &ValidationError{Problems: []string{fmt.Sprintf("kind: unknown kind %q", kind)}}
	}
	v, err := decodeStrict(recordJSON)
	if err != nil {
		return err
	}
	var c checker
	c.record("", v, records[ki.record], kind)
	return c.err()
}

// snapshotBody is a validated snapshot, ready to apply.
type snapshotBody struct {
	clusterUID, clusterName, agentVersion string
	objects                               map[string]map[string]Object // kind -> uid -> object
}

// eventBody is a validated event, ready to apply.
type eventBody struct {
	clusterUID, typ, kind, uid, name, namespace string
	object                                      map[string]any // nil for deleted
}

// heartbeatBody is a validated heartbeat.
type heartbeatBody struct {
	clusterUID, agentVersion string
}

func parseSnapshot(body []byte) (*snapshotBody, error) {
	v, err := decodeStrict(body)
	if err != nil {
		return nil, err
	}
	var c checker
	obj := c.record("", v, records[recSnapshot], "")
	if obj != nil {
		for _, ki := range kindTable {
			c.duplicateUIDs(ki.snapshotKey, obj[ki.snapshotKey])
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	sb := &snapshotBody{
		clusterUID:   obj["cluster_uid"].(string),
		clusterName:  obj["cluster_name"].(string),
		agentVersion: stringOr(obj["agent_version"]),
		objects:      make(map[string]map[string]Object, len(kindTable)),
	}
	for _, ki := range kindTable {
		byUID := map[string]Object{}
		for _, e := range obj[ki.snapshotKey].([]any) {
			rec := plain(e).(map[string]any)
			o := Object{Kind: ki.kind, UID: rec["uid"].(string), Name: rec["name"].(string),
				Namespace: stringOr(rec[namespaceKey]), Record: rec}
			byUID[o.UID] = o
		}
		sb.objects[ki.kind] = byUID
	}
	return sb, nil
}

func parseEvent(body []byte) (*eventBody, error) {
	v, err := decodeStrict(body)
	if err != nil {
		return nil, err
	}
	var c checker
	env := c.record("", v, records[recEvent], "")
	if env == nil {
		return nil, c.err()
	}
	typ, _ := env[eventTypeKey].(string)
	kind, _ := env[eventKindKey].(string)
	ki, kindOK := kindByName[kind]
	uid, _ := env["uid"].(string)
	name, _ := env["name"].(string)
	ns, nsPresent := env[namespaceKey]
	nsStr, _ := ns.(string)
	if kindOK {
		switch {
		case ki.clusterScope && nsPresent:
			c.addf(namespaceKey, "must be absent for the cluster-scoped kind %s", kind)
		case !ki.clusterScope && !nsPresent:
			c.addf(namespaceKey, "required key missing for the namespaced kind %s", kind)
		}
	}
	objVal, objPresent := env[eventObjectKey]
	var objRec map[string]any
	switch typ {
	case EventDeleted:
		if objPresent {
			c.addf(eventObjectKey, "must be absent for a deleted event (not null, not {}), got %s", jsonType(objVal))
		}
	case EventAdded, EventModified:
		if !objPresent {
			c.addf(eventObjectKey, "required key missing for a %s event", typ)
		} else if kindOK {
			objRec = c.record(eventObjectKey, objVal, records[ki.record], kind)
		}
	}
	if objRec != nil {
		for _, k := range []string{"uid", "name"} {
			if got, ok := objRec[k].(string); ok && got != env[k] {
				c.addf(eventObjectKey+"."+k, "%q does not match the envelope's %s %q", got, k, env[k])
			}
		}
		ons, onsPresent := objRec[namespaceKey]
		switch {
		case onsPresent != nsPresent:
			c.addf(eventObjectKey+"."+namespaceKey, "present in one of object and envelope but not the other (object: %s, envelope: %s)",
				presentWord(onsPresent), presentWord(nsPresent))
		case onsPresent && ons != ns:
			c.addf(eventObjectKey+"."+namespaceKey, "%v does not match the envelope's namespace %q", ons, nsStr)
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	eb := &eventBody{clusterUID: env["cluster_uid"].(string), typ: typ, kind: kind, uid: uid, name: name, namespace: nsStr}
	if objRec != nil {
		eb.object = plain(objRec).(map[string]any)
	}
	return eb, nil
}

func parseHeartbeat(body []byte) (*heartbeatBody, error) {
	v, err := decodeStrict(body)
	if err != nil {
		return nil, err
	}
	var c checker
	obj := c.record("", v, records[recHeartbeat], "")
	if err := c.err(); err != nil {
		return nil, err
	}
	return &heartbeatBody{clusterUID: obj["cluster_uid"].(string), agentVersion: stringOr(obj["agent_version"])}, nil
}

// checker walks a decoded value along the schema and collects problems.
type checker struct {
	problems  []string
	truncated int
}

func (c *checker) addf(path, format string, args ...any) {
	if len(c.problems) >= maxProblems {
		c.truncated++
		return
	}
	if path == "" {
		path = "body"
	}
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: c.problems, Truncated: c.truncated}
}

// record checks val against rec. kind is the contract kind string the record belongs to (for
// kind-dependent rules); for the snapshot body it is chosen per array. It returns the object
// when val is an object (even one with problems), else nil.
func (c *checker) record(path string, val any, rec *record, kind string) map[string]any {
	obj, ok := val.(map[string]any)
	if !ok {
		c.addf(path, "want object (%s), got %s", rec.name, jsonType(val))
		return nil
	}
	for _, fl := range rec.fields {
		fv, present := obj[fl.key]
		p := joinPath(path, fl.key)
		if !present {
			if fl.pres.required() {
				c.addf(p, "required key missing (%s.%s is %s)", rec.name, fl.key, fl.pres)
			}
			continue
		}
		if fl.typ.kind == typeObject {
			continue // the event envelope checks `object` against the record of its kind
		}
		ctx := kind
		if rec.name == recSnapshot {
			if ki, ok := snapshotKeyKind[fl.key]; ok {
				ctx = ki.kind
			}
		}
		c.field(p, fv, fl, ctx)
	}
	var unknown []string
	for k := range obj {
		if _, ok := rec.field(k); !ok {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		c.addf(joinPath(path, k), "unknown key (not in %s)", rec.name)
	}
	c.recordRules(path, obj, rec, kind)
	return obj
}

// field checks one present key: its type, then its presence rule, non-emptiness and enum.
func (c *checker) field(path string, val any, fl field, kind string) {
	if !c.value(path, val, fl.typ, kind) {
		return
	}
	switch fl.pres {
	case presOmitEmpty:
		if fl.typ.kind != typeRecord && isEmpty(val) {
			c.addf(path, "omitempty key present with an empty value %s (Go's encoder leaves it out)", compact(val))
		}
	case presTrueOrAbsent:
		if b, _ := val.(bool); !b {
			c.addf(path, "want true or absent, got false")
		}
	}
	s, isString := val.(string)
	if isString && fl.nonEmpty && s == "" {
		c.addf(path, "must not be empty")
	}
	if isString && fl.enum != nil && !slices.Contains(fl.enum, s) {
		c.addf(path, "invalid value %q, want one of %s", s, strings.Join(fl.enum, ", "))
	}
}

// value checks val's JSON type and format against t; it reports whether the type was right.
func (c *checker) value(path string, val any, t fieldType, kind string) bool {
	switch t.kind {
	case typeString:
		if _, ok := val.(string); !ok {
			return c.wrongType(path, t, val)
		}
	case typeInt32, typeInt:
		n, ok := val.(json.Number)
		if !ok {
			return c.wrongType(path, t, val)
		}
		bits := 64
		if t.kind == typeInt32 {
			bits = 32
		}
		if _, err := strconv.ParseInt(string(n), 10, bits); err != nil {
			if strings.ContainsAny(string(n), ".eE") {
				c.addf(path, "want an integer (%s), got %s", t, n)
			} else {
				c.addf(path, "integer %s out of %s range", n, t)
			}
			return false
		}
	case typeBool:
		if _, ok := val.(bool); !ok {
			return c.wrongType(path, t, val)
		}
	case typeMap:
		m, ok := val.(map[string]any)
		if !ok {
			return c.wrongType(path, t, val)
		}
		good := true
		for _, k := range sortedKeys(m) {
			if _, ok := m[k].(string); !ok {
				c.addf(path+"["+strconv.Quote(k)+"]", "want string, got %s", jsonType(m[k]))
				good = false
			}
		}
		return good
	case typeTime:
		s, ok := val.(string)
		if !ok {
			return c.wrongType(path, t, val)
		}
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			c.addf(path, "want an RFC 3339 time, got %q", s)
			return false
		}
		if ts.UTC().Format(time.RFC3339) != s {
			c.addf(path, "want an RFC 3339 time in UTC with whole seconds (like 2025-11-20T14:03:11Z), got %q", s)
			return false
		}
	case typeQty:
		s, ok := val.(string)
		if !ok {
			return c.wrongType(path, t, val)
		}
		if !canonicalQuantity.MatchString(s) {
			c.addf(path, "want a Kubernetes quantity in canonical form (like 100m, 128Mi, 4), got %q", s)
			return false
		}
	case typeRecord:
		return c.record(path, val, records[t.record], kind) != nil
	case typeArray:
		arr, ok := val.([]any)
		if !ok {
			return c.wrongType(path, t, val)
		}
		good := true
		for i, e := range arr {
			if !c.value(path+"["+strconv.Itoa(i)+"]", e, *t.elem, kind) {
				good = false
			}
		}
		return good
	case typeObject:
		// handled by the envelope
	}
	return true
}

func (c *checker) wrongType(path string, t fieldType, val any) bool {
	c.addf(path, "want %s, got %s", wantJSON(t), jsonType(val))
	return false
}

// recordRules are the kind-dependent and code-fixed rules that a table row cannot express.
func (c *checker) recordRules(path string, obj map[string]any, rec *record, kind string) {
	if _, ok := rec.field(annotationsKey); ok {
		if m, ok := obj[annotationsKey].(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				for _, p := range filteredAnnotationPrefixes {
					if strings.HasPrefix(k, p) {
						c.addf(joinPath(path, annotationsKey)+"["+strconv.Quote(k)+"]",
							"annotations starting with %q are filtered and never sent (§5.4)", p)
					}
				}
			}
		}
	}
	switch rec.name {
	case recRole, recRoleBinding:
		ki, ok := kindByName[kind]
		if !ok {
			return
		}
		_, nsPresent := obj[namespaceKey]
		if ki.clusterScope && nsPresent {
			c.addf(joinPath(path, namespaceKey), "must be absent for a %s", kind)
		}
		if !ki.clusterScope && !nsPresent {
			c.addf(joinPath(path, namespaceKey), "required key missing for a %s", kind)
		}
		if b, ok := obj[isClusterKey].(bool); ok && b != ki.clusterScope {
			c.addf(joinPath(path, isClusterKey), "want %t for a %s, got %t", ki.clusterScope, kind, b)
		}
	case recVolume:
		typ, _ := obj["type"].(string)
		if mayHaveSource, known := volumeTypes[typ]; known && !mayHaveSource {
			if _, ok := obj[volumeSourceKey]; ok {
				c.addf(joinPath(path, volumeSourceKey), "must be absent for a volume of type %q", typ)
			}
		}
	}
}

// duplicateUIDs reports two records with the same uid in one snapshot array.
func (c *checker) duplicateUIDs(key string, val any) {
	arr, ok := val.([]any)
	if !ok {
		return
	}
	seen := map[string]int{}
	for i, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		uid, ok := m["uid"].(string)
		if !ok || uid == "" {
			continue
		}
		if j, dup := seen[uid]; dup {
			c.addf(fmt.Sprintf("%s[%d].uid", key, i), "duplicate uid %q (also at %s[%d])", uid, key, j)
			continue
		}
		seen[uid] = i
	}
}

// snapshotKeyKind maps a snapshot array key to its kind.
var snapshotKeyKind = func() map[string]kindInfo {
	m := make(map[string]kindInfo, len(kindTable))
	for _, k := range kindTable {
		m[k.snapshotKey] = k
	}
	return m
}()

// canonicalQuantity matches Quantity.String() output: an integer mantissa without leading
// zeros and at most one suffix (decimal SI, binary SI or a decimal exponent).
var canonicalQuantity = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e-?[0-9]+)?$`)

// decodeStrict decodes exactly one JSON value: the body must be valid UTF-8, numbers stay
// json.Number, a key repeated in one object is an error, and nothing may follow the value.
func decodeStrict(body []byte) (any, error) {
	if !utf8.Valid(body) {
		return nil, &ValidationError{Problems: []string{"body: not valid UTF-8"}}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := readValue(dec, "", 0)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			return nil, &ValidationError{Problems: []string{"body: empty or truncated JSON"}}
		}
		return nil, &ValidationError{Problems: []string{"body: invalid JSON: " + err.Error()}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ValidationError{Problems: []string{"body: data after the JSON value"}}
	}
	return v, nil
}

func readValue(dec *json.Decoder, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, &ValidationError{Problems: []string{orBody(path) + ": nested too deeply"}}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch d {
	case '{':
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, ok := kt.(string)
			if !ok {
				return nil, fmt.Errorf("object key is not a string at %s", orBody(path))
			}
			kp := joinPath(path, key)
			if _, dup := m[key]; dup {
				return nil, &ValidationError{Problems: []string{kp + ": duplicate key"}}
			}
			v, err := readValue(dec, kp, depth+1)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, err
		}
		return m, nil
	case '[':
		arr := []any{}
		for i := 0; dec.More(); i++ {
			v, err := readValue(dec, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, err
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unexpected %v at %s", d, orBody(path))
}

// plain converts a decoded value to what encoding/json.Unmarshal into `any` gives (numbers
// as float64), which is the form Object.Record promises. It always copies.
func plain(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = plain(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = plain(e)
		}
		return a
	case json.Number:
		f, _ := t.Float64()
		return f
	}
	return v
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// wantJSON names the JSON form a contract type needs, with the contract's notation.
func wantJSON(t fieldType) string {
	switch t.kind {
	case typeString:
		return "string"
	case typeInt32, typeInt:
		return "number (" + t.String() + ")"
	case typeBool:
		return "boolean"
	case typeMap:
		return "object (map of strings)"
	case typeTime, typeQty:
		return "string (" + t.String() + ")"
	case typeRecord, typeObject:
		return "object (" + t.String() + ")"
	case typeArray:
		return "array (" + t.String() + ")"
	}
	return t.String()
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case string:
		return t == ""
	case json.Number:
		f, err := t.Float64()
		return err == nil && f == 0
	case bool:
		return !t
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return v == nil
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func presentWord(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

func stringOr(v any) string {
	s, _ := v.(string)
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
