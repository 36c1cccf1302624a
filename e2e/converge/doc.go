// Package converge is the test bed's convergence checker: it reports every difference
// between a member cluster's live objects and what the platform (the simulator in package
// platform) holds for that cluster. "The platform's state for a cluster equals the member's
// live state, every kind, every object, field by field" is the assertion that ends every
// end-to-end scenario.
//
//	uid, _ := converge.ClusterUID(ctx, member.Client)
//	rep, err := converge.WaitConverged(ctx, member.Client, uid, sim, converge.Options{}, time.Minute)
//	g.Expect(err).NotTo(HaveOccurred(), rep.String())
//
// # What is compared
//
// Check lists all 20 kinds in the member itself (paged, through any client.Reader) and
// matches them with the platform's objects by kind and UID:
//
//   - a live object the platform does not hold is Missing;
//   - an object the platform holds that is not live is a Ghost;
//   - for a pair, every key of the contract record (§4) is compared, nested values leaf by
//     leaf ("containers[1].image", "labels.app"), plus the stored object's name and
//     namespace.
//
// The expected record is computed by Record straight from the contract's rules (annotations
// filtered by the §5.4 prefixes, replicas defaulting to 1, the first container's image,
// targetPort as a string, quantities in canonical form, ...). It deliberately shares no code
// with the hub's conversion (packages ingest and transport), so the two check each other.
//
// The comparison is about values, not wire presence (the simulator validates presence):
//
//   - an absent key equals an empty value ("", 0, false, {}, []);
//   - the keys whose order the contract calls random (ConfigMap data_keys and binary_keys,
//     Secret data_keys, Role and ClusterRole resources, Node roles) are compared as sets;
//   - timestamps are compared as instants.
//
// # What is in a member
//
// The hub streams everything, so by default the checker compares everything, including
// what every control plane has before a test starts: the default, kube-system, kube-public
// and kube-node-lease namespaces, the default/kubernetes Service, the bootstrap ClusterRoles
// and ClusterRoleBindings, kube-system Roles and RoleBindings, the kube-root-ca.crt
// ConfigMaps (when a controller-manager runs), and any Events. Options narrows a check by
// kind (ExcludeKinds: "Secret" when the hub does not collect Secrets), by namespace, by an
// Ignore predicate, or by record key (IgnoreFields).
//
// The Platform interface is the one method the checker needs, so it works against the
// in-process simulator (*platform.Server) and, later, a remote one.
package converge
