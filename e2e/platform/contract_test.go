package platform

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// This file cross-checks schema.go against the contract markdown itself, so the simulator
// cannot drift from the document it enforces.

// contractPath finds obsyk-v1.md: $OBSYK_CONTRACT, else ../shared/contract/obsyk-v1.md
// relative to the repository root (the directory with go.mod).
func contractPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OBSYK_CONTRACT"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "contract", "obsyk-v1.md")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("cannot find the repository root (a directory with go.mod) above the test's directory; set OBSYK_CONTRACT to the contract's path")
		}
		dir = parent
	}
}

func readContract(t *testing.T) []byte {
	t.Helper()
	p := contractPath(t)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("the platform contract must be readable for this test (it never skips): %v; "+
			"put shared/ beside the repository or set OBSYK_CONTRACT", err)
	}
	return b
}

// docField is one key row of a contract table.
type docField struct{ key, typ, pres string }

// docRecord is a record as the contract describes it.
type docRecord struct {
	name     string
	section  string
	keyOrder []string // from a "key order" line, when there is one
	fields   []docField
}

// contractDoc is what the test reads out of the markdown.
type contractDoc struct {
	records map[string]*docRecord
	order   []string // record names in document order
	common  map[string]docField
	// matrix: record name -> namespace presence ("none", "always", "omitempty") and whether
	// labels/annotations exist. The key "*" is "all other records".
	matrixNS     map[string]string
	matrixLabels map[string]bool
	// kinds from §3.2: snapshot key -> (element record, kind string)
	snapshotKinds [][3]string
	// scopes from §5.1: kind -> "cluster" / "namespaced"
	scopes map[string]string
	// jsonBlocks are the ```json blocks of §8, by section number ("8.3"...).
	jsonBlocks map[string][]string
	httpBlocks map[string][]string
}

var (
	headingRe   = regexp.MustCompile(`^#{2,3} (\d+(?:\.\d+)?)\.? (.*)$`)
	keyOrderRe  = regexp.MustCompile("^Key order: `([^`]+)`")
	boldOrderRe = regexp.MustCompile("^\\*\\*(\\w+)\\*\\*: key order `([^`]+)`(.*)$")
	alwaysRe    = regexp.MustCompile("((?:`\\w+`(?:, | and )?)+) (?:are|is) always written")
	omitRe      = regexp.MustCompile("`(\\w+)` is omitempty")
	backtickRe  = regexp.MustCompile("`(\\w+)`")
)

func clean(cell string) string {
	s := strings.ReplaceAll(cell, "**", "")
	s = strings.ReplaceAll(s, "`", "")
	return strings.TrimSpace(s)
}

func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	cells := strings.Split(line, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// normPres maps a presence cell to the schema's presence names.
func normPres(cell string) string {
	s := clean(cell)
	switch {
	case s == "always in practice":
		return "always in practice"
	case strings.HasPrefix(s, "always"):
		return "always" // "always (`[]` when there are none)", "always (may be {})"
	case s == "omitempty (present in practice)":
		return s
	case strings.HasPrefix(s, "omitempty"):
		return "omitempty"
	case s == "see the matrix below":
		return "matrix"
	}
	return s // "unset-only", "true or absent"
}

func parseContract(t *testing.T, md []byte) *contractDoc {
	t.Helper()
	doc := &contractDoc{
		records: map[string]*docRecord{}, common: map[string]docField{},
		matrixNS: map[string]string{}, matrixLabels: map[string]bool{},
		scopes: map[string]string{}, jsonBlocks: map[string][]string{}, httpBlocks: map[string][]string{},
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	getRec := func(name, section string) *docRecord {
		r, ok := doc.records[name]
		if !ok {
			r = &docRecord{name: name, section: section}
			doc.records[name] = r
			doc.order = append(doc.order, name)
		}
		return r
	}
	var section string
	var current *docRecord // the record a key|type|pres table belongs to
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := headingRe.FindStringSubmatch(line); m != nil {
			section, current = m[1], nil
			title := m[2]
			if strings.HasPrefix(section, "3.") || (strings.HasPrefix(section, "4.") && section != "4.0") {
				name := strings.FieldsFunc(title, func(r rune) bool { return r == ' ' || r == ':' })[0]
				if section != "3.2" {
					current = getRec(name, section)
				}
			}
			continue
		}
		if strings.HasPrefix(line, "```") && strings.HasPrefix(section, "8.") {
			lang := strings.TrimPrefix(line, "```")
			var block []string
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				block = append(block, lines[i])
			}
			switch lang {
			case "json":
				doc.jsonBlocks[section] = append(doc.jsonBlocks[section], strings.Join(block, "\n"))
			case "http":
				doc.httpBlocks[section] = append(doc.httpBlocks[section], strings.Join(block, "\n"))
			}
			continue
		}
		if m := keyOrderRe.FindStringSubmatch(line); m != nil && current != nil {
			current.keyOrder = splitList(m[1])
			continue
		}
		if m := boldOrderRe.FindStringSubmatch(line); m != nil && strings.HasPrefix(section, "4.") {
			current = getRec(m[1], section)
			current.keyOrder = splitList(m[2])
			// A record described in prose rather than a table (VolumeInfo).
			rest := m[3]
			if am := alwaysRe.FindStringSubmatch(rest); am != nil {
				for _, k := range backtickRe.FindAllStringSubmatch(am[1], -1) {
					current.fields = append(current.fields, docField{k[1], "string", "always"})
				}
			}
			for _, om := range omitRe.FindAllStringSubmatch(rest, -1) {
				current.fields = append(current.fields, docField{om[1], "string", "omitempty"})
			}
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(line), "|") || i+1 >= len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|---") {
			continue
		}
		// A table: header, separator, rows.
		header := splitRow(line)
		for j := range header {
			header[j] = strings.ToLower(clean(header[j]))
		}
		var rows [][]string
		for i += 2; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
			rows = append(rows, splitRow(lines[i]))
		}
		i--
		col := func(name string) int {
			for j, h := range header {
				if h == name {
					return j
				}
			}
			return -1
		}
		switch {
		case section == "4.0" && col("key") == 0 && col("pres.") >= 0:
			for _, r := range rows {
				f := docField{clean(r[0]), clean(r[col("type")]), normPres(r[col("pres.")])}
				doc.common[f.key] = f
			}
		case section == "4.0" && col("record") == 0:
			for _, r := range rows {
				ns := clean(r[1])
				switch {
				case strings.HasPrefix(ns, "omitempty"):
					ns = "omitempty"
				case ns == "always", ns == "none":
				default:
					t.Fatalf("§4.0 matrix: unexpected namespace cell %q", r[1])
				}
				labels := clean(r[2]) == "yes"
				names := splitList(clean(r[0]))
				if clean(r[0]) == "all other records" {
					names = []string{"*"}
				}
				for _, n := range names {
					doc.matrixNS[n], doc.matrixLabels[n] = ns, labels
				}
			}
		case section == "3.2" && col("key") >= 0 && col("element type") >= 0:
			for _, r := range rows {
				doc.snapshotKinds = append(doc.snapshotKinds, [3]string{clean(r[col("key")]), clean(r[col("element type")]), clean(r[len(r)-1])})
			}
		case section == "5.1" && col("kind") == 0 && col("scope") >= 0:
			for _, r := range rows {
				doc.scopes[clean(r[0])] = clean(r[col("scope")])
			}
		case col("record") == 0 && col("key") == 1 && col("pres.") >= 0 && strings.HasPrefix(section, "4."):
			for _, r := range rows {
				rec := getRec(clean(r[0]), section)
				rec.fields = append(rec.fields, docField{clean(r[1]), clean(r[col("type")]), normPres(r[col("pres.")])})
			}
		case col("key") == 0 && col("pres.") >= 0 && current != nil:
			for _, r := range rows {
				current.fields = append(current.fields, docField{clean(r[0]), clean(r[col("type")]), normPres(r[col("pres.")])})
			}
		}
	}
	return doc
}

// expectedFields resolves a record's complete key list as the contract defines it: for a
// §4.1–4.18 resource record, the key order line plus the common metadata (§4.0) and the
// matrix; otherwise the table rows.
func (doc *contractDoc) expectedFields(t *testing.T, r *docRecord) []docField {
	t.Helper()
	own := map[string]docField{}
	for _, f := range r.fields {
		if _, dup := own[f.key]; dup {
			t.Errorf("%s (§%s): key %s listed twice", r.name, r.section, f.key)
		}
		own[f.key] = f
	}
	if r.name == recSnapshot {
		for _, sk := range doc.snapshotKinds {
			r.fields = append(r.fields, docField{sk[0], "[" + sk[1] + "]", "always"})
		}
		return r.fields
	}
	if len(r.keyOrder) == 0 {
		return r.fields
	}
	isResource := strings.HasPrefix(r.section, "4.") && r.keyOrder[0] == "uid" && r.keyOrder[len(r.keyOrder)-1] == "k8s_created_at"
	matrixKey := "*"
	if _, ok := doc.matrixNS[r.name]; ok {
		matrixKey = r.name
	}
	var out []docField
	for _, k := range r.keyOrder {
		if f, ok := own[k]; ok {
			out = append(out, f)
			delete(own, k)
			continue
		}
		c, ok := doc.common[k]
		if !isResource || !ok {
			t.Errorf("%s (§%s): key %s is in the key order but in no table", r.name, r.section, k)
			continue
		}
		if k == "namespace" {
			c.pres = doc.matrixNS[matrixKey]
		}
		out = append(out, c)
	}
	for k := range own {
		t.Errorf("%s (§%s): key %s is in a table but not in the key order", r.name, r.section, k)
	}
	if isResource {
		ns := doc.matrixNS[matrixKey]
		hasNS := false
		hasLabels := false
		for _, k := range r.keyOrder {
			hasNS = hasNS || k == "namespace"
			hasLabels = hasLabels || k == "labels"
		}
		if hasNS != (ns != "none") || hasLabels != doc.matrixLabels[matrixKey] {
			t.Errorf("%s: the key order and the §4.0 matrix disagree (namespace %s, labels %t)", r.name, ns, doc.matrixLabels[matrixKey])
		}
	}
	return out
}

func TestSchemaMatchesContractDocument(t *testing.T) {
	g := NewWithT(t)
	doc := parseContract(t, readContract(t))

	// The parser must have found the whole document, or the comparison proves nothing.
	g.Expect(doc.records).To(HaveLen(len(records)), "records found in the contract: %v", doc.order)
	g.Expect(doc.common).To(HaveKey("k8s_created_at"))
	g.Expect(doc.matrixNS).To(HaveKey("*"))
	g.Expect(doc.snapshotKinds).To(HaveLen(20))
	g.Expect(doc.scopes).To(HaveLen(20))

	for _, name := range doc.order {
		r := doc.records[name]
		t.Run(fmt.Sprintf("%s (§%s) has the contract's keys, types and presence", name, r.section), func(t *testing.T) {
			g := NewWithT(t)
			rec, ok := records[name]
			g.Expect(ok).To(BeTrue(), "the schema has no record %s", name)
			if !ok {
				return
			}
			want := doc.expectedFields(t, r)
			var wantRows, gotRows []string
			for _, f := range want {
				wantRows = append(wantRows, fmt.Sprintf("%s %s %s", f.key, f.typ, f.pres))
			}
			for _, f := range rec.fields {
				gotRows = append(gotRows, fmt.Sprintf("%s %s %s", f.key, f.typ, f.pres))
			}
			g.Expect(gotRows).To(Equal(wantRows))
		})
	}

	t.Run("the kind table matches §3.2 and §5.1", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(Kinds).To(HaveLen(len(kindTable)))
		for i, sk := range doc.snapshotKinds {
			ki := kindTable[i]
			g.Expect([3]string{ki.snapshotKey, ki.record, ki.kind}).To(Equal(sk))
			g.Expect(Kinds[i]).To(Equal(ki.kind))
			wantScope := "namespaced"
			if ki.clusterScope {
				wantScope = "cluster"
			}
			g.Expect(doc.scopes).To(HaveKeyWithValue(ki.kind, wantScope))
		}
	})

	t.Run("the embedded §8 examples are the document's", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(doc.jsonBlocks["8.3"]).To(HaveLen(1))
		g.Expect(doc.jsonBlocks["8.4"]).To(HaveLen(1))
		g.Expect(doc.jsonBlocks["8.5"]).To(HaveLen(1))
		g.Expect(doc.jsonBlocks["8.6"]).To(HaveLen(2))
		g.Expect(doc.httpBlocks["8.2"]).To(HaveLen(1))
		pairs := [][2]string{
			{doc.jsonBlocks["8.3"][0], exampleSnapshot},
			{doc.jsonBlocks["8.4"][0], exampleServiceAdded},
			{doc.jsonBlocks["8.5"][0], exampleDeploymentModified},
			{doc.jsonBlocks["8.6"][0], examplePodDeleted},
			{doc.jsonBlocks["8.6"][1], exampleNodeDeleted},
		}
		hb := doc.httpBlocks["8.2"][0]
		pairs = append(pairs, [2]string{hb[strings.LastIndex(hb, "\n")+1:], exampleHeartbeat})
		for _, p := range pairs {
			g.Expect(p[1]).To(MatchJSON(p[0]))
		}
		g.Expect(doc.jsonBlocks["8.1"]).To(ContainElement(MatchJSON(assertionHeader)))
	})
}

// TestContractParserSeesEveryTableRow guards the parser: every key row in sections 3 and 4
// of the document must have landed in some record.
func TestContractParserSeesEveryTableRow(t *testing.T) {
	g := NewWithT(t)
	md := readContract(t)
	doc := parseContract(t, md)
	n := 0
	for _, r := range doc.records {
		n += len(r.fields)
	}
	n += len(doc.common)
	// Count rows of key|type|pres tables in §3 and §4 independently.
	rows := 0
	inKeyTable := false
	section := ""
	for _, line := range strings.Split(string(md), "\n") {
		if m := headingRe.FindStringSubmatch(line); m != nil {
			section = m[1]
		}
		if !(strings.HasPrefix(section, "3.") || strings.HasPrefix(section, "4.")) {
			continue
		}
		switch {
		case strings.HasPrefix(line, "| key |") || strings.HasPrefix(line, "| record | key |"):
			inKeyTable = true
		case inKeyTable && strings.HasPrefix(line, "|---"):
		case inKeyTable && strings.HasPrefix(line, "|"):
			rows++
		default:
			inKeyTable = false
		}
	}
	vol := len(records[recVolume].fields) // described in prose, not a table
	g.Expect(n).To(Equal(rows+vol), "rows parsed into records vs key-table rows in the document")
}
