package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ownerFile, in a cluster's directory, records the process that owns the cluster: its PID
// and its start time (so a recycled PID is not mistaken for the owner).
const ownerFile = "owner"

// dirPattern matches the clusters' directories under their parent.
const dirPattern = "obsyk-testbed-*"

// writeOwner records the current process as the owner of dir.
func writeOwner(dir string) error {
	start, err := processStart(os.Getpid())
	if err != nil {
		return fmt.Errorf("record owner: %w", err)
	}
	content := fmt.Sprintf("%d %s\n", os.Getpid(), start)
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(content), 0o600); err != nil {
		return fmt.Errorf("record owner: %w", err)
	}
	return nil
}

// ReapOrphans stops the processes of test-bed clusters under parent (os.TempDir() when
// empty) whose owning process is gone, and removes their directories. It returns how many
// clusters it reaped.
//
// envtest starts kube-apiserver and etcd in a process group of their own and without a
// parent-death signal, so a test binary killed before its cleanups ran (go test -timeout, a
// SIGKILLed demo) leaves them running, ~310 MiB each. StartCluster reaps before it starts a
// cluster. A directory without an owner record (one being created right now) is left alone.
func ReapOrphans(parent string) (int, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	dirs, err := filepath.Glob(filepath.Join(parent, dirPattern))
	if err != nil {
		return 0, fmt.Errorf("reap orphaned clusters: %w", err)
	}
	var errs []error
	reaped := 0
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being created, or not ours to judge
		}
		pidText, start, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
		pid, err := strconv.Atoi(pidText)
		if err != nil {
			continue
		}
		if cur, err := processStart(pid); err == nil && cur == start {
			continue // the owner is alive
		}
		if err := killProcessesUsing(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove orphaned cluster directory: %w", err))
			continue
		}
		reaped++
	}
	return reaped, errors.Join(errs...)
}

// killProcessesUsing kills every process whose command line names a path inside dir (the
// control planes name their data and certificate directories).
func killProcessesUsing(dir string) error {
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return err
	}
	needle := []byte(dir + string(filepath.Separator))
	var errs []error
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmdline, needle) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill orphaned process %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// processStart returns the start time of pid (field 22 of /proc/<pid>/stat, in clock ticks
// since boot), which tells a process from a later one with the same PID.
func processStart(pid int) (string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) is in parentheses and may contain spaces: count from the
	// last ')'. Fields from 3 on follow it.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(stat[i+1:]))
	const startTimeField = 22 - 3
	if len(fields) <= startTimeField {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return fields[startTimeField], nil
}
