package chart_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/obsyk/obsyk-hub/clusterregistry"
	"github.com/obsyk/obsyk-hub/config"
)

// allFeatures is the values file that turns every optional feature on.
const allFeatures = "ci/all-features-values.yaml"

// sharded turns sharding across replicas on (leader election off).
const sharded = "ci/sharding-values.yaml"

// serviceMonitorAPI tells helm template that the cluster serves ServiceMonitors.
const serviceMonitorAPI = "monitoring.coreos.com/v1/ServiceMonitor"

func render(t *testing.T, g Gomega, extra ...string) rendered {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := renderChart(ctx, t, chartDir(t), extra...)
	g.Expect(err).NotTo(HaveOccurred())
	return decodeObjects(g, out)
}

func kindsOf(r rendered) []string {
	var kinds []string
	for _, o := range r {
		kinds = append(kinds, o.GetKind())
	}
	slices.Sort(kinds)
	return kinds
}

// hubArgs parses the hub container's arguments (after "run") with the hub's own flag set,
// as `obsyk-hub run` does, and returns the configuration and the flags that were set.
func hubArgs(g Gomega, d *appsv1.Deployment) (config.Config, []string) {
	g.Expect(d.Spec.Template.Spec.Containers).To(HaveLen(1))
	args := d.Spec.Template.Spec.Containers[0].Args
	g.Expect(args).NotTo(BeEmpty())
	g.Expect(args[0]).To(Equal("run"))
	cfg := config.Default()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	g.Expect(fs.Parse(args[1:])).To(Succeed(), "obsyk-hub run accepts the chart's arguments")
	g.Expect(fs.Args()).To(BeEmpty())
	var set []string
	fs.Visit(func(f *pflag.Flag) { set = append(set, f.Name) })
	return cfg, set
}

func deploymentOf(g Gomega, r rendered) *appsv1.Deployment {
	var d appsv1.Deployment
	into(g, r.one(g, "Deployment", releaseNamespace, releaseName), &d)
	return &d
}

func clusterRoleRules(g Gomega, r rendered, name string) []rbacv1.PolicyRule {
	var role rbacv1.ClusterRole
	into(g, r.one(g, "ClusterRole", "", name), &role)
	return role.Rules
}

func TestChartWithDefaultValues(t *testing.T) {
	g := NewWithT(t)
	r := render(t, g)

	t.Run("renders the hub and nothing optional", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(kindsOf(r)).To(Equal([]string{
			"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment",
			"Role", "Role", "RoleBinding", "RoleBinding", "Service", "ServiceAccount",
		}))
	})

	t.Run("the CRD is the generated one, kept on uninstall", func(t *testing.T) {
		g := NewWithT(t)
		var got, generated apiextensionsv1.CustomResourceDefinition
		into(g, r.one(g, "CustomResourceDefinition", "", crdName), &got)
		readYAML(g, filepath.Join(chartDir(t), "files", "crds", "obsyk.io_obsykagents.yaml"), &generated)
		g.Expect(got.Spec).To(Equal(generated.Spec), "the template renders files/crds unchanged")
		g.Expect(got.Annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
		for k, v := range generated.Annotations {
			g.Expect(got.Annotations).To(HaveKeyWithValue(k, v))
		}
		g.Expect(got.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "Helm"))
	})

	t.Run("without crds.install there is no CRD", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(render(t, g, "--set", "crds.install=false").ofKind("CustomResourceDefinition")).To(BeEmpty())
	})

	t.Run("the hub's ClusterRole is the role generated from the controllers' markers", func(t *testing.T) {
		g := NewWithT(t)
		var generated rbacv1.ClusterRole
		readYAML(g, filepath.Join(chartDir(t), "files", "rbac", "role.yaml"), &generated)
		g.Expect(generated.Rules).NotTo(BeEmpty())
		g.Expect(clusterRoleRules(g, r, releaseName)).To(Equal(generated.Rules))
		var binding rbacv1.ClusterRoleBinding
		into(g, r.one(g, "ClusterRoleBinding", "", releaseName), &binding)
		g.Expect(binding.RoleRef.Name).To(Equal(releaseName))
		g.Expect(binding.Subjects).To(Equal([]rbacv1.Subject{{Kind: "ServiceAccount", Name: releaseName, Namespace: releaseNamespace}}))
	})

	t.Run("Secrets are listed and watched only in the release namespace, Leases taken only there", func(t *testing.T) {
		g := NewWithT(t)
		checkSecretsListedOnlyIn(g, r, releaseNamespace)
		var le rbacv1.Role
		into(g, r.one(g, "Role", releaseNamespace, releaseName+"-leader-election"), &le)
		g.Expect(le.Rules).To(ContainElement(rbacv1.PolicyRule{
			APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"},
		}))
	})

	t.Run("the hub runs with the binary's defaults except leader election and its namespace", func(t *testing.T) {
		g := NewWithT(t)
		cfg, _ := hubArgs(g, deploymentOf(g, r))
		g.Expect(cfg.Validate()).To(Succeed())
		want := config.Default()
		want.LeaderElect = true
		want.LeaderElectionNamespace = releaseNamespace
		want.ClusterSecretNamespace = releaseNamespace
		g.Expect(cfg).To(Equal(want), "values.yaml under hub repeats the hub's defaults")
	})

	t.Run("the pod meets the restricted Pod Security Standard", func(t *testing.T) {
		g := NewWithT(t)
		checkRestricted(g, deploymentOf(g, r))
	})

	t.Run("one replica with probes, ports, a memory limit and time to drain", func(t *testing.T) {
		g := NewWithT(t)
		d := deploymentOf(g, r)
		g.Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		g.Expect(c.Image).To(Equal("ghcr.io/obsyk/obsyk-hub:0.1.0"), "the tag defaults to the chart's appVersion")
		g.Expect(c.Ports).To(ConsistOf(
			corev1.ContainerPort{Name: "metrics", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			corev1.ContainerPort{Name: "probes", ContainerPort: 8081, Protocol: corev1.ProtocolTCP},
		))
		g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		g.Expect(c.LivenessProbe.HTTPGet.Port.String()).To(Equal("probes"))
		g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		g.Expect(c.ReadinessProbe.HTTPGet.Port.String()).To(Equal("probes"))
		g.Expect(c.Resources.Limits).To(HaveKey(corev1.ResourceMemory), "GOMEMLIMIT is derived from the memory limit")
		g.Expect(c.Env).NotTo(ContainElement(HaveField("Name", "GOMEMLIMIT")), "the hub derives GOMEMLIMIT itself")
		cfg, _ := hubArgs(g, d)
		g.Expect(pod.TerminationGracePeriodSeconds).NotTo(BeNil())
		g.Expect(time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second).To(BeNumerically(">", cfg.ShutdownDrainTimeout))
		g.Expect(pod.ServiceAccountName).To(Equal(releaseName))

		var svc corev1.Service
		into(g, r.one(g, "Service", releaseNamespace, releaseName+"-metrics"), &svc)
		g.Expect(svc.Spec.Ports).To(HaveLen(1))
		g.Expect(svc.Spec.Ports[0].TargetPort.String()).To(Equal("metrics"))
		for k, v := range svc.Spec.Selector {
			g.Expect(pod.Containers).NotTo(BeEmpty())
			g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v), "the Service selects the hub's pods")
		}
	})

	t.Run("a ServiceMonitor needs the API in the cluster", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(render(t, g, "--set", "metrics.serviceMonitor.enabled=true").ofKind("ServiceMonitor")).To(BeEmpty())
		g.Expect(render(t, g, "--set", "metrics.serviceMonitor.enabled=true", "--api-versions", serviceMonitorAPI).ofKind("ServiceMonitor")).To(HaveLen(1))
	})
}

func TestChartWithEveryOptionalFeature(t *testing.T) {
	g := NewWithT(t)
	r := render(t, g, "-f", filepath.Join(chartDir(t), allFeatures), "--api-versions", serviceMonitorAPI)

	t.Run("renders every optional object", func(t *testing.T) {
		g := NewWithT(t)
		for _, kind := range []string{"ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget"} {
			g.Expect(r.ofKind(kind)).To(HaveLen(1), kind)
		}
	})

	t.Run("the hub's own cluster is read with exactly the rules cluster add gives a member, without Secrets", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(clusterRoleRules(g, r, releaseName+"-hub-reader")).To(Equal(clusterregistry.ReaderPolicyRules(false)))
		var binding rbacv1.ClusterRoleBinding
		into(g, r.one(g, "ClusterRoleBinding", "", releaseName+"-hub-reader"), &binding)
		g.Expect(binding.RoleRef.Name).To(Equal(releaseName + "-hub-reader"))
	})

	t.Run("watched namespaces narrow the hub's permissions to them", func(t *testing.T) {
		g := NewWithT(t)
		for _, b := range r.ofKind("ClusterRoleBinding") {
			var binding rbacv1.ClusterRoleBinding
			into(g, b, &binding)
			g.Expect(binding.RoleRef.Name).NotTo(Equal(releaseName), "the generated role is not bound cluster-wide")
		}
		for _, ns := range []string{"team-a", "team-b"} {
			var binding rbacv1.RoleBinding
			into(g, r.one(g, "RoleBinding", ns, releaseName), &binding)
			g.Expect(binding.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: releaseName}))
		}
		g.Expect(clusterRoleRules(g, r, releaseName+"-cluster-scoped")).To(Equal([]rbacv1.PolicyRule{{
			APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"},
			ResourceNames: []string{crdName}, Verbs: []string{"get"},
		}}), "only the CRD check stays cluster-wide")
	})

	t.Run("Secrets are listed and watched only in the cluster Secret namespace", func(t *testing.T) {
		checkSecretsListedOnlyIn(NewWithT(t), r, "obsyk-clusters")
	})

	t.Run("the hub accepts every value as a flag", func(t *testing.T) {
		g := NewWithT(t)
		d := deploymentOf(g, r)
		cfg, _ := hubArgs(g, d)
		g.Expect(cfg.Validate()).To(Succeed())
		g.Expect(cfg.ClusterSecretNamespace).To(Equal("obsyk-clusters"))
		g.Expect(cfg.WatchNamespaces).To(Equal([]string{"team-a", "team-b"}))
		g.Expect(cfg.LogLevel).To(Equal("2"))
		g.Expect(cfg.OutboxMaxBytes).To(BeEquivalentTo(134217728), "a byte count is not rendered as a float")
		g.Expect(cfg.EventChannelCapacity).To(Equal(2000000), "a large number is not rendered as a float")
		g.Expect(cfg.MemberQPS).To(BeEquivalentTo(25), "extraArgs come last and win")
		g.Expect(cfg.CollectSecrets).To(BeTrue())
		g.Expect(cfg.PlatformCAFile).To(Equal("/etc/obsyk/ca/ca-bundle.crt"))
		g.Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
		g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(HavePrefix("ghcr.io/obsyk/obsyk-hub@sha256:"))
		checkRestricted(g, d)
	})

	t.Run("every flag of obsyk-hub run but the hub kubeconfig is set from values", func(t *testing.T) {
		g := NewWithT(t)
		_, withDefaults := hubArgs(g, deploymentOf(g, render(t, g)))
		_, withAll := hubArgs(g, deploymentOf(g, r))
		_, withSharding := hubArgs(g, deploymentOf(g, render(t, g, "-f", filepath.Join(chartDir(t), sharded))))
		withAll = append(withAll, withSharding...)
		var all []string
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		cfg := config.Default()
		cfg.AddFlags(fs)
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Name != "hub-kubeconfig" {
				all = append(all, f.Name)
			}
		})
		g.Expect(append(withDefaults, withAll...)).To(ContainElements(all))
	})
}

func TestChartRefusesValuesThatCannotWork(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a grace period no longer than the drain timeout is refused",
			[]string{"--set", "terminationGracePeriodSeconds=10"}, "must exceed hub.shutdownDrainTimeout"},
		{"a drain timeout longer than the grace period is refused, whatever its unit",
			[]string{"--set", "hub.shutdownDrainTimeout=1m"}, "must exceed hub.shutdownDrainTimeout"},
		{"several replicas without leader election are refused",
			[]string{"--set", "replicaCount=2", "--set", "hub.leaderElection.enabled=false"}, "needs hub.leaderElection.enabled"},
		{"a misspelt key is refused",
			[]string{"--set", "crds.instal=false"}, "additional properties 'instal' not allowed"},
		{"a duration that is not a Go duration is refused",
			[]string{"--set", "hub.leaderElection.leaseDuration=15"}, "leaseDuration"},
		{"an unknown log format is refused",
			[]string{"--set", "hub.logFormat=xml"}, "logFormat"},
		{"an existing ServiceAccount needs a name",
			[]string{"--set", "serviceAccount.create=false"}, "serviceAccount.name is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			_, err := renderChart(ctx, t, chartDir(t), tc.args...)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

// TestEveryValueIsDocumented checks that every key of values.yaml (or a key above it)
// appears in the chart README's values table.
func TestEveryValueIsDocumented(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var values map[string]any
	g.Expect(yaml.Unmarshal(data, &values)).To(Succeed())
	readme, err := os.ReadFile(filepath.Join(chartDir(t), "README.md"))
	g.Expect(err).NotTo(HaveOccurred())
	documented := func(key string) bool {
		for k := key; ; {
			if strings.Contains(string(readme), "`"+k+"`") {
				return true
			}
			i := strings.LastIndex(k, ".")
			if i < 0 {
				return false
			}
			k = k[:i]
		}
	}
	var missing []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(key+".", sub)
				continue
			}
			if !documented(key) {
				missing = append(missing, key)
			}
		}
	}
	walk("", values)
	g.Expect(missing).To(BeEmpty(), "values missing from the README's values table")
}

// checkSecretsListedOnlyIn fails unless the only rule granting list or watch on Secrets is
// the cluster-secrets Role in namespace, and no rule uses a wildcard.
func checkSecretsListedOnlyIn(g Gomega, r rendered, namespace string) {
	type grant struct{ kind, namespace, name string }
	var listers []grant
	check := func(kind, ns, name string, rules []rbacv1.PolicyRule) {
		for _, rule := range rules {
			for _, field := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs} {
				g.Expect(field).NotTo(ContainElement("*"), "%s %s/%s uses a wildcard", kind, ns, name)
			}
			if slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, "secrets") &&
				(slices.Contains(rule.Verbs, "list") || slices.Contains(rule.Verbs, "watch")) {
				listers = append(listers, grant{kind, ns, name})
			}
		}
	}
	for _, o := range r.ofKind("ClusterRole") {
		var role rbacv1.ClusterRole
		into(g, o, &role)
		check("ClusterRole", "", role.Name, role.Rules)
	}
	for _, o := range r.ofKind("Role") {
		var role rbacv1.Role
		into(g, o, &role)
		check("Role", role.Namespace, role.Name, role.Rules)
	}
	g.Expect(listers).To(Equal([]grant{{"Role", namespace, releaseName + "-cluster-secrets"}}))
}

// checkRestricted fails unless the pod meets the restricted Pod Security Standard.
func checkRestricted(g Gomega, d *appsv1.Deployment) {
	pod := d.Spec.Template.Spec
	g.Expect(pod.SecurityContext).NotTo(BeNil())
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(pod.SecurityContext.SeccompProfile).To(HaveValue(HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault)))
	g.Expect(pod.HostNetwork || pod.HostPID || pod.HostIPC).To(BeFalse())
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		g.Expect(sc).NotTo(BeNil(), c.Name)
		g.Expect(sc.RunAsNonRoot).To(HaveValue(BeTrue()))
		g.Expect(sc.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
		g.Expect(sc.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
		g.Expect(sc.Privileged).To(Or(BeNil(), HaveValue(BeFalse())))
		g.Expect(sc.Capabilities).NotTo(BeNil())
		g.Expect(sc.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		g.Expect(sc.Capabilities.Add).To(BeEmpty())
		g.Expect(sc.SeccompProfile).To(HaveValue(HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault)))
		limit := c.Resources.Limits[corev1.ResourceMemory]
		g.Expect(limit.Cmp(resource.MustParse("64Mi"))).To(BeNumerically(">", 0), "a real memory limit")
	}
	for _, v := range pod.Volumes {
		g.Expect(v.HostPath).To(BeNil(), "no hostPath volume")
	}
}
