package config

import "github.com/go-logr/logr"

// ApplyMemoryLimitWith is ApplyMemoryLimit with its environment, cgroup files and runtime
// setter replaced, for tests.
func ApplyMemoryLimitWith(c Config, log logr.Logger, lookupEnv func(string) (string, bool), v2File, v1File string, set func(int64) int64) (int64, error) {
	return applyMemoryLimit(c, log, memoryLimitSources{lookupEnv: lookupEnv, v2File: v2File, v1File: v1File, setLimit: set})
}
