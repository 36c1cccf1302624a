// Package clusterregistry owns the hub's knowledge of its member clusters: discovering them
// from kubeconfig Secrets, connecting to them, their health and cluster UID, entitlement
// (which ObsykAgent namespaces may target which cluster), and the multicluster-runtime
// Provider. It also owns member registration (Register, Unregister), which
// `obsyk-hub cluster add` and the test bed both call, so that the Secrets the registry reads
// are the Secrets registration writes.
//
// # Registration
//
// Register creates, in the member, a read-only identity for the hub — the ServiceAccount,
// ClusterRole and ClusterRoleBinding obsyk-hub-reader in namespace obsyk-system — and writes,
// in the hub, a kubeconfig Secret named after the cluster, labelled
// sigs.k8s.io/multicluster-runtime-kubeconfig=true, with the kubeconfig under key
// "kubeconfig". Decisions worth knowing:
//
//   - The ClusterRole is exactly list and watch on the collected kinds, plus get on the
//     kube-system namespace (its UID is the cluster's identity). No get on objects, no write:
//     informers need nothing more, and a leaked kubeconfig reveals as little as possible.
//     Secrets are added only with RegisterOptions.CollectSecrets, because list on Secrets is
//     the power to read every ServiceAccount token of the member.
//   - The kubeconfig carries the member's CA inline and a bearer token, never the
//     credentials Register was called with, and never file paths, exec plugins or auth
//     providers: the hub refuses those anyway (see the security rules in ARCHITECTURE.md).
//   - The token is a long-lived Secret-based token where the member still fills such Secrets
//     in, otherwise a TokenRequest token (default one year). Register waits only a few
//     seconds for the Secret: clusters without a token controller (the test control planes,
//     some managed offerings) never fill it, and the empty Secret is deleted. A TokenRequest
//     token expires: Registration.TokenExpiry says when, and re-running Register renews it
//     (the hub notices the changed kubeconfig). Tokens already issued stay valid until they
//     expire or Unregister deletes the ServiceAccount.
//   - Register is idempotent and converges: it updates the ClusterRole's rules, the binding
//     and the hub Secret, and refuses to overwrite a hub Secret of the same name that is not
//     labelled as a kubeconfig Secret. It never logs the token or the kubeconfig.
//   - The names in the member are fixed, so two hubs registering the same member share its
//     identity, and Unregister from one removes it for both.
//   - Unregister leaves the member's obsyk-system namespace, which obsyk-operator also uses.
//
// Every API call made by Register and Unregister is bounded by RequestTimeout.
package clusterregistry
