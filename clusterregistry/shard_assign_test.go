package clusterregistry

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
)

func clusterNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("member-%d", i)
	}
	return out
}

func counts(a map[string]string) map[string]int {
	c := map[string]int{}
	for _, p := range a {
		c[p]++
	}
	return c
}

func TestAssignBalancesAndMovesOnlyWhatMust(t *testing.T) {
	cases := []struct {
		name      string
		clusters  int
		peers     []string
		current   func(clusters []string) map[string]string
		wantMoved int // clusters whose owner changed, among those that had one
	}{
		{name: "nine clusters over three fresh replicas get three each", clusters: 9,
			peers: []string{"a", "b", "c"}, current: func([]string) map[string]string { return nil }},
		{name: "a fourth replica takes two clusters and nothing else moves", clusters: 9,
			peers: []string{"a", "b", "c", "d"}, wantMoved: 2,
			current: func(cl []string) map[string]string {
				m := map[string]string{}
				for i, c := range cl {
					m[c] = []string{"a", "b", "c"}[i%3]
				}
				return m
			}},
		{name: "a dead replica's clusters go to the survivors and theirs stay", clusters: 9,
			peers: []string{"a", "b"}, wantMoved: 0,
			current: func(cl []string) map[string]string {
				m := map[string]string{}
				for i, c := range cl {
					m[c] = []string{"a", "b", "dead"}[i%3]
				}
				return m
			}},
		{name: "an unbalanced start is evened out", clusters: 10,
			peers: []string{"a", "b", "c"}, wantMoved: 6,
			current: func(cl []string) map[string]string {
				m := map[string]string{}
				for _, c := range cl {
					m[c] = "a"
				}
				return m
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cl := clusterNames(tc.clusters)
			cur := tc.current(cl)
			got := assign(cl, tc.peers, cur)
			g.Expect(got).To(HaveLen(tc.clusters), "every cluster has exactly one owner")
			base := tc.clusters / len(tc.peers)
			for _, p := range tc.peers {
				g.Expect(counts(got)[p]).To(BeNumerically(">=", base))
				g.Expect(counts(got)[p]).To(BeNumerically("<=", base+1))
			}
			moved := 0
			for c, o := range cur {
				if o != "dead" && got[c] != o {
					moved++
				}
			}
			g.Expect(moved).To(Equal(tc.wantMoved))
			g.Expect(assign(cl, tc.peers, cur)).To(Equal(got), "deterministic")
		})
	}
}

func TestDNSNameNeverCollides(t *testing.T) {
	g := NewWithT(t)
	g.Expect(dnsName("member-0")).To(Equal("member-0"))
	g.Expect(dnsName("~hub")).NotTo(Equal(dnsName("-hub")))
	g.Expect(dnsName("Host_abc")).To(MatchRegexp(`^[a-z0-9.-]+$`))
}
