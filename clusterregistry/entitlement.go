package clusterregistry

import "strings"

// Entitled reports whether an ObsykAgent in agentNamespace may target the cluster whose
// kubeconfig Secret lives in hubNamespace and carries secretAnnotations. An agent of the hub
// namespace may target every cluster; any other namespace only when it is listed in the
// comma-separated AllowedNamespacesAnnotation. Entries are trimmed; empty entries and "*"
// grant nothing (there is no wildcard).
func Entitled(agentNamespace, hubNamespace string, secretAnnotations map[string]string) bool {
	if agentNamespace == "" {
		return false
	}
	if agentNamespace == hubNamespace {
		return true
	}
	for _, ns := range strings.Split(secretAnnotations[AllowedNamespacesAnnotation], ",") {
		if strings.TrimSpace(ns) == agentNamespace {
			return true
		}
	}
	return false
}
