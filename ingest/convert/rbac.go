package convert

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/obsyk/obsyk-hub/transport"
)

// Role returns the record of a Role (contract §4.16).
func Role(o *rbacv1.Role) *transport.RoleInfo { return role(&o.ObjectMeta, o.Rules, false) }

// ClusterRole returns the record of a ClusterRole (contract §4.16): is_cluster, no namespace.
func ClusterRole(o *rbacv1.ClusterRole) *transport.RoleInfo {
	return role(&o.ObjectMeta, o.Rules, true)
}

// role builds a RoleInfo: rule_count and the sorted set union of the rules' resources (nil,
// which goes out as [], when there are none). Verbs, apiGroups, resourceNames and
// nonResourceURLs are not carried.
func role(m *metav1.ObjectMeta, rules []rbacv1.PolicyRule, cluster bool) *transport.RoleInfo {
	r := &transport.RoleInfo{
		UID:         string(m.UID),
		Name:        m.Name,
		Labels:      nonEmpty(m.Labels),
		Annotations: FilterAnnotations(m.Annotations),
		IsCluster:   cluster,
		RuleCount:   len(rules),
		CreatedAt:   ts(m.CreationTimestamp),
	}
	if !cluster {
		r.Namespace = m.Namespace
	}
	n := 0
	for i := range rules {
		n += len(rules[i].Resources)
	}
	if n > 0 {
		res := make([]string, 0, n)
		for i := range rules {
			res = append(res, rules[i].Resources...)
		}
		slices.Sort(res)
		r.Resources = slices.Clip(slices.Compact(res))
	}
	return r
}

// RoleBinding returns the record of a RoleBinding (contract §4.17).
func RoleBinding(o *rbacv1.RoleBinding) *transport.RoleBindingInfo {
	return binding(&o.ObjectMeta, &o.RoleRef, o.Subjects, false)
}

// ClusterRoleBinding returns the record of a ClusterRoleBinding (contract §4.17).
func ClusterRoleBinding(o *rbacv1.ClusterRoleBinding) *transport.RoleBindingInfo {
	return binding(&o.ObjectMeta, &o.RoleRef, o.Subjects, true)
}

// binding builds a RoleBindingInfo; apiGroup is dropped from the roleRef and the subjects.
func binding(m *metav1.ObjectMeta, ref *rbacv1.RoleRef, subjects []rbacv1.Subject, cluster bool) *transport.RoleBindingInfo {
	r := &transport.RoleBindingInfo{
		UID:         string(m.UID),
		Name:        m.Name,
		Labels:      nonEmpty(m.Labels),
		Annotations: FilterAnnotations(m.Annotations),
		IsCluster:   cluster,
		RoleRef:     transport.RoleRef{Kind: ref.Kind, Name: ref.Name},
		CreatedAt:   ts(m.CreationTimestamp),
	}
	if !cluster {
		r.Namespace = m.Namespace
	}
	if n := len(subjects); n > 0 {
		r.Subjects = make([]transport.Subject, n)
		for i := range subjects {
			s := &subjects[i]
			r.Subjects[i] = transport.Subject{Kind: s.Kind, Name: s.Name, Namespace: s.Namespace}
		}
	}
	return r
}
