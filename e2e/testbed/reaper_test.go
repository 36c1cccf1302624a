package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// helperEnv makes the test binary, re-executed, stand in for a control-plane process that
// names a cluster directory on its command line.
const helperEnv = "OBSYK_TESTBED_REAPER_HELPER"

func TestReaperHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return // not a helper: nothing to do
	}
	select {} // block until killed
}

func TestReapOrphansStopsTheProcessesOfDeadOwnersOnly(t *testing.T) {
	g := NewWithT(t)
	parent := t.TempDir()

	startStandIn := func(dir string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReaperHelperProcess$", "--data-dir="+filepath.Join(dir, "etcd"))
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		g.Expect(cmd.Start()).To(Succeed())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	mkdir := func(name string) string {
		dir := filepath.Join(parent, "obsyk-testbed-"+name+"-1")
		g.Expect(os.Mkdir(dir, 0o700)).To(Succeed())
		return dir
	}

	// An owner that has exited: its PID no longer has the recorded start time.
	dead := exec.Command("true")
	g.Expect(dead.Run()).To(Succeed())
	orphan := mkdir("orphan")
	g.Expect(os.WriteFile(filepath.Join(orphan, ownerFile), fmt.Appendf(nil, "%d 1\n", dead.Process.Pid), 0o600)).To(Succeed())
	orphaned := startStandIn(orphan)

	// An owner that is alive: this test process.
	owned := mkdir("owned")
	g.Expect(writeOwner(owned)).To(Succeed())
	kept := startStandIn(owned)

	// A directory being created: no owner record yet.
	fresh := mkdir("fresh")

	reaped, err := ReapOrphans(parent)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(reaped).To(Equal(1))

	exited := make(chan error, 1)
	go func() { exited <- orphaned.Wait() }()
	g.Eventually(exited).WithTimeout(10*time.Second).Should(Receive(), "the orphan's process is killed")
	g.Expect(orphan).NotTo(BeADirectory(), "the orphan's directory is removed")

	g.Expect(kept.Process.Signal(syscall.Signal(0))).To(Succeed(), "a live owner's process is left alone")
	g.Expect(owned).To(BeADirectory())
	g.Expect(fresh).To(BeADirectory(), "a directory without an owner record is left alone")
}
