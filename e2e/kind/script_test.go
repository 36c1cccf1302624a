package kind_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/obsyk/obsyk-hub/config"
)

// helmVersion is the Makefile's HELM_VERSION: `make tools` installs bin/helm-<it>.
const helmVersion = "v3.22.0"

// commandTimeout bounds each command the tests run.
const commandTimeout = 5 * time.Minute

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func script(t *testing.T) string { return filepath.Join(repoRoot(t), "e2e", "kind", "run.sh") }

// runCmd runs name with args (env added to the test's) and returns its exit code and
// combined output; an error only when it could not run at all.
func runCmd(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	case err != nil:
		t.Fatalf("run %s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return 0, out.String()
}

// scriptConstants are the NAME=value lines of run.sh that must agree with its files.
func scriptConstants(t *testing.T, g Gomega) map[string]string {
	data, err := os.ReadFile(script(t))
	g.Expect(err).NotTo(HaveOccurred())
	consts := map[string]string{}
	re := regexp.MustCompile(`(?m)^([A-Z_]+)=([^$\s(]+)$`)
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		consts[m[1]] = m[2]
	}
	for _, k := range []string{"HUB_IMAGE", "SIM_IMAGE", "SIM_NODE_PORT", "PLATFORM_URL", "HUB_NAMESPACE", "RELEASE", "CLIENT_ID_PREFIX"} {
		g.Expect(consts).To(HaveKey(k), "run.sh sets %s", k)
	}
	return consts
}

// logicalLines joins run.sh's continued lines ("\" at the end).
func logicalLines(g Gomega, path string) []string {
	data, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	return strings.Split(regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(data), " "), "\n")
}

func decodeAll(g Gomega, data []byte) []*unstructured.Unstructured {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
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

func into(g Gomega, u *unstructured.Unstructured, obj any) {
	g.Expect(k8sruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true)).To(Succeed())
}

func findObject(g Gomega, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	g.Expect(false).To(BeTrue(), "no %s %s", kind, name)
	return nil
}

// TestScriptIsValidBash checks run.sh with `bash -n` and, where it is installed, shellcheck.
func TestScriptIsValidBash(t *testing.T) {
	g := NewWithT(t)
	code, out := runCmd(t, nil, "bash", "-n", script(t))
	g.Expect(code).To(BeZero(), out)
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck is not installed: only bash -n checked the script")
		return
	}
	code, out = runCmd(t, nil, "shellcheck", "--shell=bash", "--severity=style", script(t))
	g.Expect(code).To(BeZero(), out)
}

func TestScriptCommandLine(t *testing.T) {
	t.Run("--help explains the run and names every prerequisite", func(t *testing.T) {
		g := NewWithT(t)
		code, out := runCmd(t, nil, "bash", script(t), "--help")
		g.Expect(code).To(BeZero(), out)
		for _, s := range []string{"Usage:", "--keep", "docker", "kind", "kubectl", "helm", "go", "KIND_PREFIX", "SIM_ADMIN_PORT"} {
			g.Expect(out).To(ContainSubstring(s))
		}
	})
	t.Run("an unknown argument is a usage error", func(t *testing.T) {
		g := NewWithT(t)
		code, out := runCmd(t, nil, "bash", script(t), "--bogus")
		g.Expect(code).To(Equal(2), out)
		g.Expect(out).To(ContainSubstring("unknown argument: --bogus"))
	})
	t.Run("missing prerequisites stop it before anything is created", func(t *testing.T) {
		g := NewWithT(t)
		// A PATH with only what the script needs before its check.
		bin := t.TempDir()
		dirname, err := exec.LookPath("dirname")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(os.Symlink(dirname, filepath.Join(bin, "dirname"))).To(Succeed())
		bash, err := exec.LookPath("bash")
		g.Expect(err).NotTo(HaveOccurred())
		tmp := t.TempDir()
		code, out := runCmd(t, []string{"PATH=" + bin, "TMPDIR=" + tmp}, bash, script(t))
		g.Expect(code).To(Equal(2), out)
		g.Expect(out).To(ContainSubstring("missing on PATH: docker kind kubectl helm go"))
		entries, err := os.ReadDir(tmp)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(entries).To(BeEmpty(), "no work directory was made")
	})
}

// TestScriptAgreesWithItsFiles checks that the names run.sh uses are those of the
// simulator's manifest, the hub's values and the chart.
func TestScriptAgreesWithItsFiles(t *testing.T) {
	g := NewWithT(t)
	consts := scriptConstants(t, g)
	dir := filepath.Join(repoRoot(t), "e2e", "kind")
	data, err := os.ReadFile(filepath.Join(dir, "platform-sim.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	objs := decodeAll(g, data)
	platformURL, err := url.Parse(consts["PLATFORM_URL"])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(platformURL.Scheme).To(Equal("https"))
	host := strings.Split(platformURL.Hostname(), ".") // <service>.<namespace>.svc
	g.Expect(host).To(HaveLen(3))
	g.Expect(host[2]).To(Equal("svc"))

	t.Run("the simulator serves the platform URL with a certificate for its host", func(t *testing.T) {
		g := NewWithT(t)
		var d appsv1.Deployment
		into(g, findObject(g, objs, "Deployment", "obsyk-platform-sim"), &d)
		g.Expect(d.Namespace).To(Equal(host[1]))
		c := d.Spec.Template.Spec.Containers[0]
		g.Expect(c.Image).To(Equal(consts["SIM_IMAGE"]))
		g.Expect(c.ImagePullPolicy).To(Equal(corev1.PullNever), "the image is loaded with kind load, never pulled")
		g.Expect(c.Args).To(ContainElements(
			"--audience="+consts["PLATFORM_URL"],
			"--tls-host="+platformURL.Hostname(),
			"--addr=0.0.0.0:"+platformURL.Port(),
		))
		var svc corev1.Service
		into(g, findObject(g, objs, "Service", host[0]), &svc)
		g.Expect(svc.Namespace).To(Equal(host[1]))
		g.Expect(svc.Spec.Ports).To(ContainElement(HaveField("Port", BeEquivalentTo(mustAtoi(g, platformURL.Port())))))
	})

	t.Run("the admin API is the NodePort the hub cluster publishes", func(t *testing.T) {
		g := NewWithT(t)
		var d appsv1.Deployment
		into(g, findObject(g, objs, "Deployment", "obsyk-platform-sim"), &d)
		g.Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--admin-addr=0.0.0.0:8081"))
		var svc corev1.Service
		into(g, findObject(g, objs, "Service", "obsyk-platform-sim-admin"), &svc)
		g.Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeNodePort))
		g.Expect(svc.Spec.Ports).To(HaveLen(1))
		g.Expect(svc.Spec.Ports[0].NodePort).To(BeEquivalentTo(mustAtoi(g, consts["SIM_NODE_PORT"])))
		g.Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(8081))
	})

	t.Run("the hub's values render with the chart: the loaded image, the simulator's CA, the highest verbosity", func(t *testing.T) {
		g := NewWithT(t)
		helm := filepath.Join(repoRoot(t), "bin", "helm-"+helmVersion)
		if _, err := os.Stat(helm); err != nil {
			t.Fatalf("helm %s is missing (%v): run `make tools`", helmVersion, err)
		}
		home := t.TempDir()
		code, out := runCmd(t, []string{"HELM_CACHE_HOME=" + home, "HELM_CONFIG_HOME=" + home, "HELM_DATA_HOME=" + home},
			helm, "template", consts["RELEASE"], filepath.Join(repoRoot(t), "charts", "obsyk-hub"),
			"--namespace", consts["HUB_NAMESPACE"], "-f", filepath.Join(dir, "hub-values.yaml"))
		g.Expect(code).To(BeZero(), out)
		var d appsv1.Deployment
		into(g, findObject(g, decodeAll(g, []byte(out)), "Deployment", consts["RELEASE"]), &d)
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		g.Expect(c.Image).To(Equal(consts["HUB_IMAGE"]))
		g.Expect(c.ImagePullPolicy).To(Equal(corev1.PullNever))
		g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue("app.kubernetes.io/instance", consts["RELEASE"]),
			"kindcheck finds the hub's pods by this label")
		g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue("app.kubernetes.io/name", "obsyk-hub"))

		cfg := config.Default()
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		cfg.AddFlags(fs)
		g.Expect(c.Args[0]).To(Equal("run"))
		g.Expect(fs.Parse(c.Args[1:])).To(Succeed())
		g.Expect(cfg.Validate()).To(Succeed())
		level, err := config.ParseLogLevel(cfg.LogLevel)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(level).To(BeNumerically(">=", 7), "the logs scenario reads the most verbose log")
		g.Expect(cfg.LeaderElect).To(BeTrue())
		g.Expect(cfg.ClusterSecretNamespace).To(Equal(consts["HUB_NAMESPACE"]))

		// The CA file is in a mounted ConfigMap that run.sh creates.
		var mount *corev1.VolumeMount
		for i, m := range c.VolumeMounts {
			if strings.HasPrefix(cfg.PlatformCAFile, m.MountPath+"/") {
				mount = &c.VolumeMounts[i]
			}
		}
		g.Expect(mount).NotTo(BeNil(), "--platform-ca-file %s is in a mounted volume", cfg.PlatformCAFile)
		var vol *corev1.Volume
		for i, v := range pod.Volumes {
			if v.Name == mount.Name {
				vol = &pod.Volumes[i]
			}
		}
		g.Expect(vol).NotTo(BeNil())
		g.Expect(vol.ConfigMap).NotTo(BeNil())
		key := strings.TrimPrefix(cfg.PlatformCAFile, mount.MountPath+"/")
		scriptText, err := os.ReadFile(script(t))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(scriptText)).To(ContainSubstring("create configmap "+vol.ConfigMap.Name+" --from-file="+key+"="),
			"run.sh creates the ConfigMap with the key the hub reads")
	})
}

func mustAtoi(g Gomega, s string) int {
	n, err := strconv.Atoi(s)
	g.Expect(err).NotTo(HaveOccurred())
	return n
}

// TestScriptCallsCommandsWithTheirFlags builds obsyk-hub and kindcheck and checks that every
// flag run.sh gives one of their subcommands is one the subcommand has.
func TestScriptCallsCommandsWithTheirFlags(t *testing.T) {
	g := NewWithT(t)
	root := repoRoot(t)
	bin := t.TempDir()
	for _, pkg := range []string{"./cmd/obsyk-hub", "./e2e/kind/kindcheck"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		g.Expect(err).NotTo(HaveOccurred(), string(out))
	}
	// Each call: `"$WORK/bin/<binary>" <subcommand...> --flag ...`.
	call := regexp.MustCompile(`"\$WORK/bin/(obsyk-hub|kindcheck)" ((?:[a-z][a-z-]* )*)(.*)`)
	flag := regexp.MustCompile(`(?:^|\s|\()(--[a-z][a-z-]*)`)
	type use struct{ command, flag string }
	var uses []use
	for _, line := range logicalLines(g, script(t)) {
		m := call.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		command := strings.TrimSpace(m[1] + " " + m[2])
		for _, f := range flag.FindAllStringSubmatch(m[3], -1) {
			uses = append(uses, use{command, f[1]})
		}
	}
	// Flags passed through arrays built elsewhere in the script.
	uses = append(uses, use{"kindcheck seed", "--member"}, use{"kindcheck run", "--member"}, use{"kindcheck run", "--private-key"})
	commands := map[string]bool{}
	for _, u := range uses {
		commands[u.command] = true
	}
	g.Expect(commands).To(HaveKey("obsyk-hub cluster add"))
	g.Expect(commands).To(HaveKey("obsyk-hub keygen"))
	for _, sub := range []string{"ca", "register-client", "seed", "run"} {
		g.Expect(commands).To(HaveKey("kindcheck "+sub), "run.sh calls kindcheck %s", sub)
	}
	helps := map[string]string{}
	for c := range commands {
		parts := strings.Fields(c)
		_, out := runCmd(t, nil, filepath.Join(bin, parts[0]), append(parts[1:], "--help")...)
		helps[c] = out
	}
	for _, u := range uses {
		g.Expect(helps[u.command]).To(MatchRegexp(`(^|\s)`+regexp.QuoteMeta(u.flag)+`[\s=]`), "%s has %s", u.command, u.flag)
	}
}
