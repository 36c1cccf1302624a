// Package workload creates, changes and deletes many Kubernetes objects of the 20 kinds the
// Obsyk contract covers (contract §5.1), quickly, on a member cluster of the test bed.
//
// Every end-to-end test, benchmark and the demo drive member clusters through it:
//
//	c, _ := workload.NewClient(member.Config)               // client-side rate limit raised
//	refs, _ := workload.Create(ctx, c, "Pod", "shop", 200, workload.Options{})
//	_ = workload.Mutate(ctx, c, refs, workload.Options{})   // labels + image change on each pod
//	_ = workload.Delete(ctx, c, refs, workload.Options{})   // gone when it returns
//	seeded, _ := workload.Seed(ctx, c, 5, workload.Options{}) // 5 of every kind, fresh namespace
//
// # What the objects look like
//
// Objects are realistic and fill in the fields the contract records (§4): about eight labels;
// annotations that the contract filters out (kubectl.kubernetes.io/..., kubernetes.io/...) next
// to ones it keeps; Pods with an init container and two containers carrying ports, resources,
// env values and valueFrom references, security contexts and volumes of ten source types;
// Services of several types; RBAC rules and subjects; core/v1 Events with counts and sources.
//
// # Writing to a control plane without controllers
//
// The test bed runs kube-apiserver and etcd only (no scheduler, kubelet or controller-manager),
// so the helpers do what those components would have done:
//
//   - Pods are bound at creation (spec.nodeName) to a Node object that the helpers create when
//     it is missing (Options.NodeName, default DefaultNodeName), and run in a ServiceAccount
//     they create when it is missing (DefaultServiceAccountName), since new namespaces have no
//     default ServiceAccount. Neither appears in the returned refs.
//   - Status that the contract carries (pod phase, conditions and container statuses; node
//     readiness and capacity; workload replica counts; PVC phase; ingress load balancer; cron
//     job last schedule) is written through the status subresource right after creation.
//   - Jobs are created suspended, so nothing would ever run them anyway.
//   - Delete uses a zero grace period and background propagation (no "orphan" finalizer that
//     only the garbage collector removes), strips finalizers that only controllers would
//     remove (PVC protection, a Namespace's "kubernetes" finalizer through the finalize
//     subresource) and waits until every object is gone. Deleting a Namespace does not delete
//     its contents here: delete them first.
//   - Services ask for a cluster IP or node port only while the apiserver's ranges have room
//     (envtest's service range is a /24) and fall back to headless Services when they are full.
//
// # Mutations
//
// Mutate changes, for every kind, the label GenerationLabel (set to the object's mutation
// count) and at least one kind-specific field that the contract records, so every mutation
// is a change the hub must deliver and the convergence checker (package converge) compares.
// Each call changes the values again; the table is in Mutate's comment.
//
// # Speed
//
// The helpers issue requests concurrently, bounded by Options.Parallelism. client-go's default
// client-side rate limit (5 requests/s) would dominate; NewClient builds a client with the
// limit raised. Requests that conflict with a concurrent writer are retried.
package workload
