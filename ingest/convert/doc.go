// Package convert turns the Kubernetes objects of the contract's 20 kinds into their compact
// wire records (shared/contract/obsyk-v1.md §4, §5): corev1 Namespace, Pod, Service, Node,
// ConfigMap, Secret, PersistentVolumeClaim, ServiceAccount and Event (core/v1, not
// events.k8s.io); appsv1 Deployment, StatefulSet and DaemonSet; batchv1 Job and CronJob;
// networkingv1 Ingress and NetworkPolicy; rbacv1 Role, ClusterRole, RoleBinding and
// ClusterRoleBinding.
//
// It runs inside the informers' transforms at intake, so that caches hold records, never full
// objects:
//
//	rec, err := convert.Compact(obj)   // what caches keep: shares nothing with obj, repeats interned
//	rec, err := convert.Convert(obj)   // type switch; an error for any other type or a nil pointer
//	ns, name, uid := convert.Identity(rec)
//	kind, ok := convert.KindOf(obj)    // the contract kind string of a typed object
//	rec := convert.Pod(pod)            // or one exported function per kind
//	if convert.Equal(last, rec) { ... } // nothing the contract carries changed: send nothing
//
// # What the records carry, and never carry
//
// Every rule of §4 is applied here, not in the encoder: annotations filtered by prefix (§5.4,
// FilterAnnotations); replicas, completions and parallelism 1 when unset; `run_as_root` true
// when runAsUser is 0 or runAsNonRoot is explicitly false, else absent; unset-only *bools
// (privileged, automount_service_account_token) nil exactly when the field is unset;
// container statuses matched by name, state checked running, waiting, terminated; volume
// types in the contract's precedence order; targetPort as a string ("0" when unset); node
// capacities "0" when missing; quantities as canonical strings (see below); all times whole
// seconds in UTC (transport.Time); namespaces left empty for cluster-scoped records.
//
// Secret and ConfigMap values, env values, valueFrom and envFrom are never read: the code
// touches only map keys and env[].name. Tests assert it on the marshalled bytes.
//
// # Deterministic output
//
// The contract calls the order of ConfigMap/Secret data_keys and binary_keys, Role resources
// and node roles random. Here they are sorted (roles and resources also de-duplicated), and
// empty lists and maps are nil, so the same object always gives the same record and Equal
// can suppress updates that change nothing the platform sees (shared/ARCHITECTURE.md,
// delivery item 4).
//
// # Sharing with the source object
//
// A record may share maps, slices and strings with the object it came from, instead of
// copying them: labels, selectors, node selectors, annotations when the filter drops nothing,
// TLS hosts, and every string. This is what keeps intake cheap (a realistic pod converts in a
// couple of dozen allocations) and the retained record small once the object is dropped. It
// is safe because both sides are immutable: informer objects must not be modified (client-go's
// rule), records are never modified once built (transport's rule), and convert itself never
// writes to its input (tests check it). Anyone who wants to change either side must copy
// first. The unset-only *bool fields point at two package-level values, never into the
// object.
//
// Compact is Convert followed by compaction, for records that are kept (package ingest's
// caches): every string, map and list the record would share with the object is replaced,
// so the record keeps nothing of the decoded object alive. The object's own name and UID
// (and a pod's IP, a service's cluster IP, a PVC's volume name, load balancer addresses)
// are copied; everything else is interned through package intern: repeated strings,
// label, annotation and selector maps, and the lists that repeat from object to object
// (a pod's conditions, containers and volumes, a service's ports, key names, subjects...).
// The replicas of a Deployment then share all but their identity and IP: about 760 bytes
// retained per realistic pod, index included, against 3.2 KB for Convert's records and
// 10.6 KB for the full objects (ingest's BenchmarkRetainedBytesPerPod). Compaction works in
// place on the record Convert just built, which nobody else holds yet; it replaces, never
// writes into, what that record shares with the object. Tests check byte-equal JSON for
// every kind (fixtures, empty objects, and every object of a live API server) and that no
// byte of the compact record lies in the object's memory.
//
// Quantities are written in canonical form. That is Quantity.String() for every quantity the
// API server normally holds, but String returns the stored text itself when the parser judged
// it canonical, and the parser lets "+5", "05", "01Ki", "1E3" and "1e03" through, which the
// API server then keeps as written. Those few spellings are re-formatted ("5", "1Ki", "1e3"):
// the contract asks for the canonical form and the platform's schema rejects anything else,
// so sending String's text would get the object's every change refused.
//
// The nested lists of all of a pod's containers (ports, volume mounts, env names) share one
// backing array per list type, and an ingress's paths share one, cut with full slice
// expressions so that an append to one can never spill into another.
//
// # Equal
//
// Equal answers "would these two records encode to the same JSON?" with a typed,
// field-by-field comparison that allocates nothing (about 1 µs for a realistic pod, against
// 14 µs for reflect.DeepEqual and 33 µs for encoding both; transport's own append encoder is
// unexported). A nil list or map equals an empty one, as both encode alike; an unset *bool
// does not equal false. Equal does not sort: it relies on the records being built here, with
// their unordered lists already sorted. A test mutates every leaf of every record type and
// checks that Equal and the bytes agree, so a field added to a record but not to Equal fails.
package convert
