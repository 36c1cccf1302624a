package chart_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/obsyk/obsyk-hub/controllers"
	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// migrationMarker precedes, in the chart's README, the shell block of the migration step.
const migrationMarker = "<!-- migration-step:"

// migrationStep returns the shell block that follows migrationMarker in the chart's README.
func migrationStep(g Gomega, readme string) string {
	data, err := os.ReadFile(readme)
	g.Expect(err).NotTo(HaveOccurred())
	lines := strings.Split(string(data), "\n")
	var block []string
	state := 0 // 0: before the marker, 1: before the fence, 2: in the block
	for _, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case state == 0 && strings.HasPrefix(trimmed, migrationMarker):
			state = 1
		case state == 1 && trimmed == "```sh":
			state = 2
		case state == 2 && trimmed == "```":
			g.Expect(block).NotTo(BeEmpty())
			return strings.Join(block, "\n")
		case state == 2:
			block = append(block, trimmed)
		}
	}
	g.Expect(state).To(Equal(3), "the README has a ```sh block after %q", migrationMarker)
	return ""
}

// TestCRDUpgradeFromTheReferenceOperator walks the documented path from obsyk-operator to the
// hub's chart on a real API server: the reference CRD, created without Helm as the reference
// chart's crds/ directory did, and an existing ObsykAgent; `helm install` refused; the
// README's migration step; `helm install`, which upgrades the CRD in place; `helm upgrade` to
// a chart whose CRD changed; `helm uninstall`, which keeps the CRD and the agent.
func TestCRDUpgradeFromTheReferenceOperator(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cluster := testbed.NewTestCluster(t, testbed.ClusterOptions{Name: "chart-upgrade", Scheme: newScheme(g)})
	c := cluster.Client
	kubeconfig := writeKubeconfig(t, cluster)
	helmCmd := func(args ...string) (string, error) {
		return runCommand(ctx, helmEnv(t, kubeconfig), helmBinary(t), args...)
	}
	install := []string{"install", releaseName, chartDir(t), "--namespace", releaseNamespace, "--create-namespace"}

	// The reference operator's world: its CRD, plainly created, and one of its agents.
	var reference apiextensionsv1.CustomResourceDefinition
	readYAML(g, filepath.Join(repoRoot(t), "controllers", "testdata", "reference-obsykagents-crd.yaml"), &reference)
	g.Expect(c.Create(ctx, &reference)).To(Succeed())
	waitEstablished(ctx, g, c, crdName)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace}})).To(Succeed())
	agent := &unstructured.Unstructured{}
	g.Expect(yaml.Unmarshal([]byte(`
apiVersion: obsyk.io/v1
kind: ObsykAgent
metadata:
  name: staging-eu-1
  namespace: obsyk-system
spec:
  platformURL: "https://api.obsyk.example"
  clusterName: "staging-eu-1"
  credentialsSecretRef:
    name: obsyk-credentials
  syncInterval: "5m"
  rateLimit:
    eventsPerSecond: 10
    burstSize: 20
`), &agent.Object)).To(Succeed())
	g.Expect(c.Create(ctx, agent)).To(Succeed())
	agentKey := client.ObjectKeyFromObject(agent)
	agentUID := agent.GetUID()
	g.Expect(controllers.CheckCRD(ctx, c)).To(MatchError(controllers.ErrCRDOutdated))

	if !t.Run("helm install refuses a CRD that belongs to no release", func(t *testing.T) {
		g := NewWithT(t)
		_, err := helmCmd(install...)
		g.Expect(err).To(MatchError(ContainSubstring("invalid ownership metadata")))
		g.Expect(err).To(MatchError(ContainSubstring(crdName)))
	}) {
		return
	}

	if !t.Run("after the README's migration step, helm install upgrades the CRD and keeps the agent", func(t *testing.T) {
		g := NewWithT(t)
		step := migrationStep(g, filepath.Join(chartDir(t), "README.md"))
		g.Expect(step).To(ContainSubstring("kubectl "))
		path := filepath.Dir(kubectlBinary(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
		_, err := runCommand(ctx, []string{"PATH=" + path, "KUBECONFIG=" + kubeconfig}, "bash", "-euo", "pipefail", "-c", step)
		g.Expect(err).NotTo(HaveOccurred())

		notes, err := helmCmd(install...)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(notes).To(ContainSubstring("obsyk-hub cluster add"), "the notes say how to add a member")
		g.Expect(notes).To(ContainSubstring("kind: ObsykAgent"), "and how to create an agent")

		g.Eventually(func() error { return controllers.CheckCRD(ctx, c) }).
			WithTimeout(settleTimeout).Should(Succeed(), "the installed CRD has every field of the hub")
		crd := getCRD(ctx, g, c)
		spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		status := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"]
		g.Expect(spec.Properties).To(HaveKey("clusterRef"))
		g.Expect(status.Properties).To(HaveKey("outbox"))
		g.Expect(crd.Annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
		g.Expect(crd.Annotations).To(HaveKeyWithValue("meta.helm.sh/release-name", releaseName))

		got := getAgent(ctx, g, c, agentKey)
		g.Expect(got.GetUID()).To(Equal(agentUID), "the existing agent is the same object")
		g.Expect(nestedString(got, "spec", "clusterName")).To(Equal("staging-eu-1"))
		g.Expect(unstructured.SetNestedField(got.Object, "staging-eu-1", "spec", "clusterRef", "name")).To(Succeed())
		g.Expect(c.Update(ctx, got)).To(Succeed())
		got = getAgent(ctx, g, c, agentKey)
		g.Expect(nestedString(got, "spec", "clusterRef", "name")).To(Equal("staging-eu-1"),
			"the hub's fields are no longer pruned")
	}) {
		return
	}

	if !t.Run("the installed hub identity may do what the hub does and no more", func(t *testing.T) {
		checkHubAccess(ctx, NewWithT(t), cluster)
	}) {
		return
	}

	if !t.Run("helm upgrade to a chart with a changed CRD upgrades the CRD", func(t *testing.T) {
		g := NewWithT(t)
		changed := changedChart(t, g)
		_, err := helmCmd("upgrade", releaseName, changed, "--namespace", releaseNamespace)
		g.Expect(err).NotTo(HaveOccurred())
		g.Eventually(func(g Gomega) {
			spec := getCRD(ctx, g, c).Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			g.Expect(spec.Properties).To(HaveKey("upgradeProbe"))
			g.Expect(spec.Properties).To(HaveKey("clusterRef"))
		}).WithTimeout(settleTimeout).Should(Succeed())
		got := getAgent(ctx, g, c, agentKey)
		g.Expect(got.GetUID()).To(Equal(agentUID))
		g.Expect(nestedString(got, "spec", "clusterRef", "name")).To(Equal("staging-eu-1"))
	}) {
		return
	}

	t.Run("helm uninstall keeps the CRD and the agents", func(t *testing.T) {
		g := NewWithT(t)
		_, err := helmCmd("uninstall", releaseName, "--namespace", releaseNamespace)
		g.Expect(err).NotTo(HaveOccurred())
		g.Eventually(func() bool {
			var sa corev1.ServiceAccount
			return apierrors.IsNotFound(c.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: releaseName}, &sa))
		}).WithTimeout(settleTimeout).Should(BeTrue(), "the release's other objects are gone")
		getCRD(ctx, g, c)
		g.Expect(getAgent(ctx, g, c, agentKey).GetUID()).To(Equal(agentUID))
	})
}

// nestedString is the string at fields of u, or "" when there is none.
func nestedString(u *unstructured.Unstructured, fields ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, fields...)
	return s
}

func getCRD(ctx context.Context, g Gomega, c client.Client) *apiextensionsv1.CustomResourceDefinition {
	var crd apiextensionsv1.CustomResourceDefinition
	g.Expect(c.Get(ctx, client.ObjectKey{Name: crdName}, &crd)).To(Succeed())
	g.Expect(crd.Spec.Versions).To(HaveLen(1))
	g.Expect(crd.Spec.Versions[0].Schema).NotTo(BeNil())
	return &crd
}

func getAgent(ctx context.Context, g Gomega, c client.Client, key client.ObjectKey) *unstructured.Unstructured {
	got := &unstructured.Unstructured{}
	got.SetAPIVersion("obsyk.io/v1")
	got.SetKind("ObsykAgent")
	g.Expect(c.Get(ctx, key, got)).To(Succeed())
	return got
}

// changedChart copies the chart, adds a spec field to its CRD and bumps its version.
func changedChart(t *testing.T, g Gomega) string {
	dir := filepath.Join(t.TempDir(), "obsyk-hub")
	copyDir(g, chartDir(t), dir)
	crdFile := filepath.Join(dir, "files", "crds", "obsyk.io_obsykagents.yaml")
	var crd apiextensionsv1.CustomResourceDefinition
	readYAML(g, crdFile, &crd)
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	spec.Properties["upgradeProbe"] = apiextensionsv1.JSONSchemaProps{Type: "string", Description: "Added by the upgrade test."}
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	data, err := yaml.Marshal(&crd)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(crdFile, data, 0o644)).To(Succeed())

	chartFile := filepath.Join(dir, "Chart.yaml")
	chart, err := os.ReadFile(chartFile)
	g.Expect(err).NotTo(HaveOccurred())
	version := regexp.MustCompile(`(?m)^version: .*$`)
	g.Expect(version.Match(chart)).To(BeTrue())
	g.Expect(os.WriteFile(chartFile, version.ReplaceAll(chart, []byte("version: 99.0.0-upgrade-test")), 0o644)).To(Succeed())
	return dir
}
