package convert

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/obsyk/obsyk-hub/transport"
)

// KindOf returns the contract kind string of obj (contract §5.1), or false when obj is not a
// typed object of one of the 20 kinds. Only the Go type is consulted, never TypeMeta, which
// informers leave empty. A core/v1 Event is an Event; an events.k8s.io Event is not.
func KindOf(obj runtime.Object) (transport.Kind, bool) {
	switch obj.(type) {
	case *corev1.Namespace:
		return transport.KindNamespace, true
	case *corev1.Pod:
		return transport.KindPod, true
	case *corev1.Service:
		return transport.KindService, true
	case *corev1.Node:
		return transport.KindNode, true
	case *appsv1.Deployment:
		return transport.KindDeployment, true
	case *appsv1.StatefulSet:
		return transport.KindStatefulSet, true
	case *appsv1.DaemonSet:
		return transport.KindDaemonSet, true
	case *batchv1.Job:
		return transport.KindJob, true
	case *batchv1.CronJob:
		return transport.KindCronJob, true
	case *networkingv1.Ingress:
		return transport.KindIngress, true
	case *networkingv1.NetworkPolicy:
		return transport.KindNetworkPolicy, true
	case *corev1.ConfigMap:
		return transport.KindConfigMap, true
	case *corev1.Secret:
		return transport.KindSecret, true
	case *corev1.PersistentVolumeClaim:
		return transport.KindPersistentVolumeClaim, true
	case *corev1.ServiceAccount:
		return transport.KindServiceAccount, true
	case *rbacv1.Role:
		return transport.KindRole, true
	case *rbacv1.ClusterRole:
		return transport.KindClusterRole, true
	case *rbacv1.RoleBinding:
		return transport.KindRoleBinding, true
	case *rbacv1.ClusterRoleBinding:
		return transport.KindClusterRoleBinding, true
	case *corev1.Event:
		return transport.KindEvent, true
	}
	return "", false
}

// Convert returns the contract record (§4) of obj, which must be a non-nil pointer to one of
// the 20 kinds' typed objects. Any other value, a nil pointer included, is an error. The
// record may share maps and strings with obj (see the package doc); obj is never modified.
func Convert(obj runtime.Object) (transport.Record, error) {
	var r transport.Record
	switch o := obj.(type) {
	case *corev1.Namespace:
		if o != nil {
			r = Namespace(o)
		}
	case *corev1.Pod:
		if o != nil {
			r = Pod(o)
		}
	case *corev1.Service:
		if o != nil {
			r = Service(o)
		}
	case *corev1.Node:
		if o != nil {
			r = Node(o)
		}
	case *appsv1.Deployment:
		if o != nil {
			r = Deployment(o)
		}
	case *appsv1.StatefulSet:
		if o != nil {
			r = StatefulSet(o)
		}
	case *appsv1.DaemonSet:
		if o != nil {
			r = DaemonSet(o)
		}
	case *batchv1.Job:
		if o != nil {
			r = Job(o)
		}
	case *batchv1.CronJob:
		if o != nil {
			r = CronJob(o)
		}
	case *networkingv1.Ingress:
		if o != nil {
			r = Ingress(o)
		}
	case *networkingv1.NetworkPolicy:
		if o != nil {
			r = NetworkPolicy(o)
		}
	case *corev1.ConfigMap:
		if o != nil {
			r = ConfigMap(o)
		}
	case *corev1.Secret:
		if o != nil {
			r = Secret(o)
		}
	case *corev1.PersistentVolumeClaim:
		if o != nil {
			r = PersistentVolumeClaim(o)
		}
	case *corev1.ServiceAccount:
		if o != nil {
			r = ServiceAccount(o)
		}
	case *rbacv1.Role:
		if o != nil {
			r = Role(o)
		}
	case *rbacv1.ClusterRole:
		if o != nil {
			r = ClusterRole(o)
		}
	case *rbacv1.RoleBinding:
		if o != nil {
			r = RoleBinding(o)
		}
	case *rbacv1.ClusterRoleBinding:
		if o != nil {
			r = ClusterRoleBinding(o)
		}
	case *corev1.Event:
		if o != nil {
			r = Event(o)
		}
	default:
		return nil, fmt.Errorf("convert %T: not one of the contract's kinds", obj)
	}
	if r == nil {
		return nil, fmt.Errorf("convert %T: nil object", obj)
	}
	return r, nil
}

// The annotation key prefixes the contract drops (§5.4): a case-sensitive prefix match on the
// whole key.
const (
	kubectlPrefix    = "kubectl.kubernetes.io/"
	kubernetesPrefix = "kubernetes.io/"
)

// filtered reports whether the annotation key k is dropped (contract §5.4).
func filtered(k string) bool {
	return strings.HasPrefix(k, kubernetesPrefix) || strings.HasPrefix(k, kubectlPrefix)
}

// FilterAnnotations applies the contract's annotation filter (§5.4): keys starting with
// `kubectl.kubernetes.io/` or `kubernetes.io/` are dropped. It returns nil when nothing
// survives, the input map itself (not a copy) when nothing is dropped, and otherwise a new
// map of the survivors. The input is never modified.
func FilterAnnotations(in map[string]string) map[string]string {
	drop := 0
	for k := range in {
		if filtered(k) {
			drop++
		}
	}
	switch {
	case drop == len(in):
		return nil
	case drop == 0:
		return in
	}
	out := make(map[string]string, len(in)-drop)
	for k, v := range in {
		if !filtered(k) {
			out[k] = v
		}
	}
	return out
}

// ts converts a Kubernetes timestamp to the contract's whole-second UTC form; the zero time
// gives the zero (unset) Time.
func ts(t metav1.Time) transport.Time { return transport.NewTime(t.Time) }

// tsPtr is ts for an optional timestamp.
func tsPtr(t *metav1.Time) transport.Time {
	if t == nil {
		return transport.Time{}
	}
	return transport.NewTime(t.Time)
}

// nonEmpty returns m, or nil when m is empty, so that an empty map and an absent one are the
// same record (both leave the key out).
func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// matchLabels returns a label selector's matchLabels (matchExpressions are not carried).
func matchLabels(s *metav1.LabelSelector) map[string]string {
	if s == nil {
		return nil
	}
	return nonEmpty(s.MatchLabels)
}

// int32Or1 is *p, or 1 when p is unset (replicas, completions, parallelism).
func int32Or1(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// boolValue is *p, or false when p is unset.
func boolValue(p *bool) bool { return p != nil && *p }

// Shared targets for the contract's unset-only *bool fields. Records are immutable, so every
// record can point at the same two values instead of allocating (or retaining part of the
// source object).
var (
	trueValue  = true
	falseValue = false
)

// boolPtr returns a pointer to a shared true or false equal to *p, or nil when p is nil.
func boolPtr(p *bool) *bool {
	switch {
	case p == nil:
		return nil
	case *p:
		return &trueValue
	default:
		return &falseValue
	}
}

// quantity returns the canonical form of l[name], or "" when it is not set.
//
// That is Quantity.String() except for one case: String returns the decoded text itself
// whenever the parser judged it canonical, and the parser lets through a leading "+", leading
// zeros and an upper-case or zero-padded exponent ("+5", "05", "01Ki", "1E3", "1e03"), which
// the API server stores as written. Those, and only those, are re-formatted here ("5", "1Ki",
// "1e3"): the contract asks for the canonical form and the platform rejects anything else.
func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := l[name]
	if !ok {
		return ""
	}
	if s := q.String(); canonicalSpelling(s) {
		return s
	}
	var buf [32]byte
	n, suffix := q.CanonicalizeBytes(buf[:0])
	return string(append(n, suffix...))
}

// canonicalSpelling reports whether s is spelled as CanonicalizeBytes writes quantities: an
// optional "-", an integer without leading zeros, and at most one suffix (an SI or binary SI
// suffix, or "e" and a non-zero exponent without leading zeros); zero is "0".
func canonicalSpelling(s string) bool {
	s = strings.TrimPrefix(s, "-")
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	digits, suffix := s[:i], s[i:]
	switch {
	case digits == "0":
		return suffix == ""
	case digits == "" || digits[0] == '0':
		return false
	}
	switch suffix {
	case "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei":
		return true
	}
	exp, ok := strings.CutPrefix(suffix, "e")
	if !ok {
		return false
	}
	exp = strings.TrimPrefix(exp, "-")
	if exp == "" || exp[0] == '0' {
		return false
	}
	for i := range len(exp) {
		if exp[i] < '0' || exp[i] > '9' {
			return false
		}
	}
	return true
}

// quantityOr0 is quantity with "0" for a missing entry (node capacities).
func quantityOr0(l corev1.ResourceList, name corev1.ResourceName) string {
	if s := quantity(l, name); s != "" {
		return s
	}
	return "0"
}

// firstImage is the image of a pod template's first container.
func firstImage(t *corev1.PodTemplateSpec) string {
	if len(t.Spec.Containers) == 0 {
		return ""
	}
	return t.Spec.Containers[0].Image
}

// sortedKeys returns the keys of m sorted, or nil when m is empty. The contract allows any
// order; a fixed one lets equal objects give equal records.
func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// stringsOf converts a slice of a string type to []string, nil when empty.
func stringsOf[S ~string](in []S) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

// nonEmptySlice returns s, or nil when s is empty.
func nonEmptySlice(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
