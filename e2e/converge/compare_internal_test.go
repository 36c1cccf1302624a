package converge

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestQuantitiesAreComparedByValue(t *testing.T) {
	ref := Ref{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data", UID: "u1"}
	cases := []struct {
		name      string
		member    map[string]any
		platform  map[string]any
		wantDiffs int
	}{
		{"a kept spelling equals its canonical form", map[string]any{"storage_request": "05Gi"}, map[string]any{"storage_request": "5Gi"}, 0},
		{"an exponent spelling equals its canonical form", map[string]any{"cpu_capacity": "1e3"}, map[string]any{"cpu_capacity": "1k"}, 0},
		{"a different quantity is a difference", map[string]any{"storage_request": "1Gi"}, map[string]any{"storage_request": "2Gi"}, 1},
		{"a quantity against a non-quantity is a difference", map[string]any{"storage_request": "1Gi"}, map[string]any{"storage_request": "lots"}, 1},
		{"other string keys are still compared by spelling", map[string]any{"volume_name": "05Gi"}, map[string]any{"volume_name": "5Gi"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(compareRecords(ref, tc.member, tc.platform, func(string, string) bool { return false })).To(HaveLen(tc.wantDiffs))
		})
	}
}
