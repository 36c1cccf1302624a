// Package clusterregistry owns the hub's knowledge of its member clusters: discovering them
// from kubeconfig Secrets, connecting to them, their health and cluster UID, entitlement
// (which ObsykAgent namespaces may target which cluster), and the multicluster-runtime
// Provider. It also owns member registration (Register, Unregister), which
// `obsyk-hub cluster add` and the test bed both call, so that the Secrets the registry reads
// are the Secrets registration writes.
//
// # The registry
//
// A Registry (New, then Start) is the only owner of member connections. It is the hub's
// multicluster-runtime Provider (Get, IndexField) and ProviderRunnable (Start(ctx, aware)):
// a multicluster-runtime manager built with it calls Start with itself as the Aware, and
// every runnable of that manager that implements multicluster.Aware is engaged per member.
//
//	reg, _ := clusterregistry.New(hubConfig, clusterregistry.Options{Namespace: "obsyk-system"})
//	mgr, _ := mcmanager.New(hubConfig, reg, manager.Options{})
//	_ = mgr.Start(ctx) // runs reg.Start(ctx, mgr)
//
// The rest of the hub reads Members, Member and Subscribe (a size-1 change signal), and
// calls Entitled (the function, or the method by cluster name) to decide which ObsykAgent
// namespaces may target which cluster. Metrics: obsyk_hub_cluster_connection_up,
// obsyk_hub_cluster_last_probe_success_timestamp_seconds,
// obsyk_hub_cluster_probe_failures_total, obsyk_hub_cluster_connections_total and
// obsyk_hub_cluster_kubeconfig_rejected, all labelled {cluster} and deleted with the member.
//
// Life of a member:
//
//  1. Discovery. Two informers of the hub's own, scoped by namespace and label (and, for
//     Cluster API Secrets when Options.CAPISecrets is set, by type): the hub never caches
//     every Secret of its cluster. Each Secret event queues the Secret's key; one worker
//     syncs it. A sync does no network I/O: it hashes the kubeconfig, and only when the hash
//     (or the Secret's UID) changed does it stop the old member and create a new one.
//  2. Validation (ValidateKubeconfig). A rejected kubeconfig makes the member Invalid, with
//     the rule's Reason in its status and metrics; nothing connects, nothing else is
//     affected, and fixing the Secret re-syncs it like any change.
//  3. Connection, in the member's own goroutine (one per member, not per probe): a new HTTP
//     transport (HTTP/2 pings after 10 s idle, 5 s ping timeout), the identity probe (UID of
//     kube-system, /version), a controller-runtime cluster.Cluster whose cache runs on a
//     context derived from the member's, which derives from Start's context — never from a
//     reconcile — and a first cache sync bounded by ConnectTimeout. Only then is the member
//     Connected and returned by Get, and only then is the Aware engaged, with EngageTimeout.
//  4. Health. Every ProbeInterval the member's goroutine reads kube-system (ProbeTimeout)
//     through the same transport as the cache, so a hung connection fails the probe.
//     FailureThreshold consecutive failures, a stopped cache, a failed engagement or a 401
//     end the connection: the engagement context is cancelled, the cache stopped and waited
//     for, and the transport's connections closed. The member reconnects with exponential
//     backoff (ReconnectBackoff doubling to ReconnectBackoffMax, ±20% jitter) on a brand new
//     transport, so hung watches never survive a reconnection. A 401 is shown as
//     CredentialsRejected and re-queues the Secret: rotated credentials are picked up.
//  5. Removal. The member's context is cancelled and its goroutine waited for (it waits for
//     its cache); the entry and its metric series are then removed by identity — the map
//     entry is deleted only if it is still this member, so a replacement under the same name
//     is never removed by its predecessor's teardown.
//
// Decisions worth knowing:
//
//   - Start takes the Aware as well as the context because that is multicluster-runtime's
//     ProviderRunnable contract; a nil Aware runs the registry without engagements. Like
//     every Start in the hub it blocks, returns nil after a clean stop, and New starts no
//     goroutine.
//   - One lock, Registry.mu, guards the member map, every member's status and current
//     cluster, the indexers, the Aware and the subscribers. It is never held across I/O, a
//     cache sync, an Engage or a blocking send; notifications are non-blocking sends.
//   - A kind the member forbids (or does not serve) is a per-kind condition, not a sync
//     wait. The cluster handed out wraps the member's cache (memberCache in cluster.go):
//     GetInformer never blocks on a first sync, the first request for a kind checks access
//     with one bounded LIST of at most one object's metadata, refused kinds are listed in
//     MemberStatus.UnavailableKinds, and WaitForCacheSync leaves them out. Without this, a
//     multicluster-runtime source (which waits for the whole cache to sync inside Engage,
//     holding its controller's lock) would block the engagement of every other member
//     forever. The refused kind's informer keeps retrying, so once the member allows the
//     kind its events flow and the condition clears, without a reconnection. Reads through
//     the cache's Get/List still wait for their kind, bounded by their context.
//   - Engagement also runs in a goroutine of its own and is waited for at most
//     EngageTimeout, as a safety net: an Aware that still blocks costs that member its
//     connection (EngageFailed, then backoff). A timed-out Engage is not waited for:
//     cancelling the connection's context is what ends it; an Engage that ignores its
//     context leaks its goroutine, which is the Aware's defect, not something a provider
//     can repair. While it blocks, an Aware that serialises engagements (a multicluster-
//     runtime controller holds one lock across Engage) delays other members' engagement
//     with that Aware by at most EngageTimeout.
//   - The transport is ours rather than client-go's cached one: client-go's cache shares
//     connections between equal configs, which would let one member's reconnection reuse a
//     hung connection, and its HTTP/2 health check defaults are 30 s / 15 s. Because the
//     transport is custom, exec plugins that supply client certificates are not supported
//     even when AllowExec is set (token-based exec works).
//   - Get returns the cluster only while it is connected; a known member that is not
//     connected yields ErrClusterNotConnected, which wraps multicluster.ErrClusterNotFound.
//   - IndexField registers the index for future connections and applies it to every
//     current cluster; each cluster receives each index exactly once (the cluster is
//     recorded and the indexers copied in the same critical section).
//   - When a Cluster API Secret and a labelled Secret name the same cluster, the first one
//     synced wins and the other is ignored (logged with reason NameConflict) until the
//     first goes away.
//   - Kubeconfig contents and tokens are never logged, put in errors or in status: parse
//     errors are not wrapped because client-go's YAML errors may quote the input.
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
