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
		env      map[string]string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "version prints the stamped version", args: []string{"version"}, wantCode: 0, wantOut: "obsyk-hub dev\n"},
		{name: "no arguments print usage and fail", args: nil, wantCode: 2, wantErr: "Usage:"},
		{name: "help lists every command", args: []string{"help"}, wantCode: 0, wantOut: "keygen"},
		{name: "an unknown command is a usage error", args: []string{"frobnicate"}, wantCode: 2, wantErr: `unknown command "frobnicate"`},
		{name: "run with a missing hub kubeconfig fails clearly", args: []string{"run", "--hub-kubeconfig=/nonexistent/hub"}, wantCode: 1,
			wantErr: "obsyk-hub run: hub cluster configuration"},
		{name: "run help lists the configuration flags", args: []string{"run", "--help"}, wantCode: 0, wantOut: "--cluster-secret-namespace"},
		{name: "run refuses an invalid configuration before connecting", args: []string{"run", "--log-format=xml"}, wantCode: 2,
			wantErr: `--log-format: unknown format "xml"`},
		{name: "run refuses an invalid environment value naming the variable", args: []string{"run"},
			env: map[string]string{"OBSYK_HUB_MEMBER_QPS": "fast"}, wantCode: 2, wantErr: "OBSYK_HUB_MEMBER_QPS"},
		{name: "run refuses an unknown flag", args: []string{"run", "--no-such-flag"}, wantCode: 2, wantErr: "unknown flag: --no-such-flag"},
		{name: "cluster without a subcommand is a usage error", args: []string{"cluster"}, wantCode: 2, wantErr: "a subcommand is required"},
		{name: "cluster with an unknown subcommand is a usage error", args: []string{"cluster", "list"}, wantCode: 2, wantErr: `unknown subcommand "list"`},
		{name: "cluster add without a name is a usage error", args: []string{"cluster", "add", "--kubeconfig=x"}, wantCode: 2,
			wantErr: "obsyk-hub cluster add: --name is required (see 'obsyk-hub cluster add --help')\n"},
		{name: "cluster add without a kubeconfig is a usage error", args: []string{"cluster", "add", "--name=a"}, wantCode: 2,
			wantErr: "--kubeconfig is required"},
		{name: "cluster add with a too short token lifetime is a usage error", args: []string{"cluster", "add", "--name=a", "--kubeconfig=x", "--token-ttl=1m"},
			wantCode: 2, wantErr: "--token-ttl 1m0s is shorter than 10m0s"},
		{name: "cluster add with a bad duration is a usage error", args: []string{"cluster", "add", "--token-ttl=forever"}, wantCode: 2,
			wantErr: `invalid argument "forever" for "--token-ttl"`},
		{name: "cluster add refuses positional arguments", args: []string{"cluster", "add", "--name=a", "extra"}, wantCode: 2,
			wantErr: `unexpected argument "extra"`},
		{name: "cluster add help lists its flags", args: []string{"cluster", "add", "--help"}, wantCode: 0, wantOut: "--collect-secrets"},
		{name: "cluster add with a missing kubeconfig file fails clearly", args: []string{"cluster", "add", "--name=a", "--kubeconfig=/nonexistent/kubeconfig"},
			wantCode: 1, wantErr: "obsyk-hub cluster add: load member kubeconfig /nonexistent/kubeconfig"},
		{name: "cluster remove without a name is a usage error", args: []string{"cluster", "remove"}, wantCode: 2, wantErr: "--name is required"},
		{name: "cluster remove with a context but no kubeconfig is a usage error", args: []string{"cluster", "remove", "--name=a", "--context=c"},
			wantCode: 2, wantErr: "--context needs --kubeconfig"},
		{name: "cluster remove with a missing hub kubeconfig fails clearly", args: []string{"cluster", "remove", "--name=a", "--hub-kubeconfig=/nonexistent/hub"},
			wantCode: 1, wantErr: "obsyk-hub cluster remove: load hub kubeconfig"},
		{name: "keygen refuses an empty client id", args: []string{"keygen", "--client-id= "}, wantCode: 2, wantErr: "--client-id must be a non-empty single line"},
		{name: "keygen refuses an invalid secret name", args: []string{"keygen", "--secret-name=Bad_Name"}, wantCode: 2, wantErr: `--secret-name "Bad_Name"`},
		{name: "keygen refuses an invalid namespace", args: []string{"keygen", "--namespace=a.b"}, wantCode: 2, wantErr: `--namespace "a.b"`},
		{name: "keygen help says the private key is never printed", args: []string{"keygen", "--help"}, wantCode: 0, wantOut: "never printed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			g.Expect(run(tc.args, &out, &errOut)).To(Equal(tc.wantCode), "stdout: %s\nstderr: %s", out.String(), errOut.String())
			if tc.wantOut != "" {
				g.Expect(out.String()).To(ContainSubstring(tc.wantOut))
			}
			if tc.wantErr != "" {
				g.Expect(errOut.String()).To(ContainSubstring(tc.wantErr))
			}
			if tc.wantCode != 0 {
				g.Expect(out.String()).To(BeEmpty(), "failures write nothing to stdout")
			}
		})
	}
}
