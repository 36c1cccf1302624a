package main

import (
	"bytes"
	"testing"

	. "github.com/onsi/gomega"
)

func TestRun(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "version prints the stamped version", args: []string{"version"}, wantCode: 0, wantOut: "obsyk-hub dev\n"},
		{name: "no arguments print usage and fail", args: nil, wantCode: 2, wantErr: "Usage:"},
		{name: "a command that is not available yet says so", args: []string{"run"}, wantCode: 2, wantErr: `not yet available command "run"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var out, errOut bytes.Buffer
			g.Expect(run(tc.args, &out, &errOut)).To(Equal(tc.wantCode))
			if tc.wantOut != "" {
				g.Expect(out.String()).To(Equal(tc.wantOut))
			}
			if tc.wantErr != "" {
				g.Expect(errOut.String()).To(ContainSubstring(tc.wantErr))
			}
		})
	}
}
