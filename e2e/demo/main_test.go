package main

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestDemoRunsAndStopsCleanly runs the demo briefly with one member: it must start the
// fleet, register and seed the member, run the hub, show the member converged on the
// platform with its agent Ready, and stop leaving no control plane behind.
func TestDemoRunsAndStopsCleanly(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	var out bytes.Buffer
	err := run(ctx, options{duration: 30 * time.Second, members: 1, perKind: 1, interval: time.Second, dir: dir}, &out)
	g.Expect(err).NotTo(HaveOccurred(), out.String())

	text := out.String()
	g.Expect(text).To(ContainSubstring("member-0 registered with the hub"))
	g.Expect(text).To(ContainSubstring("the hub is running"))
	g.Expect(text).To(MatchRegexp(`member-0\s+True\s+\d+\s+[1-9]\d*\s+[1-9]\d*\s+0\s+0\s`),
		"a table shows the agent Ready and the member's objects on the platform: none missing, no ghosts")
	g.Expect(text).To(ContainSubstring("stopped; nothing left running"))

	// The fleet's processes carry their directory on the command line.
	g.Expect(exec.Command("pgrep", "-f", dir).Run()).To(HaveOccurred(), "a control-plane process is still running")
}
