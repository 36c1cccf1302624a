package chart_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// serviceMonitorCRD downloads the prometheus-operator module through the module proxy (or
// finds it in the module cache) and returns the path of its ServiceMonitor CRD.
func serviceMonitorCRD(ctx context.Context, t *testing.T, g Gomega) string {
	// Outside any module, so that neither go.mod of this repository is read or changed.
	dir := t.TempDir()
	out, err := runCommandIn(ctx, dir, nil, "go", "mod", "download", "-json", prometheusOperatorModule+"@"+prometheusOperatorVersion)
	g.Expect(err).NotTo(HaveOccurred(), "download %s@%s through the module proxy", prometheusOperatorModule, prometheusOperatorVersion)
	var mod struct{ Dir string }
	g.Expect(json.Unmarshal([]byte(out), &mod)).To(Succeed())
	g.Expect(mod.Dir).NotTo(BeEmpty())
	return filepath.Join(mod.Dir, serviceMonitorCRDFile)
}

// TestRenderedObjectsAreAcceptedByARealAPIServer renders the chart with its default values
// and with every optional feature on, and has a real kube-apiserver accept every object in
// a server-side dry run with strict field validation (unknown or duplicate fields fail).
func TestRenderedObjectsAreAcceptedByARealAPIServer(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cluster := testbed.NewTestCluster(t, testbed.ClusterOptions{Name: "chart-apply", Scheme: newScheme(g)})
	kubeconfig := writeKubeconfig(t, cluster)
	kubectl := kubectlBinary(t)
	env := []string{"KUBECONFIG=" + kubeconfig}

	for _, ns := range []string{releaseNamespace, "obsyk-clusters", "team-a", "team-b"} {
		g.Expect(cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	smCRD := serviceMonitorCRD(ctx, t, g)
	_, err := runCommand(ctx, env, kubectl, "apply", "--server-side", "-f", smCRD)
	g.Expect(err).NotTo(HaveOccurred())
	waitEstablished(ctx, g, cluster.Client, "servicemonitors.monitoring.coreos.com")

	cases := []struct {
		name string
		args []string
	}{
		{"with the default values", nil},
		{"with every optional feature on", []string{"-f", filepath.Join(chartDir(t), allFeatures), "--api-versions", serviceMonitorAPI}},
		{"sharded across replicas", []string{"-f", filepath.Join(chartDir(t), sharded)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			manifest, err := renderChart(ctx, t, chartDir(t), tc.args...)
			g.Expect(err).NotTo(HaveOccurred())
			objs := decodeObjects(g, manifest)
			g.Expect(objs).NotTo(BeEmpty())
			file := filepath.Join(t.TempDir(), "rendered.yaml")
			g.Expect(os.WriteFile(file, []byte(manifest), 0o600)).To(Succeed())

			out, err := runCommand(ctx, env, kubectl, "apply", "--dry-run=server", "--validate=strict", "-f", file)
			g.Expect(err).NotTo(HaveOccurred())
			for _, o := range objs {
				// kubectl names each object it accepted: "<kind>.<group>/<name> created (server dry run)".
				g.Expect(out).To(ContainSubstring("/"+o.GetName()+" created (server dry run)"), "%s %s", o.GetKind(), o.GetName())
			}
			g.Expect(strings.Count(out, "(server dry run)")).To(Equal(len(objs)))
		})
	}
}
