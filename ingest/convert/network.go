package convert

import (
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/obsyk/obsyk-hub/transport"
)

// Ingress returns the record of an Ingress (contract §4.10). A path's service_port is set
// only for a numbered backend port; a load balancer entry gives its IP, or its hostname when
// it has no IP. The paths of all rules share one backing array.
func Ingress(o *networkingv1.Ingress) *transport.IngressInfo {
	r := &transport.IngressInfo{
		UID:         string(o.UID),
		Name:        o.Name,
		Namespace:   o.Namespace,
		Labels:      nonEmpty(o.Labels),
		Annotations: FilterAnnotations(o.Annotations),
		CreatedAt:   ts(o.CreationTimestamp),
	}
	if o.Spec.IngressClassName != nil {
		r.IngressClassName = *o.Spec.IngressClassName
	}
	if n := len(o.Spec.Rules); n > 0 {
		nPaths := 0
		for i := range o.Spec.Rules {
			if h := o.Spec.Rules[i].HTTP; h != nil {
				nPaths += len(h.Paths)
			}
		}
		var paths []transport.IngressPath
		if nPaths > 0 {
			paths = make([]transport.IngressPath, 0, nPaths)
		}
		r.Rules = make([]transport.IngressRule, n)
		for i := range o.Spec.Rules {
			rule := &o.Spec.Rules[i]
			r.Rules[i].Host = rule.Host
			if rule.HTTP == nil || len(rule.HTTP.Paths) == 0 {
				continue
			}
			start := len(paths)
			for j := range rule.HTTP.Paths {
				p := &rule.HTTP.Paths[j]
				ip := transport.IngressPath{Path: p.Path}
				if p.PathType != nil {
					ip.PathType = string(*p.PathType)
				}
				if s := p.Backend.Service; s != nil {
					ip.ServiceName = s.Name
					ip.ServicePort = s.Port.Number
				}
				paths = append(paths, ip)
			}
			r.Rules[i].Paths = paths[start:len(paths):len(paths)]
		}
	}
	if n := len(o.Spec.TLS); n > 0 {
		r.TLS = make([]transport.IngressTLS, n)
		for i := range o.Spec.TLS {
			t := &o.Spec.TLS[i]
			r.TLS[i] = transport.IngressTLS{Hosts: nonEmptySlice(t.Hosts), SecretName: t.SecretName}
		}
	}
	if n := len(o.Status.LoadBalancer.Ingress); n > 0 {
		r.LoadBalancerIPs = make([]string, n)
		for i := range o.Status.LoadBalancer.Ingress {
			lb := &o.Status.LoadBalancer.Ingress[i]
			if lb.IP != "" {
				r.LoadBalancerIPs[i] = lb.IP
			} else {
				r.LoadBalancerIPs[i] = lb.Hostname
			}
		}
	}
	return r
}

// NetworkPolicy returns the record of a NetworkPolicy (contract §4.11): the pod selector's
// matchLabels (absent for the empty, all-pods selector) and the rule counts.
func NetworkPolicy(o *networkingv1.NetworkPolicy) *transport.NetworkPolicyInfo {
	return &transport.NetworkPolicyInfo{
		UID:          string(o.UID),
		Name:         o.Name,
		Namespace:    o.Namespace,
		Labels:       nonEmpty(o.Labels),
		Annotations:  FilterAnnotations(o.Annotations),
		PodSelector:  nonEmpty(o.Spec.PodSelector.MatchLabels),
		PolicyTypes:  stringsOf(o.Spec.PolicyTypes),
		IngressRules: len(o.Spec.Ingress),
		EgressRules:  len(o.Spec.Egress),
		CreatedAt:    ts(o.CreationTimestamp),
	}
}
