package convert_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/obsyk/obsyk-hub/e2e/platform"
	"github.com/obsyk/obsyk-hub/ingest/convert"
	"github.com/obsyk/obsyk-hub/transport"
)

// kindCase is one fully populated object of a kind and the record it must give.
type kindCase struct {
	name string
	kind transport.Kind
	obj  func() runtime.Object
	want func() transport.Record
	// direct calls the kind's own exported function.
	direct func(runtime.Object) transport.Record
}

// kindCases covers the 20 kinds, each with every contract field set in the source.
func kindCases() []kindCase {
	return []kindCase{
		{"a namespace keeps its phase, labels and the annotations the filter lets through", transport.KindNamespace,
			func() runtime.Object { return fullNamespace() }, func() transport.Record { return wantNamespace() },
			func(o runtime.Object) transport.Record { return convert.Namespace(o.(*corev1.Namespace)) }},
		{"a pod matches statuses by name and carries names, never env values", transport.KindPod,
			func() runtime.Object { return fullPod() }, func() transport.Record { return wantPod() },
			func(o runtime.Object) transport.Record { return convert.Pod(o.(*corev1.Pod)) }},
		{"a service writes named, numbered and unset target ports as strings", transport.KindService,
			func() runtime.Object { return fullService() }, func() transport.Record { return wantService() },
			func(o runtime.Object) transport.Record { return convert.Service(o.(*corev1.Service)) }},
		{"a node maps, sorts and de-duplicates its roles and reads its Ready condition", transport.KindNode,
			func() runtime.Object { return fullNode() }, func() transport.Record { return wantNode() },
			func(o runtime.Object) transport.Record { return convert.Node(o.(*corev1.Node)) }},
		{"a deployment carries the first container's image and matchLabels only", transport.KindDeployment,
			func() runtime.Object { return fullDeployment() }, func() transport.Record { return wantDeployment() },
			func(o runtime.Object) transport.Record { return convert.Deployment(o.(*appsv1.Deployment)) }},
		{"a statefulset carries its service name and update strategy", transport.KindStatefulSet,
			func() runtime.Object { return fullStatefulSet() }, func() transport.Record { return wantStatefulSet() },
			func(o runtime.Object) transport.Record { return convert.StatefulSet(o.(*appsv1.StatefulSet)) }},
		{"a daemonset carries its template's node selector", transport.KindDaemonSet,
			func() runtime.Object { return fullDaemonSet() }, func() transport.Record { return wantDaemonSet() },
			func(o runtime.Object) transport.Record { return convert.DaemonSet(o.(*appsv1.DaemonSet)) }},
		{"a job names the first owning cronjob and keeps its times", transport.KindJob,
			func() runtime.Object { return fullJob() }, func() transport.Record { return wantJob() },
			func(o runtime.Object) transport.Record { return convert.Job(o.(*batchv1.Job)) }},
		{"a cronjob counts its active jobs", transport.KindCronJob,
			func() runtime.Object { return fullCronJob() }, func() transport.Record { return wantCronJob() },
			func(o runtime.Object) transport.Record { return convert.CronJob(o.(*batchv1.CronJob)) }},
		{"an ingress keeps numbered backend ports only and falls back to load balancer hostnames", transport.KindIngress,
			func() runtime.Object { return fullIngress() }, func() transport.Record { return wantIngress() },
			func(o runtime.Object) transport.Record { return convert.Ingress(o.(*networkingv1.Ingress)) }},
		{"a network policy counts its rules", transport.KindNetworkPolicy,
			func() runtime.Object { return fullNetworkPolicy() }, func() transport.Record { return wantNetworkPolicy() },
			func(o runtime.Object) transport.Record { return convert.NetworkPolicy(o.(*networkingv1.NetworkPolicy)) }},
		{"a configmap carries its sorted key names, never values", transport.KindConfigMap,
			func() runtime.Object { return fullConfigMap() }, func() transport.Record { return wantConfigMap() },
			func(o runtime.Object) transport.Record { return convert.ConfigMap(o.(*corev1.ConfigMap)) }},
		{"a secret carries its type and sorted key names, never values", transport.KindSecret,
			func() runtime.Object { return fullSecret() }, func() transport.Record { return wantSecret() },
			func(o runtime.Object) transport.Record { return convert.Secret(o.(*corev1.Secret)) }},
		{"a pvc carries its canonical storage request and volume mode", transport.KindPersistentVolumeClaim,
			func() runtime.Object { return fullPVC() }, func() transport.Record { return wantPVC() },
			func(o runtime.Object) transport.Record {
				return convert.PersistentVolumeClaim(o.(*corev1.PersistentVolumeClaim))
			}},
		{"a service account writes an explicit false automount", transport.KindServiceAccount,
			func() runtime.Object { return fullServiceAccount() }, func() transport.Record { return wantServiceAccount() },
			func(o runtime.Object) transport.Record { return convert.ServiceAccount(o.(*corev1.ServiceAccount)) }},
		{"a role carries the sorted union of its rules' resources", transport.KindRole,
			func() runtime.Object { return fullRole() }, func() transport.Record { return wantRole() },
			func(o runtime.Object) transport.Record { return convert.Role(o.(*rbacv1.Role)) }},
		{"a cluster role is marked cluster-wide and has no namespace", transport.KindClusterRole,
			func() runtime.Object { return fullClusterRole() }, func() transport.Record { return wantClusterRole() },
			func(o runtime.Object) transport.Record { return convert.ClusterRole(o.(*rbacv1.ClusterRole)) }},
		{"a role binding drops apiGroup from its role ref and subjects", transport.KindRoleBinding,
			func() runtime.Object { return fullRoleBinding() }, func() transport.Record { return wantRoleBinding() },
			func(o runtime.Object) transport.Record { return convert.RoleBinding(o.(*rbacv1.RoleBinding)) }},
		{"a cluster role binding is marked cluster-wide and has no namespace", transport.KindClusterRoleBinding,
			func() runtime.Object { return fullClusterRoleBinding() }, func() transport.Record { return wantClusterRoleBinding() },
			func(o runtime.Object) transport.Record {
				return convert.ClusterRoleBinding(o.(*rbacv1.ClusterRoleBinding))
			}},
		{"an event has no labels or annotations and keeps both timestamps", transport.KindEvent,
			func() runtime.Object { return fullEvent() }, func() transport.Record { return wantEvent() },
			func(o runtime.Object) transport.Record { return convert.Event(o.(*corev1.Event)) }},
	}
}

// neverSent are strings of the fixtures that must not reach any record's JSON: Secret and
// ConfigMap values, env values, valueFrom and envFrom references, stringData keys, filtered
// annotations and their values, managedFields, and fields the contract drops.
var neverSent = []string{
	secretValue, envValue, configMapValue, "stringdata-key",
	"db-valuefrom-secret", "password-valuefrom-key", "envfrom-configmap", "ENVFROM_",
	"kubectl.kubernetes.io", "last-applied", `{\"big\"`, "kubernetes.io/psp", "restricted",
	"managedFields", "managed_fields", "resourceVersion", "ephemeral-storage", "nvidia", "1.2.3.4",
	"30080", "fd00::1", "Europe/Paris", "CrashLoopBackOff", "/healthz", "spec.containers{cart}",
	"ignored.example.com", "default", "Bucket", "20Gi", "ssd",
}

func TestConvertGivesTheContractRecordOfEveryKind(t *testing.T) {
	g := NewWithT(t)
	seen := map[transport.Kind]bool{}
	for _, tc := range kindCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			obj := tc.obj()
			pristine := obj.DeepCopyObject()

			kind, ok := convert.KindOf(obj)
			g.Expect(ok).To(BeTrue())
			g.Expect(kind).To(Equal(tc.kind))

			rec, err := convert.Convert(obj)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rec).To(Equal(tc.want()))
			g.Expect(rec.Kind()).To(Equal(tc.kind))
			g.Expect(tc.direct(obj)).To(Equal(tc.want()))
			g.Expect(obj).To(Equal(pristine), "the source object must not be modified")

			body, err := json.Marshal(rec)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(platform.ValidateRecord(string(tc.kind), body)).To(Succeed(), string(body))
			for _, s := range neverSent {
				g.Expect(string(body)).NotTo(ContainSubstring(s))
			}
			g.Expect(string(body)).To(ContainSubstring(`"k8s_created_at":"2025-11-20T14:03:11Z"`))
			var m map[string]any
			g.Expect(json.Unmarshal(body, &m)).To(Succeed())
			if tc.kind.ClusterScoped() {
				g.Expect(m).NotTo(HaveKey("namespace"))
			} else {
				g.Expect(m).To(HaveKeyWithValue("namespace", "shop"))
			}
			if tc.kind == transport.KindEvent {
				g.Expect(m).NotTo(HaveKey("labels"))
				g.Expect(m).NotTo(HaveKey("annotations"))
			} else {
				g.Expect(m).To(HaveKey("labels"))
				g.Expect(m["annotations"]).To(HaveLen(3))
			}
		})
		seen[tc.kind] = true
	}
	g.Expect(seen).To(HaveLen(len(transport.Kinds)))
}

func TestConvertRejectsWhatIsNotAContractObject(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  runtime.Object
	}{
		{"an events.k8s.io Event is not the contract's core Event", &eventsv1.Event{}},
		{"an Endpoints object is not collected", &corev1.Endpoints{}},
		{"a list is not an object", &corev1.PodList{}},
		{"a nil interface has no kind", nil},
		{"a nil pod pointer has nothing to convert", (*corev1.Pod)(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rec, err := convert.Convert(tc.obj)
			g.Expect(err).To(HaveOccurred())
			g.Expect(rec).To(BeNil())
			if tc.obj != nil && !reflect.ValueOf(tc.obj).IsNil() {
				_, ok := convert.KindOf(tc.obj)
				g.Expect(ok).To(BeFalse())
			}
		})
	}
}

func TestFilterAnnotationsFollowsThePrefixRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{"kubectl and kubernetes.io keys are dropped, subdomains of them are kept",
			annotations(), keptAnnotations()},
		{"keys that only contain the prefixes later, or differ in case, are kept",
			map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "Kubernetes.io/x": "1", "x/kubernetes.io/y": "2"},
			map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "Kubernetes.io/x": "1", "x/kubernetes.io/y": "2"}},
		{"nothing survives when every key is filtered",
			map[string]string{"kubectl.kubernetes.io/restartedAt": "now", "kubernetes.io/psp": "p"}, nil},
		{"an empty map gives nil", map[string]string{}, nil},
		{"nil gives nil", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			in := make(map[string]string, len(tc.in))
			for k, v := range tc.in {
				in[k] = v
			}
			got := convert.FilterAnnotations(tc.in)
			if tc.want == nil {
				g.Expect(got).To(BeNil())
			} else {
				g.Expect(got).To(Equal(tc.want))
			}
			if len(tc.in) > 0 {
				g.Expect(tc.in).To(Equal(in), "the input must not be modified")
			}
		})
	}
	t.Run("a map with nothing to drop is returned as is, without a copy", func(t *testing.T) {
		g := NewWithT(t)
		in := map[string]string{"owner": "x", "app.kubernetes.io/name": "y"}
		got := convert.FilterAnnotations(in)
		g.Expect(reflect.ValueOf(got).UnsafePointer()).To(Equal(reflect.ValueOf(in).UnsafePointer()))
	})
}

func TestAnAllFilteredAnnotationSetLeavesTheKeyOut(t *testing.T) {
	g := NewWithT(t)
	d := fullDeployment()
	d.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "kubernetes.io/change-cause": "x"}
	body, err := json.Marshal(convert.Deployment(d))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(body)).NotTo(ContainSubstring(`"annotations"`))
	d.Labels = map[string]string{}
	body, _ = json.Marshal(convert.Deployment(d))
	g.Expect(string(body)).NotTo(ContainSubstring(`"labels"`))
}

// recordJSON converts obj and returns its JSON, after checking it against the simulator's
// schema.
func recordJSON(g Gomega, obj runtime.Object) string {
	rec, err := convert.Convert(obj)
	g.Expect(err).NotTo(HaveOccurred())
	body, err := json.Marshal(rec)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(platform.ValidateRecord(string(rec.Kind()), body)).To(Succeed(), string(body))
	return string(body)
}

func TestUnsetCountsDefaultToOne(t *testing.T) {
	g := NewWithT(t)
	d := fullDeployment()
	d.Spec.Replicas = nil
	g.Expect(convert.Deployment(d).Replicas).To(Equal(int32(1)))
	d.Spec.Replicas = ptr(int32(0))
	g.Expect(recordJSON(g, d)).To(ContainSubstring(`"replicas":0,`), "an explicit 0 is kept")

	s := fullStatefulSet()
	s.Spec.Replicas = nil
	g.Expect(convert.StatefulSet(s).Replicas).To(Equal(int32(1)))

	j := fullJob()
	j.Spec.Completions, j.Spec.Parallelism = nil, nil
	j.OwnerReferences = nil
	j.Status = batchv1.JobStatus{}
	body := recordJSON(g, j)
	g.Expect(body).To(ContainSubstring(`"completions":1,"parallelism":1,"succeeded":0,"failed":0,"active":0,"k8s_created_at"`))
	g.Expect(body).NotTo(ContainSubstring("owner_ref"))
}

func TestCronJobDefaultsAreWritten(t *testing.T) {
	g := NewWithT(t)
	c := fullCronJob()
	c.Spec.Suspend = nil
	c.Spec.ConcurrencyPolicy = ""
	c.Status = batchv1.CronJobStatus{}
	g.Expect(recordJSON(g, c)).To(HaveSuffix(`"schedule":"*/5 * * * *","suspend":false,"active_jobs":0,"k8s_created_at":"2025-11-20T14:03:11Z"}`))
}

func TestRunAsRootIsTrueOrAbsent(t *testing.T) {
	for _, tc := range []struct {
		name string
		sc   *corev1.SecurityContext
		want string // the security_context JSON, "" for no key
	}{
		{"runAsUser 0 runs as root", &corev1.SecurityContext{RunAsUser: ptr(int64(0))}, `{"run_as_root":true}`},
		{"an explicit runAsNonRoot false runs as root", &corev1.SecurityContext{RunAsNonRoot: ptr(false)}, `{"run_as_root":true}`},
		{"runAsUser 0 wins over runAsNonRoot true", &corev1.SecurityContext{RunAsUser: ptr(int64(0)), RunAsNonRoot: ptr(true)}, `{"run_as_root":true}`},
		{"a non-zero user is never written as false", &corev1.SecurityContext{RunAsUser: ptr(int64(1000))}, `{}`},
		{"runAsNonRoot true alone leaves the key out", &corev1.SecurityContext{RunAsNonRoot: ptr(true)}, `{}`},
		{"an explicit privileged false is written", &corev1.SecurityContext{Privileged: ptr(false)}, `{"privileged":false}`},
		{"privileged true is written", &corev1.SecurityContext{Privileged: ptr(true)}, `{"privileged":true}`},
		{"the drop list is not sent and an empty add list leaves the key out",
			&corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}, `{}`},
		{"an empty security context is written as {}", &corev1.SecurityContext{}, `{}`},
		{"no security context leaves the key out", nil, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := fullPod()
			p.Spec.Containers = []corev1.Container{{Name: "c", Image: "i", SecurityContext: tc.sc}}
			body := recordJSON(g, p)
			if tc.want == "" {
				g.Expect(body).NotTo(ContainSubstring("security_context"))
			} else {
				g.Expect(body).To(ContainSubstring(`"security_context":` + tc.want + `}`))
			}
		})
	}
}

func TestVolumeTypesFollowTheContractsPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  corev1.VolumeSource
		want string
	}{
		{"emptyDir has no source", corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}, `{"name":"v","type":"emptyDir"}`},
		{"emptyDir wins over a configMap set alongside",
			corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, ConfigMap: &corev1.ConfigMapVolumeSource{}}, `{"name":"v","type":"emptyDir"}`},
		{"configMap names the configMap",
			corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}, `{"name":"v","type":"configMap","source":"cm"}`},
		{"secret names the secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}, `{"name":"v","type":"secret","source":"s"}`},
		{"pvc names the claim",
			corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}, `{"name":"v","type":"pvc","source":"c"}`},
		{"hostPath gives the path", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}, `{"name":"v","type":"hostPath","source":"/var/log"}`},
		{"projected has no source", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}, `{"name":"v","type":"projected"}`},
		{"downwardAPI has no source", corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}, `{"name":"v","type":"downwardAPI"}`},
		{"csi gives the driver", corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "d.example.com"}}, `{"name":"v","type":"csi","source":"d.example.com"}`},
		{"nfs gives server:path", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/x"}}, `{"name":"v","type":"nfs","source":"nfs:/x"}`},
		{"ephemeral has no source", corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}, `{"name":"v","type":"ephemeral"}`},
		{"any other source is unknown", corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{}}, `{"name":"v","type":"unknown"}`},
		{"no source at all is unknown", corev1.VolumeSource{}, `{"name":"v","type":"unknown"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := fullPod()
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: tc.src}}
			g.Expect(recordJSON(g, p)).To(ContainSubstring(`"volumes":[` + tc.want + `]`))
		})
	}
}

func TestAContainerWithoutStatusIsNotReadyAndHasNoState(t *testing.T) {
	g := NewWithT(t)
	p := fullPod()
	p.Status = corev1.PodStatus{}
	p.Spec.InitContainers = nil
	p.Spec.Containers = []corev1.Container{{Name: "c", Image: "i"}}
	p.Spec.Volumes = nil
	g.Expect(recordJSON(g, p)).To(ContainSubstring(
		`"containers":[{"name":"c","image":"i","ready":false,"restart_count":0,"resources":{}}],"k8s_created_at"`))
}

func TestANodeIsNotReadyUnlessItsReadyConditionIsTrue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conds []corev1.NodeCondition
	}{
		{"a False Ready condition", []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}},
		{"an Unknown Ready condition", []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}},
		{"no Ready condition, other conditions True", []corev1.NodeCondition{{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue}}},
		{"no conditions at all", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			n := fullNode()
			n.Status.Conditions = tc.conds
			n.Status.Capacity = nil
			n.Labels = map[string]string{"node-role.kubernetes.io/worker": ""}
			g.Expect(recordJSON(g, n)).To(ContainSubstring(
				`"status":"NotReady","roles":["worker"],"kubelet_version"`))
			g.Expect(recordJSON(g, n)).To(ContainSubstring(
				`"cpu_capacity":"0","memory_capacity":"0","pod_capacity":"0"`))
		})
	}
	t.Run("a node without role labels has no roles key", func(t *testing.T) {
		g := NewWithT(t)
		n := fullNode()
		n.Labels = map[string]string{"kubernetes.io/hostname": "n"}
		g.Expect(recordJSON(g, n)).NotTo(ContainSubstring("roles"))
	})
}

func TestEmptySelectorsAndListsLeaveTheirKeysOut(t *testing.T) {
	g := NewWithT(t)
	np := fullNetworkPolicy()
	np.Spec = networkingv1.NetworkPolicySpec{}
	g.Expect(recordJSON(g, np)).To(HaveSuffix(`"ingress_rules":0,"egress_rules":0,"k8s_created_at":"2025-11-20T14:03:11Z"}`))

	d := fullDeployment()
	d.Spec.Selector = nil
	d.Spec.Template.Spec.Containers = nil
	d.Spec.Strategy.Type = ""
	g.Expect(recordJSON(g, d)).To(HaveSuffix(`"updated_replicas":1,"k8s_created_at":"2025-11-20T14:03:11Z"}`))

	ing := fullIngress()
	ing.Spec = networkingv1.IngressSpec{}
	ing.Status = networkingv1.IngressStatus{}
	g.Expect(recordJSON(g, ing)).To(HaveSuffix(`"annotations":{"app.kubernetes.io/name":"cart","deployment.kubernetes.io/revision":"3","owner":"payments@example.com"},"k8s_created_at":"2025-11-20T14:03:11Z"}`))

	sa := fullServiceAccount()
	sa.AutomountServiceAccountToken, sa.Secrets, sa.ImagePullSecrets = nil, nil, nil
	g.Expect(recordJSON(g, sa)).NotTo(ContainSubstring("automount"))
	g.Expect(recordJSON(g, sa)).NotTo(ContainSubstring("secrets"))
	sa.AutomountServiceAccountToken = ptr(true)
	g.Expect(recordJSON(g, sa)).To(ContainSubstring(`"automount_service_account_token":true`))

	cm := fullConfigMap()
	cm.Data, cm.BinaryData, cm.Immutable = nil, nil, nil
	g.Expect(recordJSON(g, cm)).To(ContainSubstring(`"immutable":false`))
	g.Expect(recordJSON(g, cm)).NotTo(ContainSubstring("keys"))
}

func TestARoleWithoutResourcesWritesAnEmptyArray(t *testing.T) {
	g := NewWithT(t)
	r := fullClusterRole()
	r.Rules = []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}}
	g.Expect(recordJSON(g, r)).To(ContainSubstring(`"is_cluster":true,"rule_count":1,"resources":[],`))
	r.Rules = nil
	g.Expect(recordJSON(g, r)).To(ContainSubstring(`"is_cluster":true,"rule_count":0,"resources":[],`))
	rb := fullRoleBinding()
	rb.Subjects = nil
	g.Expect(recordJSON(g, rb)).To(ContainSubstring(`"is_cluster":false,"role_ref":{"kind":"Role","name":"reader"},"k8s_created_at"`))
}

func TestAnEventWithoutTimestampsLeavesThemOut(t *testing.T) {
	g := NewWithT(t)
	e := fullEvent()
	e.FirstTimestamp, e.LastTimestamp = metav1.Time{}, metav1.Time{}
	e.Source = corev1.EventSource{}
	e.Count = 0
	e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "n"}
	g.Expect(recordJSON(g, e)).To(Equal(`{"uid":"uid-cart-1.17a","name":"cart-1.17a","namespace":"shop","type":"Warning",` +
		`"reason":"BackOff","message":"Back-off restarting failed container \u003ccart\u003e \u0026 more",` +
		`"involved_object":{"kind":"Node","name":"n"},"source":{},"count":0,"k8s_created_at":"2025-11-20T14:03:11Z"}`))
}

// TestNoSecretOrEnvValueEverReachesTheJSON converts objects whose every value field holds a
// marker and checks the marker is absent from the bytes.
func TestNoSecretOrEnvValueEverReachesTheJSON(t *testing.T) {
	g := NewWithT(t)
	const marker = "NEVER-SEND-THIS"
	p := fullPod()
	for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for i := range cs {
			cs[i].Env = append(cs[i].Env,
				corev1.EnvVar{Name: "PLAIN", Value: marker},
				corev1.EnvVar{Name: "FROM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: marker}, Key: marker}}},
				corev1.EnvVar{Name: "FIELD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: marker}}})
			cs[i].EnvFrom = append(cs[i].EnvFrom, corev1.EnvFromSource{Prefix: marker,
				SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: marker}}})
		}
	}
	s := fullSecret()
	s.Data["k"] = []byte(marker)
	s.StringData["k2"] = marker
	cm := fullConfigMap()
	cm.Data["k"] = marker
	cm.BinaryData["b"] = []byte(marker)
	for _, obj := range []runtime.Object{p, s, cm} {
		body := recordJSON(g, obj)
		g.Expect(body).NotTo(ContainSubstring(marker))
		g.Expect(strings.ToLower(body)).NotTo(ContainSubstring("never-send"))
		g.Expect(body).NotTo(ContainSubstring("valueFrom"))
		g.Expect(body).NotTo(ContainSubstring("value_from"))
	}
	g.Expect(recordJSON(g, p)).To(ContainSubstring(`"env_var_names":["DB_HOST","DB_PASSWORD","PLAIN","FROM","FIELD"]`))
}

func TestQuantitiesAreWrittenInCanonicalForm(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0.1", "100m"},
		{"100m", "100m"},
		{"1000m", "1"},
		{"134217728", "134217728"},
		{"128Mi", "128Mi"},
		{"1536Mi", "1536Mi"},
		{"1.5Gi", "1536Mi"},
		{"16318876Ki", "16318876Ki"},
		{"1e3", "1e3"},
		{"0", "0"},
		{"-1Gi", "-1Gi"},
		// Spellings Quantity.String() keeps as written, re-formatted.
		{"1E3", "1e3"},
		{"1e03", "1e3"},
		{"+5", "5"},
		{"05", "5"},
		{"01Ki", "1Ki"},
		{"+1Ki", "1Ki"},
		{"1E-3", "1e-3"},
	} {
		t.Run(tc.in+" is written as "+tc.want, func(t *testing.T) {
			g := NewWithT(t)
			q := resource.MustParse(tc.in)
			canon := q.DeepCopy()
			var buf [32]byte
			n, suffix := canon.CanonicalizeBytes(buf[:0])
			g.Expect(string(n)+string(suffix)).To(Equal(tc.want), "the expectation is CanonicalizeBytes")
			p := fullPod()
			p.Spec.Containers = []corev1.Container{{Name: "c", Image: "i", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: q}}}}
			g.Expect(recordJSON(g, p)).To(ContainSubstring(`"resources":{"memory_request":"` + tc.want + `"}`))
		})
	}
}
