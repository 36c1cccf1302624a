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
// fleet, register and seed the member, print its table, and stop leaving no control plane
// behind.
func TestDemoRunsAndStopsCleanly(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	var out bytes.Buffer
	err := run(ctx, options{duration: 3 * time.Second, members: 1, perKind: 1, interval: time.Second, dir: dir}, &out)
	g.Expect(err).NotTo(HaveOccurred(), out.String())

	text := out.String()
	g.Expect(text).To(ContainSubstring("member-0 registered with the hub"))
	g.Expect(text).To(ContainSubstring("is not built yet"), "the demo must say plainly that no hub streams yet")
	g.Expect(text).To(MatchRegexp(`member-0\s+no hub\s+\d+\s+\d+\s+0\s+\d+\s+0`), "the table shows member objects, none on the platform, no ghosts")
	g.Expect(text).To(ContainSubstring("stopped; nothing left running"))

	// The fleet's processes carry their directory on the command line.
	g.Expect(exec.Command("pgrep", "-f", dir).Run()).To(HaveOccurred(), "a control-plane process is still running")
}
