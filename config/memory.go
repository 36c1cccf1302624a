package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
)

// Where the container memory limit is read, cgroup v2 first.
const (
	CgroupV2MemoryMax = "/sys/fs/cgroup/memory.max"
	CgroupV1MemoryMax = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// cgroupV1Unlimited: cgroup v1 reports "no limit" as a huge page-aligned number
// (9223372036854771712 on 4 KiB pages); anything this large is no limit.
const cgroupV1Unlimited = int64(1) << 62

// memoryLimitSources is what ApplyMemoryLimit reads and calls; tests replace them.
type memoryLimitSources struct {
	lookupEnv func(string) (string, bool)
	v2File    string
	v1File    string
	setLimit  func(int64) int64
}

// ApplyMemoryLimit gives the Go runtime a soft memory limit of c.MemoryLimitRatio × the
// container's memory limit, so that the garbage collector works harder before the kernel
// kills the hub. It does nothing when GOMEMLIMIT is set (the runtime already honours it) or
// when the container has no limit. It returns the limit it set, 0 when it set none; an
// unreadable or malformed cgroup file is an error and leaves the runtime untouched.
func ApplyMemoryLimit(c Config, log logr.Logger) (int64, error) {
	return applyMemoryLimit(c, log, memoryLimitSources{
		lookupEnv: os.LookupEnv,
		v2File:    CgroupV2MemoryMax,
		v1File:    CgroupV1MemoryMax,
		setLimit:  debug.SetMemoryLimit,
	})
}

func applyMemoryLimit(c Config, log logr.Logger, src memoryLimitSources) (int64, error) {
	if v, ok := src.lookupEnv("GOMEMLIMIT"); ok && v != "" {
		log.V(1).Info("GOMEMLIMIT is set; leaving the Go memory limit to it")
		return 0, nil
	}
	if !(c.MemoryLimitRatio > 0 && c.MemoryLimitRatio <= 1) {
		return 0, fmt.Errorf("apply memory limit: ratio %g is not in (0, 1]", c.MemoryLimitRatio)
	}
	limit, file, err := ContainerMemoryLimit(src.v2File, src.v1File)
	if err != nil {
		return 0, fmt.Errorf("apply memory limit: %w", err)
	}
	if limit == 0 {
		log.V(1).Info("no container memory limit found; the Go memory limit stays unset")
		return 0, nil
	}
	soft := int64(float64(limit) * c.MemoryLimitRatio)
	src.setLimit(soft)
	log.Info("Go memory limit set from the container limit", "limit", soft, "containerLimit", limit, "source", file)
	return soft, nil
}

// ContainerMemoryLimit returns the memory limit in bytes from the cgroup v2 file v2File or,
// when that does not exist, the cgroup v1 file v1File, with the file it came from. It returns
// 0 when neither exists or the limit is "max" (none).
func ContainerMemoryLimit(v2File, v1File string) (int64, string, error) {
	for _, file := range []string{v2File, v1File} {
		if file == "" {
			continue
		}
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, file, fmt.Errorf("read memory limit: %w", err)
		}
		value := strings.TrimSpace(string(data))
		if value == "max" {
			return 0, file, nil
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n <= 0 {
			return 0, file, fmt.Errorf("read memory limit from %s: %q is not a positive byte count or \"max\"", file, value)
		}
		if n >= cgroupV1Unlimited {
			return 0, file, nil
		}
		return n, file, nil
	}
	return 0, "", nil
}
