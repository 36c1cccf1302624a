package chart_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

const (
	// helmVersion is the Makefile's HELM_VERSION: `make tools` installs bin/helm-<it>.
	helmVersion = "v3.22.0"
	// kubeVersion is the version of the test control planes (the Makefile's K8S_VERSION);
	// helm template renders for it.
	kubeVersion = "v1.37.2"
	// prometheusOperatorModule@prometheusOperatorVersion holds the ServiceMonitor CRD.
	prometheusOperatorModule  = "github.com/prometheus-operator/prometheus-operator"
	prometheusOperatorVersion = "v0.85.0"
	serviceMonitorCRDFile     = "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"

	releaseName      = "obsyk-hub"
	releaseNamespace = "obsyk-system"
	crdName          = "obsykagents.obsyk.io"

	// commandTimeout bounds each helm, kubectl or go command; the machine may be loaded.
	commandTimeout = 3 * time.Minute
	// settleTimeout bounds each wait for the API server to reflect a change.
	settleTimeout = 60 * time.Second
)

// repoRoot is the repository root, found from this file's path.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "charts", "obsyk-hub") }

// helmBinary is the pinned helm; the test fails, never skips, when it is missing.
func helmBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "bin", "helm-"+helmVersion)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm %s is missing (%v): run `make tools`", helmVersion, err)
	}
	return bin
}

// kubectlBinary is the kubectl built with the control-plane binaries.
func kubectlBinary(t testing.TB) string {
	t.Helper()
	dir, err := testbed.BinaryDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kubectl")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kubectl is missing (%v): run `make testbins`", err)
	}
	return bin
}

// runCommand runs name with args and env added to the test's environment, and returns the
// combined output. Outputs never hold credentials: kubeconfigs are passed as files.
func runCommand(ctx context.Context, env []string, name string, args ...string) (string, error) {
	return runCommandIn(ctx, "", env, name, args...)
}

// runCommandIn is runCommand in directory dir (the test's own when empty).
func runCommandIn(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String(), err
}

// helmEnv keeps helm's cache, configuration and data in the test's own directories and
// points it (and kubectl) at kubeconfig when given.
func helmEnv(t testing.TB, kubeconfig string) []string {
	dir := t.TempDir()
	env := []string{
		"HELM_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"HELM_DATA_HOME=" + filepath.Join(dir, "data"),
	}
	if kubeconfig != "" {
		env = append(env, "KUBECONFIG="+kubeconfig)
	}
	return env
}

// renderChart runs helm template on chart with the release name and namespace of the
// tests, for kubeVersion, with extra helm arguments (-f, --set, --api-versions).
func renderChart(ctx context.Context, t testing.TB, chart string, extra ...string) (string, error) {
	args := append([]string{"template", releaseName, chart, "--namespace", releaseNamespace, "--kube-version", kubeVersion}, extra...)
	return runCommand(ctx, helmEnv(t, ""), helmBinary(t), args...)
}

// decodeObjects splits a multi-document YAML stream into objects, leaving out empty
// documents.
func decodeObjects(g Gomega, manifest string) []*unstructured.Unstructured {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		g.Expect(err).NotTo(HaveOccurred())
		if len(u.Object) > 0 {
			objs = append(objs, &u)
		}
	}
}

// rendered is what one helm template produced, by kind.
type rendered []*unstructured.Unstructured

func (r rendered) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the object of kind and name, failing when there is not exactly one.
func (r rendered) one(g Gomega, kind, namespace, name string) *unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, o := range r.ofKind(kind) {
		if o.GetName() == name && o.GetNamespace() == namespace {
			found = append(found, o)
		}
	}
	g.Expect(found).To(HaveLen(1), "one %s %s/%s", kind, namespace, name)
	return found[0]
}

// into converts an unstructured object into a typed one.
func into(g Gomega, u *unstructured.Unstructured, obj any) {
	g.Expect(k8sruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true)).To(Succeed())
}

// readYAML decodes a YAML file into obj.
func readYAML(g Gomega, path string, obj any) {
	data, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(yaml.Unmarshal(data, obj)).To(Succeed())
}

// newScheme knows client-go's types and CRDs.
func newScheme(g Gomega) *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(s)).To(Succeed())
	g.Expect(apiextensionsv1.AddToScheme(s)).To(Succeed())
	return s
}

// writeKubeconfig writes the cluster's admin kubeconfig into a private file of the test.
func writeKubeconfig(t testing.TB, c *testbed.Cluster) string {
	t.Helper()
	data, err := c.AdminKubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitEstablished waits until the CRD name is Established.
func waitEstablished(ctx context.Context, g Gomega, c client.Client, name string) {
	g.Eventually(func(g Gomega) {
		var crd apiextensionsv1.CustomResourceDefinition
		g.Expect(c.Get(ctx, client.ObjectKey{Name: name}, &crd)).To(Succeed())
		established := false
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				established = true
			}
		}
		g.Expect(established).To(BeTrue(), "CRD %s is established", name)
	}).WithContext(ctx).WithTimeout(settleTimeout).WithPolling(200 * time.Millisecond).Should(Succeed())
}

// copyDir copies the regular files under src into dst.
func copyDir(g Gomega, src, dst string) {
	g.Expect(filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})).To(Succeed())
}
