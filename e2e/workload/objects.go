package workload

import (
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kindSpec is how the helpers build, change and read one kind.
type kindSpec struct {
	prefix        string // default name prefix
	clusterScoped bool
	newObject     func() client.Object
	// build returns the i-th new object of a Create call, metadata included.
	build func(b *builder, i int) client.Object
	// initStatus sets the status written right after creation; nil writes none.
	initStatus func(obj client.Object, i int)
	// mutate changes spec or metadata for mutation number gen (GenerationLabel is set by
	// Mutate itself); nil changes nothing else.
	mutate func(obj client.Object, gen int)
	// mutateStatus changes the status for mutation number gen; nil changes none.
	mutateStatus func(obj client.Object, gen int)
}

// kinds holds one entry for each of the 20 contract kinds.
var kinds = map[string]kindSpec{
	"Namespace": {
		prefix: "ns", clusterScoped: true,
		newObject: func() client.Object { return &corev1.Namespace{} },
		build: func(b *builder, i int) client.Object {
			return &corev1.Namespace{ObjectMeta: b.meta(i)}
		},
		mutate: func(o client.Object, gen int) {
			setAnnotation(o, "workload.obsyk.io/note", fmt.Sprintf("mutation %d", gen))
		},
	},
	"Pod": {
		prefix:     "pod",
		newObject:  func() client.Object { return &corev1.Pod{} },
		build:      buildPod,
		initStatus: podStatus,
		mutate: func(o client.Object, gen int) {
			p := o.(*corev1.Pod)
			p.Spec.Containers[0].Image = withTag(p.Spec.Containers[0].Image, gen)
		},
		mutateStatus: func(o client.Object, gen int) {
			p := o.(*corev1.Pod)
			for i := range p.Status.ContainerStatuses {
				if p.Status.ContainerStatuses[i].Name == p.Spec.Containers[0].Name {
					p.Status.ContainerStatuses[i].RestartCount++
				}
			}
		},
	},
	"Service": {
		prefix:    "svc",
		newObject: func() client.Object { return &corev1.Service{} },
		build:     buildService,
		mutate: func(o client.Object, gen int) {
			s := o.(*corev1.Service)
			if s.Spec.Selector == nil {
				s.Spec.Selector = map[string]string{}
			}
			s.Spec.Selector["version"] = fmt.Sprintf("v%d", gen)
			if len(s.Spec.Ports) > 0 {
				s.Spec.Ports[0].TargetPort = intstr.FromInt32(int32(8080 + gen))
			}
		},
	},
	"Node": {
		prefix: "node", clusterScoped: true,
		newObject:  func() client.Object { return &corev1.Node{} },
		build:      buildNode,
		initStatus: nodeStatus,
		mutateStatus: func(o client.Object, gen int) {
			n := o.(*corev1.Node)
			setNodeCapacity(n, gen)
		},
	},
	"Deployment": {
		prefix:    "deploy",
		newObject: func() client.Object { return &appsv1.Deployment{} },
		build:     buildDeployment,
		initStatus: func(o client.Object, _ int) {
			d := o.(*appsv1.Deployment)
			r := *d.Spec.Replicas
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: r, ReadyReplicas: r,
				AvailableReplicas: r, UpdatedReplicas: r,
			}
		},
		mutate: func(o client.Object, gen int) {
			d := o.(*appsv1.Deployment)
			d.Spec.Replicas = ptrTo(nextReplicas(d.Spec.Replicas))
			bumpImage(&d.Spec.Template, gen)
		},
	},
	"StatefulSet": {
		prefix:    "sts",
		newObject: func() client.Object { return &appsv1.StatefulSet{} },
		build:     buildStatefulSet,
		initStatus: func(o client.Object, _ int) {
			s := o.(*appsv1.StatefulSet)
			r := *s.Spec.Replicas
			s.Status = appsv1.StatefulSetStatus{
				ObservedGeneration: s.Generation, Replicas: r, ReadyReplicas: r,
				CurrentReplicas: r, UpdatedReplicas: r, AvailableReplicas: r,
				CurrentRevision: s.Name + "-7d9f8c6b5", UpdateRevision: s.Name + "-7d9f8c6b5",
			}
		},
		mutate: func(o client.Object, gen int) {
			s := o.(*appsv1.StatefulSet)
			s.Spec.Replicas = ptrTo(nextReplicas(s.Spec.Replicas))
			bumpImage(&s.Spec.Template, gen)
		},
	},
	"DaemonSet": {
		prefix:    "ds",
		newObject: func() client.Object { return &appsv1.DaemonSet{} },
		build:     buildDaemonSet,
		initStatus: func(o client.Object, i int) {
			d := o.(*appsv1.DaemonSet)
			n := int32(3 + i%3)
			d.Status = appsv1.DaemonSetStatus{
				ObservedGeneration: d.Generation, DesiredNumberScheduled: n, CurrentNumberScheduled: n,
				NumberReady: n, NumberAvailable: n, UpdatedNumberScheduled: n,
			}
		},
		mutate: func(o client.Object, gen int) {
			d := o.(*appsv1.DaemonSet)
			bumpImage(&d.Spec.Template, gen)
			if d.Spec.Template.Spec.NodeSelector == nil {
				d.Spec.Template.Spec.NodeSelector = map[string]string{}
			}
			d.Spec.Template.Spec.NodeSelector["workload.obsyk.io/pool"] = fmt.Sprintf("pool-%d", gen)
		},
	},
	"Job": {
		prefix:    "job",
		newObject: func() client.Object { return &batchv1.Job{} },
		build:     buildJob,
		mutate: func(o client.Object, _ int) {
			j := o.(*batchv1.Job)
			p := int32(1)
			if j.Spec.Parallelism != nil {
				p = *j.Spec.Parallelism%4 + 1
			}
			j.Spec.Parallelism = &p
		},
	},
	"CronJob": {
		prefix:    "cj",
		newObject: func() client.Object { return &batchv1.CronJob{} },
		build:     buildCronJob,
		initStatus: func(o client.Object, i int) {
			c := o.(*batchv1.CronJob)
			c.Status.LastScheduleTime = &metav1.Time{Time: time.Now().Add(-time.Duration(5+i%50) * time.Minute).Truncate(time.Second)}
		},
		mutate: func(o client.Object, _ int) {
			c := o.(*batchv1.CronJob)
			next := 0
			for i, s := range schedules {
				if s == c.Spec.Schedule {
					next = (i + 1) % len(schedules)
				}
			}
			c.Spec.Schedule = schedules[next]
			c.Spec.Suspend = ptrTo(c.Spec.Suspend == nil || !*c.Spec.Suspend)
		},
	},
	"Ingress": {
		prefix:    "ing",
		newObject: func() client.Object { return &networkingv1.Ingress{} },
		build:     buildIngress,
		initStatus: func(o client.Object, i int) {
			in := o.(*networkingv1.Ingress)
			in.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{
				{IP: fmt.Sprintf("203.0.113.%d", 1+i%250)},
				{Hostname: fmt.Sprintf("lb-%d.elb.example.net", i)},
			}
		},
		mutate: func(o client.Object, gen int) {
			in := o.(*networkingv1.Ingress)
			host := fmt.Sprintf("%s-v%d.shop.example.com", in.Name, gen)
			if len(in.Spec.Rules) == 0 {
				in.Spec.Rules = []networkingv1.IngressRule{{}}
			}
			in.Spec.Rules[0].Host = host
			if len(in.Spec.TLS) > 0 {
				in.Spec.TLS[0].Hosts = []string{host}
			}
		},
	},
	"NetworkPolicy": {
		prefix:    "netpol",
		newObject: func() client.Object { return &networkingv1.NetworkPolicy{} },
		build:     buildNetworkPolicy,
		mutate: func(o client.Object, gen int) {
			np := o.(*networkingv1.NetworkPolicy)
			if np.Spec.PodSelector.MatchLabels == nil {
				np.Spec.PodSelector.MatchLabels = map[string]string{}
			}
			np.Spec.PodSelector.MatchLabels["version"] = fmt.Sprintf("v%d", gen)
			if len(np.Spec.PolicyTypes) == 1 {
				np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
			} else {
				np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			}
		},
	},
	"ConfigMap": {
		prefix:    "cm",
		newObject: func() client.Object { return &corev1.ConfigMap{} },
		build:     buildConfigMap,
		mutate: func(o client.Object, gen int) {
			cm := o.(*corev1.ConfigMap)
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			delete(cm.Data, fmt.Sprintf("generation-%d", gen-1))
			cm.Data[fmt.Sprintf("generation-%d", gen)] = fmt.Sprintf("value %d", gen)
		},
	},
	"Secret": {
		prefix:    "secret",
		newObject: func() client.Object { return &corev1.Secret{} },
		build:     buildSecret,
		mutate: func(o client.Object, gen int) {
			s := o.(*corev1.Secret)
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			delete(s.Data, fmt.Sprintf("generation-%d", gen-1))
			s.Data[fmt.Sprintf("generation-%d", gen)] = []byte(fmt.Sprintf("s3cr3t-%d", gen))
		},
	},
	"PersistentVolumeClaim": {
		prefix:    "pvc",
		newObject: func() client.Object { return &corev1.PersistentVolumeClaim{} },
		build:     buildPVC,
		initStatus: func(o client.Object, _ int) {
			p := o.(*corev1.PersistentVolumeClaim)
			p.Status.Phase = corev1.ClaimBound
			p.Status.AccessModes = p.Spec.AccessModes
			p.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: p.Spec.Resources.Requests[corev1.ResourceStorage]}
		},
		mutateStatus: func(o client.Object, gen int) {
			p := o.(*corev1.PersistentVolumeClaim)
			if gen%2 == 1 {
				p.Status.Phase = corev1.ClaimPending
			} else {
				p.Status.Phase = corev1.ClaimBound
			}
		},
	},
	"ServiceAccount": {
		prefix:    "sa",
		newObject: func() client.Object { return &corev1.ServiceAccount{} },
		build:     buildServiceAccount,
		mutate: func(o client.Object, gen int) {
			sa := o.(*corev1.ServiceAccount)
			sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}, {Name: fmt.Sprintf("regcred-%d", gen)}}
			sa.AutomountServiceAccountToken = ptrTo(sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken)
		},
	},
	"Role": {
		prefix:    "role",
		newObject: func() client.Object { return &rbacv1.Role{} },
		build: func(b *builder, i int) client.Object {
			return &rbacv1.Role{ObjectMeta: b.meta(i), Rules: rules(i, false)}
		},
		mutate: func(o client.Object, gen int) {
			r := o.(*rbacv1.Role)
			r.Rules = mutateRules(r.Rules, gen)
		},
	},
	"ClusterRole": {
		prefix: "crole", clusterScoped: true,
		newObject: func() client.Object { return &rbacv1.ClusterRole{} },
		build: func(b *builder, i int) client.Object {
			return &rbacv1.ClusterRole{ObjectMeta: b.meta(i), Rules: rules(i, true)}
		},
		mutate: func(o client.Object, gen int) {
			r := o.(*rbacv1.ClusterRole)
			r.Rules = mutateRules(r.Rules, gen)
		},
	},
	"RoleBinding": {
		prefix:    "rb",
		newObject: func() client.Object { return &rbacv1.RoleBinding{} },
		build: func(b *builder, i int) client.Object {
			return &rbacv1.RoleBinding{
				ObjectMeta: b.meta(i),
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: fmt.Sprintf("role-reader-%d", i)},
				Subjects:   subjects(b.namespace, i),
			}
		},
		mutate: func(o client.Object, gen int) {
			rb := o.(*rbacv1.RoleBinding)
			rb.Subjects = mutatedSubjects(rb.Namespace, gen)
		},
	},
	"ClusterRoleBinding": {
		prefix: "crb", clusterScoped: true,
		newObject: func() client.Object { return &rbacv1.ClusterRoleBinding{} },
		build: func(b *builder, i int) client.Object {
			return &rbacv1.ClusterRoleBinding{
				ObjectMeta: b.meta(i),
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: []string{"view", "edit", "admin"}[i%3]},
				Subjects:   subjects("default", i),
			}
		},
		mutate: func(o client.Object, gen int) {
			crb := o.(*rbacv1.ClusterRoleBinding)
			crb.Subjects = mutatedSubjects("default", gen)
		},
	},
	"Event": {
		prefix:    "ev",
		newObject: func() client.Object { return &corev1.Event{} },
		build:     buildEvent,
		mutate: func(o client.Object, gen int) {
			e := o.(*corev1.Event)
			e.Message = fmt.Sprintf("Back-off restarting failed container app (seen %d times, mutation %d)", e.Count+1, gen)
			e.Count++
			e.LastTimestamp = metav1.Now()
		},
	},
}

// builder carries what every object of one Create call shares.
type builder struct {
	kind      string
	namespace string // empty for cluster-scoped kinds
	batch     string // random, shared by the call's objects
	prefix    string
	labels    map[string]string // extra labels from Options
	node      string            // Pods' node
	sa        string            // Pods' service account
	owner     *metav1.OwnerReference
}

var (
	components = []string{"api", "worker", "cache", "frontend"}
	teams      = []string{"payments", "checkout", "search", "platform"}
	schedules  = []string{"*/5 * * * *", "0 * * * *", "30 2 * * *", "0 4 * * 1", "15 */6 * * *"}
)

func (b *builder) name(i int) string { return fmt.Sprintf("%s-%s-%d", b.prefix, b.batch, i) }

func (b *builder) component(i int) string { return components[i%len(components)] }

// meta returns the i-th object's metadata: ~8 realistic labels, annotations of which the
// contract filters some (§5.4), and the owner reference.
func (b *builder) meta(i int) metav1.ObjectMeta {
	name := b.name(i)
	labels := map[string]string{
		"app.kubernetes.io/name":       b.prefix,
		"app.kubernetes.io/instance":   name,
		"app.kubernetes.io/component":  b.component(i),
		"app.kubernetes.io/part-of":    "shop",
		"app.kubernetes.io/managed-by": "obsyk-workload",
		"app.kubernetes.io/version":    "1.0.0",
		"team":                         teams[i%len(teams)],
		"environment":                  "staging",
		GenerationLabel:                "0",
		BatchLabel:                     b.batch,
	}
	maps.Copy(labels, b.labels)
	m := metav1.ObjectMeta{
		Name:      name,
		Namespace: b.namespace,
		Labels:    labels,
		Annotations: map[string]string{
			// Filtered by the contract.
			"kubectl.kubernetes.io/last-applied-configuration": fmt.Sprintf(`{"kind":%q,"metadata":{"name":%q}}`, b.kind, name),
			"kubernetes.io/change-cause":                       "workload create --batch " + b.batch,
			// Kept by the contract.
			"app.kubernetes.io/created-by": "obsyk-workload",
			"prometheus.io/scrape":         "true",
			"obsyk.io/contact":             "<" + teams[i%len(teams)] + "@example.com> & on-call",
		},
	}
	if b.owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*b.owner}
	}
	return m
}

func setAnnotation(o client.Object, key, value string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	o.SetAnnotations(a)
}

// withTag replaces image's tag with one derived from gen ("1.<gen>.0").
func withTag(image string, gen int) string {
	tag := fmt.Sprintf("1.%d.0", gen)
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image + ":" + tag
	}
	return image[:i+1] + tag
}

func bumpImage(t *corev1.PodTemplateSpec, gen int) {
	t.Spec.Containers[0].Image = withTag(t.Spec.Containers[0].Image, gen)
}

// nextReplicas cycles 1..5, so each call gives a value different from the current one.
func nextReplicas(r *int32) int32 {
	if r == nil {
		return 2
	}
	return *r%5 + 1
}

func qty(s string) resource.Quantity { return resource.MustParse(s) }

// resources gives Guaranteed pods every fourth index (limits equal to requests) and Burstable
// ones otherwise; an ephemeral-storage request (which the contract drops) is always present.
func resources(i int, cpu, mem string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: qty(cpu), corev1.ResourceMemory: qty(mem)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: qty(mem)},
	}
	if i%4 == 0 {
		r.Limits[corev1.ResourceCPU] = qty(cpu)
	} else {
		r.Limits[corev1.ResourceMemory] = qty("512Mi")
		r.Requests[corev1.ResourceEphemeralStorage] = qty("1Gi")
	}
	return r
}

// containers returns an app container and a proxy sidecar. full adds mounts for all of the
// pod volumes that buildPod declares; otherwise only "config" and "cache" are mounted.
func (b *builder) containers(i int, full bool) []corev1.Container {
	cfg := b.name(i) + "-config"
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: "/etc/app", ReadOnly: true},
		{Name: "cache", MountPath: "/var/cache/app"},
	}
	if full {
		mounts = append(mounts,
			corev1.VolumeMount{Name: "creds", MountPath: "/etc/creds", ReadOnly: true},
			corev1.VolumeMount{Name: "data", MountPath: "/var/lib/app", SubPath: "db"},
			corev1.VolumeMount{Name: "podinfo", MountPath: "/etc/podinfo", ReadOnly: true},
			corev1.VolumeMount{Name: "bundle", MountPath: "/var/run/bundle", ReadOnly: true},
		)
	}
	return []corev1.Container{
		{
			Name:  "app",
			Image: fmt.Sprintf("registry.example.com/shop/%s:1.0.0", b.component(i)),
			Args:  []string{"--listen=:8080", "--metrics=:9090"},
			Ports: []corev1.ContainerPort{
				{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: 9090},
			},
			EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cfg}}}},
			Env: []corev1.EnvVar{
				{Name: "LOG_LEVEL", Value: "info"},
				{Name: "DB_HOST", Value: "postgres.shop.svc.cluster.local"},
				{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: b.name(i) + "-db"}, Key: "password"}}},
				{Name: "FEATURE_FLAGS", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: cfg}, Key: "flags"}}},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
			Resources:    resources(i, "100m", "128Mi"),
			VolumeMounts: mounts,
			SecurityContext: &corev1.SecurityContext{
				Privileged:               ptrTo(false),
				RunAsNonRoot:             ptrTo(true),
				AllowPrivilegeEscalation: ptrTo(false),
				ReadOnlyRootFilesystem:   ptrTo(true),
				Capabilities: &corev1.Capabilities{
					Add:  []corev1.Capability{"NET_BIND_SERVICE"},
					Drop: []corev1.Capability{"ALL"},
				},
			},
		},
		{
			Name:         "proxy",
			Image:        "registry.example.com/mesh/proxy:1.0.0",
			Ports:        []corev1.ContainerPort{{Name: "admin", ContainerPort: 15000, Protocol: corev1.ProtocolTCP}},
			Env:          []corev1.EnvVar{{Name: "PROXY_MODE", Value: "sidecar"}},
			Resources:    resources(i, "50m", "64Mi"),
			VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/var/cache/proxy"}},
			SecurityContext: &corev1.SecurityContext{
				RunAsUser:    ptrTo(int64(0)),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}},
			},
		},
	}
}

func (b *builder) template(i int, labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"prometheus.io/scrape": "true"}},
		Spec: corev1.PodSpec{
			Containers: b.containers(i, false),
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: b.name(i) + "-config"}}}},
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}

func selectorLabels(name string) map[string]string {
	return map[string]string{"app.kubernetes.io/instance": name}
}

func buildPod(b *builder, i int) client.Object {
	name := b.name(i)
	hostPathType := corev1.HostPathDirectoryOrCreate
	return &corev1.Pod{
		ObjectMeta: b.meta(i),
		Spec: corev1.PodSpec{
			NodeName:                     b.node,
			ServiceAccountName:           b.sa,
			AutomountServiceAccountToken: ptrTo(false),
			InitContainers: []corev1.Container{{
				Name:         "migrate",
				Image:        fmt.Sprintf("registry.example.com/shop/%s-migrate:1.0.0", b.component(i)),
				Command:      []string{"/migrate", "up"},
				Resources:    resources(i, "10m", "32Mi"),
				VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app", ReadOnly: true}},
			}},
			Containers: b.containers(i, true),
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: name + "-config"}}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name + "-db"}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name + "-data"}}},
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptrTo(qty("256Mi"))}}},
				{Name: "logs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log/pods", Type: &hostPathType}}},
				{Name: "bundle", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptrTo(int64(3600))}},
				}}}},
				{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				}}}},
				{Name: "secrets-store", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
					Driver: "secrets-store.csi.k8s.io", ReadOnly: ptrTo(true),
					VolumeAttributes: map[string]string{"secretProviderClass": "shop"}}}},
				{Name: "shared", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example.com", Path: "/exports/shop"}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
					VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: qty("1Gi")}},
					}}}}},
			},
			SecurityContext: &corev1.PodSecurityContext{FSGroup: ptrTo(int64(2000))},
			Tolerations:     []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "shop", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

// podStatus is what a kubelet would have reported: Running, with every fifth pod's app
// container in CrashLoopBackOff.
func podStatus(o client.Object, i int) {
	p := o.(*corev1.Pod)
	start := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	crashing := i%5 == 4
	ready := corev1.ConditionTrue
	if crashing {
		ready = corev1.ConditionFalse
	}
	hostIP := fmt.Sprintf("10.0.%d.%d", i/250%250, 1+i%250)
	podIP := fmt.Sprintf("10.244.%d.%d", i/250%250, 1+i%250)
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP, p.Status.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	p.Status.PodIP, p.Status.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	p.Status.StartTime = &start
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: start},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: start},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: start},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: start},
	}
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{
		Name: p.Spec.InitContainers[0].Name, Image: p.Spec.InitContainers[0].Image, Ready: true,
		ImageID: "registry.example.com/shop/migrate@sha256:" + strings.Repeat("ab", 32),
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 0, Reason: "Completed", StartedAt: start, FinishedAt: start}},
	}}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		cs := corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: ptrTo(true),
			ImageID:     "registry.example.com/img@sha256:" + strings.Repeat("cd", 32),
			ContainerID: "containerd://" + strings.Repeat("0f", 32),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}},
		}
		if crashing && c.Name == "app" {
			cs.Ready, cs.Started, cs.RestartCount = false, ptrTo(false), 7
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container"}}
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
	}
}

func buildService(b *builder, i int) client.Object {
	name := b.name(i)
	s := &corev1.Service{
		ObjectMeta: b.meta(i),
		Spec: corev1.ServiceSpec{
			Selector: selectorLabels(name),
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromInt32(9090)},
			},
		},
	}
	switch i % 3 {
	case 0:
		s.Spec.Type = corev1.ServiceTypeClusterIP
	case 1:
		makeHeadless(s)
	case 2:
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	return s
}

// makeHeadless turns s into a headless ClusterIP Service, which needs no allocated address.
func makeHeadless(s *corev1.Service) {
	s.Spec.Type = corev1.ServiceTypeClusterIP
	s.Spec.ClusterIP = corev1.ClusterIPNone
	s.Spec.ClusterIPs = nil
	s.Spec.ExternalTrafficPolicy = ""
	for i := range s.Spec.Ports {
		s.Spec.Ports[i].NodePort = 0
	}
}

func buildNode(b *builder, i int) client.Object {
	m := b.meta(i)
	m.Labels["kubernetes.io/hostname"] = m.Name
	m.Labels["kubernetes.io/os"] = "linux"
	m.Labels["kubernetes.io/arch"] = "amd64"
	m.Labels["topology.kubernetes.io/zone"] = fmt.Sprintf("eu-west-1%c", 'a'+rune(i%3))
	m.Labels["node.kubernetes.io/instance-type"] = "m6i.xlarge"
	switch i % 4 {
	case 0:
		m.Labels["node-role.kubernetes.io/control-plane"] = ""
	case 1:
		m.Labels["node-role.kubernetes.io/worker"] = ""
	case 2:
		m.Labels["node-role.kubernetes.io/worker"] = ""
		m.Labels["node-role.kubernetes.io/ingress"] = ""
	}
	m.Annotations["node.alpha.kubernetes.io/ttl"] = "0"
	m.Annotations["volumes.kubernetes.io/controller-managed-attach-detach"] = "true"
	return &corev1.Node{
		ObjectMeta: m,
		Spec: corev1.NodeSpec{
			PodCIDR:    fmt.Sprintf("10.244.%d.0/24", i%250),
			ProviderID: "aws:///eu-west-1a/i-0" + m.Name,
		},
	}
}

// nodeStatus is what a kubelet would have reported; every fifth node is NotReady.
func nodeStatus(o client.Object, i int) {
	n := o.(*corev1.Node)
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	ready := corev1.ConditionTrue
	if i%5 == 4 {
		ready = corev1.ConditionUnknown
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	n.Status.Conditions = []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
		cond(corev1.NodeReady, ready, "KubeletReady"),
	}
	n.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.0.%d.%d", i/250%250, 1+i%250)},
		{Type: corev1.NodeHostName, Address: n.Name},
	}
	n.Status.NodeInfo = corev1.NodeSystemInfo{
		MachineID: "m-" + n.Name, SystemUUID: "s-" + n.Name, BootID: "b-" + n.Name,
		KernelVersion: "6.8.0-1021-aws", OSImage: "Ubuntu 24.04.2 LTS",
		ContainerRuntimeVersion: "containerd://2.1.4", KubeletVersion: "v1.37.2",
		OperatingSystem: "linux", Architecture: "amd64",
	}
	setNodeCapacity(n, 0)
}

// setNodeCapacity sets capacity and allocatable for mutation number gen (4 + 2*gen CPUs).
func setNodeCapacity(n *corev1.Node, gen int) {
	cpu := fmt.Sprint(4 + 2*gen)
	mem := fmt.Sprintf("%dKi", 16318876+gen*1048576)
	n.Status.Capacity = corev1.ResourceList{
		corev1.ResourceCPU: qty(cpu), corev1.ResourceMemory: qty(mem), corev1.ResourcePods: qty("110"),
		corev1.ResourceEphemeralStorage: qty("100Gi"),
	}
	n.Status.Allocatable = corev1.ResourceList{
		corev1.ResourceCPU: qty(cpu), corev1.ResourceMemory: qty(mem), corev1.ResourcePods: qty("110"),
	}
}

func buildDeployment(b *builder, i int) client.Object {
	name := b.name(i)
	m := b.meta(i)
	m.Annotations["deployment.kubernetes.io/revision"] = "1"
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	if i%3 == 2 {
		strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	labels := selectorLabels(name)
	labels["app.kubernetes.io/component"] = b.component(i)
	return &appsv1.Deployment{
		ObjectMeta: m,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo(int32(1 + i%3)),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(name)},
			Template: b.template(i, labels),
			Strategy: strategy,
		},
	}
}

func buildStatefulSet(b *builder, i int) client.Object {
	name := b.name(i)
	strategy := appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}
	if i%2 == 1 {
		strategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	}
	return &appsv1.StatefulSet{
		ObjectMeta: b.meta(i),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptrTo(int32(1 + i%3)),
			ServiceName:         name + "-headless",
			Selector:            &metav1.LabelSelector{MatchLabels: selectorLabels(name)},
			Template:            b.template(i, selectorLabels(name)),
			UpdateStrategy:      strategy,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: qty("10Gi")}},
				},
			}},
		},
	}
}

func buildDaemonSet(b *builder, i int) client.Object {
	name := b.name(i)
	strategy := appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}
	if i%2 == 1 {
		strategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	}
	t := b.template(i, selectorLabels(name))
	t.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	return &appsv1.DaemonSet{
		ObjectMeta: b.meta(i),
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(name)},
			Template:       t,
			UpdateStrategy: strategy,
		},
	}
}

func buildJob(b *builder, i int) client.Object {
	t := b.template(i, map[string]string{"app.kubernetes.io/component": "batch"})
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	t.Spec.Containers = t.Spec.Containers[:1]
	t.Spec.Containers[0].Ports = nil
	return &batchv1.Job{
		ObjectMeta: b.meta(i),
		Spec: batchv1.JobSpec{
			Suspend:      ptrTo(true), // nothing runs jobs on the test bed anyway
			Parallelism:  ptrTo(int32(1 + i%3)),
			Completions:  ptrTo(int32(3)),
			BackoffLimit: ptrTo(int32(4)),
			Template:     t,
		},
	}
}

func buildCronJob(b *builder, i int) client.Object {
	t := b.template(i, map[string]string{"app.kubernetes.io/component": "cron"})
	t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	t.Spec.Containers = t.Spec.Containers[:1]
	t.Spec.Containers[0].Ports = nil
	return &batchv1.CronJob{
		ObjectMeta: b.meta(i),
		Spec: batchv1.CronJobSpec{
			Schedule:                   schedules[i%len(schedules)],
			ConcurrencyPolicy:          []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}[i%3],
			Suspend:                    ptrTo(i%2 == 1),
			SuccessfulJobsHistoryLimit: ptrTo(int32(3)),
			JobTemplate:                batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}},
		},
	}
}

func buildIngress(b *builder, i int) client.Object {
	name := b.name(i)
	host := name + ".shop.example.com"
	prefix, exact := networkingv1.PathTypePrefix, networkingv1.PathTypeExact
	return &networkingv1.Ingress{
		ObjectMeta: b.meta(i),
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptrTo("nginx"),
			Rules: []networkingv1.IngressRule{
				{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}}},
					{Path: "/metrics", PathType: &exact, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: name, Port: networkingv1.ServiceBackendPort{Name: "metrics"}}}},
				}}}},
				{Host: "*.static.example.com"}, // a rule without an http block
			},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: name + "-tls"}},
		},
	}
}

func buildNetworkPolicy(b *builder, i int) client.Object {
	name := b.name(i)
	tcp := corev1.ProtocolTCP
	port := intstr.FromInt32(8080)
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: b.meta(i),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(name)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{
					From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
				},
				{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}}}},
			},
		},
	}
	if i%2 == 1 {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	}
	return np
}

func buildConfigMap(b *builder, i int) client.Object {
	cm := &corev1.ConfigMap{
		ObjectMeta: b.meta(i),
		Data: map[string]string{
			"app.properties": "listen=:8080\nmetrics=:9090\n",
			"flags":          `{"new-checkout":true}`,
			"log-level":      "info",
		},
	}
	if i%2 == 0 {
		cm.BinaryData = map[string][]byte{"logo.png": {0x89, 'P', 'N', 'G'}, "favicon.ico": {0, 0, 1, 0}}
	}
	return cm
}

func buildSecret(b *builder, i int) client.Object {
	s := &corev1.Secret{ObjectMeta: b.meta(i)}
	switch i % 3 {
	case 0:
		s.Type = corev1.SecretTypeOpaque
		s.Data = map[string][]byte{"username": []byte("shop"), "password": []byte("hunter2"), "api-token": []byte("t0k3n")}
	case 1:
		s.Type = corev1.SecretTypeTLS
		s.Data = map[string][]byte{corev1.TLSCertKey: []byte("-----BEGIN CERTIFICATE-----"), corev1.TLSPrivateKeyKey: []byte("-----BEGIN PRIVATE KEY-----")}
	case 2:
		s.Type = corev1.SecretTypeBasicAuth
		s.Data = map[string][]byte{corev1.BasicAuthUsernameKey: []byte("admin"), corev1.BasicAuthPasswordKey: []byte("pa55")}
	}
	return s
}

func buildPVC(b *builder, i int) client.Object {
	name := b.name(i)
	p := &corev1.PersistentVolumeClaim{
		ObjectMeta: b.meta(i),
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptrTo([]string{"standard", "gp3", "fast-ssd"}[i%3]),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: qty(fmt.Sprintf("%dGi", 1+i%20))}},
			VolumeMode:       ptrTo(corev1.PersistentVolumeFilesystem),
		},
	}
	if i%4 == 3 {
		p.Spec.VolumeMode = ptrTo(corev1.PersistentVolumeBlock)
		p.Spec.AccessModes = append(p.Spec.AccessModes, corev1.ReadOnlyMany)
	}
	if i%2 == 0 {
		p.Spec.VolumeName = "pv-" + name
	}
	return p
}

func buildServiceAccount(b *builder, i int) client.Object {
	sa := &corev1.ServiceAccount{
		ObjectMeta:       b.meta(i),
		Secrets:          []corev1.ObjectReference{{Name: b.name(i) + "-token"}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
	}
	switch i % 3 {
	case 1:
		sa.AutomountServiceAccountToken = ptrTo(true)
	case 2:
		sa.AutomountServiceAccountToken = ptrTo(false)
	}
	return sa
}

func rules(i int, cluster bool) []rbacv1.PolicyRule {
	read := []string{"get", "list", "watch"}
	r := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "configmaps"}, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: append(read, "patch")},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"leader-lock"}, Verbs: []string{"update"}},
	}
	if i%4 == 3 {
		r = append(r, rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"*"}, Verbs: []string{"*"}})
	}
	if cluster {
		r = append(r, rbacv1.PolicyRule{NonResourceURLs: []string{"/healthz", "/metrics"}, Verbs: []string{"get"}})
	}
	return r
}

// mutateRules sets the resources of the first rule (added when there is none) to a value
// that differs from the one the previous mutation gave.
func mutateRules(r []rbacv1.PolicyRule, gen int) []rbacv1.PolicyRule {
	if len(r) == 0 {
		r = []rbacv1.PolicyRule{{APIGroups: []string{""}, Verbs: []string{"get"}}}
	}
	extra := []string{"secrets", "services", "endpoints", "persistentvolumeclaims", "events"}
	r[0].Resources = []string{"pods", "pods/log", extra[gen%len(extra)]}
	return r
}

func subjects(namespace string, i int) []rbacv1.Subject {
	return []rbacv1.Subject{
		{Kind: rbacv1.ServiceAccountKind, Name: fmt.Sprintf("sa-%d", i), Namespace: namespace},
		{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("jane-%d@example.com", i)},
		{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: teams[i%len(teams)]},
	}
}

func mutatedSubjects(namespace string, gen int) []rbacv1.Subject {
	return []rbacv1.Subject{
		{Kind: rbacv1.ServiceAccountKind, Name: fmt.Sprintf("deployer-%d", gen), Namespace: namespace},
		{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("oncall-%d@example.com", gen)},
	}
}

func buildEvent(b *builder, i int) client.Object {
	first := metav1.NewTime(time.Now().Add(-10 * time.Minute).Truncate(time.Second))
	last := metav1.NewTime(time.Now().Truncate(time.Second))
	e := &corev1.Event{
		ObjectMeta: b.meta(i),
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: b.namespace, Name: fmt.Sprintf("cart-7c9f8d6b5-%d", i),
			UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)), FieldPath: "spec.containers{app}",
		},
		Source:         corev1.EventSource{Component: "kubelet", Host: fmt.Sprintf("worker-%d", i%3)},
		FirstTimestamp: first,
		LastTimestamp:  last,
		Count:          int32(1 + i%5),
	}
	switch i % 3 {
	case 0:
		e.Type, e.Reason, e.Message = corev1.EventTypeNormal, "Pulled", `Successfully pulled image "registry.example.com/shop/api:1.0.0" in 1.2s`
	case 1:
		e.Type, e.Reason, e.Message = corev1.EventTypeNormal, "Started", "Started container app"
	case 2:
		e.Type, e.Reason, e.Message = corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app"
		e.Source = corev1.EventSource{} // events may carry no source
	}
	return e
}
