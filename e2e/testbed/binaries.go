package testbed

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	// modulePath identifies the repository root: the directory whose go.mod declares it.
	modulePath = "github.com/obsyk/obsyk-hub"
	// kubernetesVersion is the version the tools module builds (e2e/tools/build.sh).
	kubernetesVersion = "v1.37.2"
	// assetsEnv overrides the binary directory, as it does for envtest.
	assetsEnv = "KUBEBUILDER_ASSETS"
)

// requiredBinaries must exist in BinaryDir; kubectl is optional.
var requiredBinaries = []string{"kube-apiserver", "etcd"}

// BinaryDir returns the directory holding kube-apiserver and etcd: $KUBEBUILDER_ASSETS when
// set, else <repository root>/bin/k8s/v1.37.2. It returns an error, never an empty answer, when
// either binary is missing, so that tests fail instead of silently skipping.
func BinaryDir() (string, error) {
	dir, fromEnv := os.LookupEnv(assetsEnv)
	if !fromEnv || dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", fmt.Errorf("find test binaries: %w", err)
		}
		dir = filepath.Join(root, "bin", "k8s", kubernetesVersion)
	}
	for _, name := range requiredBinaries {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			continue
		}
		hint := "run `make testbins` (or e2e/tools/build.sh) to build them"
		if fromEnv && dir != "" {
			hint = fmt.Sprintf("%s points there; unset it or %s", assetsEnv, hint)
		}
		if err == nil {
			err = errors.New("not an executable file")
		}
		return "", fmt.Errorf("test binary %s is missing (%v): %s", path, err, hint)
	}
	return dir, nil
}

// repoRoot walks up from the working directory (go test runs in the package directory) to
// the directory whose go.mod declares modulePath.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}
	for {
		if module, err := moduleOf(filepath.Join(dir, "go.mod")); err == nil && module == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory; set %s", modulePath, assetsEnv)
		}
		dir = parent
	}
}

// moduleOf returns the module path declared in a go.mod file.
func moduleOf(goMod string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s declares no module", goMod)
}
