package platform

// This file is the contract's bodies and records (obsyk-v1.md §3 and §4) transcribed into Go
// data. It is deliberately independent of the hub's transport package: the simulator checks
// the hub against the document, not against the hub's own idea of the document. A test
// (contract_test.go) parses the markdown tables and compares them with these tables.

// typeKind is the JSON shape a key carries (contract §0 "Types").
type typeKind int

const (
	typeString typeKind = iota // string
	typeInt32                  // integer number that fits an int32
	typeInt                    // integer number that fits an int64
	typeBool                   // true / false
	typeMap                    // object of string -> string
	typeTime                   // RFC 3339 string, UTC, whole seconds
	typeQty                    // Kubernetes quantity string in canonical form
	typeRecord                 // a nested record, by name
	typeArray                  // array of elem
	typeObject                 // the event's `object`: the record of the envelope's kind
)

// fieldType is the type of one key.
type fieldType struct {
	kind   typeKind
	record string     // typeRecord: the record's name
	elem   *fieldType // typeArray: the element type
}

// String renders the type in the contract's notation (`string`, `int32`, `[PodCondition]`).
func (t fieldType) String() string {
	switch t.kind {
	case typeString:
		return "string"
	case typeInt32:
		return "int32"
	case typeInt:
		return "int"
	case typeBool:
		return "bool"
	case typeMap:
		return "map"
	case typeTime:
		return "time"
	case typeQty:
		return "qty"
	case typeRecord:
		return t.record
	case typeArray:
		return "[" + t.elem.String() + "]"
	case typeObject:
		return "object"
	}
	return "?"
}

// presence says when a key is on the wire (contract §0 "Presence").
type presence int

const (
	// presAlways: always written. Missing is an error.
	presAlways presence = iota
	// presAlwaysInPractice: the tag says omitempty but every code path writes the key
	// (k8s_created_at, node capacities). The simulator requires it.
	presAlwaysInPractice
	// presOmitEmpty: left out when empty. Present-and-empty is an error, because Go's
	// encoder would have left it out.
	presOmitEmpty
	// presOmitEmptyInPractice: omitempty, but present in practice (Service `targetPort`,
	// which is "0" when unset). The simulator requires it.
	presOmitEmptyInPractice
	// presUnsetOnly: a pointer; any value, including false, may be written.
	presUnsetOnly
	// presTrueOrAbsent: only ever `true` (ContainerSecurityContext run_as_root).
	presTrueOrAbsent
)

// required reports whether the simulator rejects a body that lacks the key.
func (p presence) required() bool {
	return p == presAlways || p == presAlwaysInPractice || p == presOmitEmptyInPractice
}

// String is the presence as the contract's tables spell it (normalised: no markdown, no
// parenthetical remarks except those that change the meaning).
func (p presence) String() string {
	switch p {
	case presAlways:
		return "always"
	case presAlwaysInPractice:
		return "always in practice"
	case presOmitEmpty:
		return "omitempty"
	case presOmitEmptyInPractice:
		return "omitempty (present in practice)"
	case presUnsetOnly:
		return "unset-only"
	case presTrueOrAbsent:
		return "true or absent"
	}
	return "?"
}

// field is one key of a record.
type field struct {
	key  string
	typ  fieldType
	pres presence
	// nonEmpty: a string that must not be "" (identities: uids, names, namespaces, cluster_uid).
	// Not part of the contract's tables; it follows from what the values are.
	nonEmpty bool
	// enum: the only values a string may take, when the contract fixes them in code.
	enum []string
}

// record is one JSON object shape: a body, a resource record or a nested record.
type record struct {
	name   string
	fields []field // in the reference's key order
}

func (r *record) field(key string) (field, bool) {
	for _, f := range r.fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// Type constructors, to keep the tables below readable.
var (
	tString = fieldType{kind: typeString}
	tInt32  = fieldType{kind: typeInt32}
	tInt    = fieldType{kind: typeInt}
	tBool   = fieldType{kind: typeBool}
	tMap    = fieldType{kind: typeMap}
	tTime   = fieldType{kind: typeTime}
	tQty    = fieldType{kind: typeQty}
	tObject = fieldType{kind: typeObject}
)

func tRec(name string) fieldType { return fieldType{kind: typeRecord, record: name} }

func tArr(elem fieldType) fieldType { return fieldType{kind: typeArray, elem: &elem} }

func f(key string, t fieldType, p presence) field { return field{key: key, typ: t, pres: p} }

func fID(key string, p presence) field {
	return field{key: key, typ: tString, pres: p, nonEmpty: true}
}

func fEnum(key string, p presence, values ...string) field {
	return field{key: key, typ: tString, pres: p, enum: values}
}

// metaShape says which common metadata keys (§4.0) a resource record has.
type metaShape int

const (
	metaNamespaced   metaShape = iota // namespace always, labels, annotations
	metaCluster                       // no namespace; labels, annotations
	metaEitherScope                   // namespace omitempty (Role/RoleBinding vs Cluster*); labels, annotations
	metaNoLabelsKeys                  // namespace always, no labels/annotations (EventInfo)
)

// resource builds a §4 resource record: uid, name, [namespace], [labels, annotations],
// the record's own keys, k8s_created_at.
func resource(name string, shape metaShape, own ...field) *record {
	fs := []field{fID("uid", presAlways), fID("name", presAlways)}
	switch shape {
	case metaNamespaced, metaNoLabelsKeys:
		fs = append(fs, fID("namespace", presAlways))
	case metaEitherScope:
		fs = append(fs, fID("namespace", presOmitEmpty))
	}
	if shape != metaNoLabelsKeys {
		fs = append(fs, f("labels", tMap, presOmitEmpty), f("annotations", tMap, presOmitEmpty))
	}
	fs = append(fs, own...)
	fs = append(fs, f("k8s_created_at", tTime, presAlwaysInPractice))
	return &record{name: name, fields: fs}
}

// Record names used by the validator's special rules.
const (
	recSnapshot     = "SnapshotPayload"
	recEvent        = "EventPayload"
	recHeartbeat    = "HeartbeatPayload"
	recRole         = "RoleInfo"
	recRoleBinding  = "RoleBindingInfo"
	recVolume       = "VolumeInfo"
	annotationsKey  = "annotations"
	namespaceKey    = "namespace"
	isClusterKey    = "is_cluster"
	eventObjectKey  = "object"
	eventTypeKey    = "type"
	eventKindKey    = "kind"
	volumeSourceKey = "source"
)

// Event types (§5.2).
const (
	EventAdded    = "added"
	EventModified = "modified"
	EventDeleted  = "deleted"
)

// kindInfo ties a kind string (§5.1) to its snapshot key (§3.2) and record (§4).
type kindInfo struct {
	kind         string
	snapshotKey  string
	record       string
	clusterScope bool
}

// kindTable is §3.2 and §5.1, in snapshot emission order (the same order as Kinds).
var kindTable = []kindInfo{
	{"Namespace", "namespaces", "NamespaceInfo", true},
	{"Pod", "pods", "PodInfo", false},
	{"Service", "services", "ServiceInfo", false},
	{"Node", "nodes", "NodeInfo", true},
	{"Deployment", "deployments", "DeploymentInfo", false},
	{"StatefulSet", "statefulsets", "StatefulSetInfo", false},
	{"DaemonSet", "daemonsets", "DaemonSetInfo", false},
	{"Job", "jobs", "JobInfo", false},
	{"CronJob", "cronjobs", "CronJobInfo", false},
	{"Ingress", "ingresses", "IngressInfo", false},
	{"NetworkPolicy", "network_policies", "NetworkPolicyInfo", false},
	{"ConfigMap", "configmaps", "ConfigMapInfo", false},
	{"Secret", "secrets", "SecretInfo", false},
	{"PersistentVolumeClaim", "pvcs", "PVCInfo", false},
	{"ServiceAccount", "service_accounts", "ServiceAccountInfo", false},
	{"Role", "roles", "RoleInfo", false},
	{"ClusterRole", "cluster_roles", "RoleInfo", true},
	{"RoleBinding", "role_bindings", "RoleBindingInfo", false},
	{"ClusterRoleBinding", "cluster_role_bindings", "RoleBindingInfo", true},
	{"Event", "events", "EventInfo", false},
}

// kindByName indexes kindTable by kind string.
var kindByName = func() map[string]kindInfo {
	m := make(map[string]kindInfo, len(kindTable))
	for _, k := range kindTable {
		m[k.kind] = k
	}
	return m
}()

// IsClusterScoped reports whether kind is one of the four cluster-scoped kinds (§5.1).
func IsClusterScoped(kind string) bool { return kindByName[kind].clusterScope }

// volumeTypes are VolumeInfo `type` values (§4.2), with whether `source` may be present.
var volumeTypes = map[string]bool{
	"emptyDir": false, "configMap": true, "secret": true, "pvc": true, "hostPath": true,
	"projected": false, "downwardAPI": false, "csi": true, "nfs": true, "ephemeral": false,
	"unknown": false,
}

// filteredAnnotationPrefixes are never sent (§5.4).
var filteredAnnotationPrefixes = []string{"kubectl.kubernetes.io/", "kubernetes.io/"}

// records is the whole schema, by record name.
var records = func() map[string]*record {
	rs := []*record{
		// §3.1 + §3.2
		func() *record {
			r := &record{name: recSnapshot, fields: []field{
				fID("cluster_uid", presAlways),
				fID("cluster_name", presAlways),
				f("kubernetes_version", tString, presOmitEmpty),
				f("platform", tString, presOmitEmpty),
				f("region", tString, presOmitEmpty),
				f("agent_version", tString, presOmitEmpty),
			}}
			for _, k := range kindTable {
				r.fields = append(r.fields, f(k.snapshotKey, tArr(tRec(k.record)), presAlways))
			}
			return r
		}(),
		// §3.3
		{name: recEvent, fields: []field{
			fID("cluster_uid", presAlways),
			fEnum(eventTypeKey, presAlways, EventAdded, EventModified, EventDeleted),
			fEnum(eventKindKey, presAlways, Kinds...),
			fID("uid", presAlways),
			fID("name", presAlways),
			fID(namespaceKey, presOmitEmpty),
			f(eventObjectKey, tObject, presOmitEmpty),
		}},
		// §3.4
		{name: recHeartbeat, fields: []field{
			fID("cluster_uid", presAlways),
			f("agent_version", tString, presOmitEmpty),
		}},

		// §4.1
		resource("NamespaceInfo", metaCluster,
			f("phase", tString, presOmitEmpty)),
		// §4.2
		resource("PodInfo", metaNamespaced,
			f("node_name", tString, presOmitEmpty),
			f("service_account", tString, presOmitEmpty),
			f("phase", tString, presOmitEmpty),
			f("qos_class", tString, presOmitEmpty),
			f("priority_class_name", tString, presOmitEmpty),
			f("host_ip", tString, presOmitEmpty),
			f("pod_ip", tString, presOmitEmpty),
			f("conditions", tArr(tRec("PodCondition")), presOmitEmpty),
			f("containers", tArr(tRec("ContainerInfo")), presOmitEmpty),
			f("init_containers", tArr(tRec("ContainerInfo")), presOmitEmpty),
			f("volumes", tArr(tRec(recVolume)), presOmitEmpty)),
		{name: "PodCondition", fields: []field{
			f("type", tString, presAlways),
			f("status", tString, presAlways),
		}},
		{name: "ContainerInfo", fields: []field{
			f("name", tString, presAlways),
			f("image", tString, presAlways),
			fEnum("state", presOmitEmpty, "running", "waiting", "terminated"),
			f("ready", tBool, presAlways),
			f("restart_count", tInt32, presAlways),
			f("resources", tRec("ResourceRequirements"), presAlways),
			f("ports", tArr(tRec("ContainerPort")), presOmitEmpty),
			f("volume_mounts", tArr(tRec("VolumeMount")), presOmitEmpty),
			f("env_var_names", tArr(tString), presOmitEmpty),
			f("security_context", tRec("ContainerSecurityContext"), presOmitEmpty),
		}},
		{name: "ResourceRequirements", fields: []field{
			f("cpu_request", tQty, presOmitEmpty),
			f("cpu_limit", tQty, presOmitEmpty),
			f("memory_request", tQty, presOmitEmpty),
			f("memory_limit", tQty, presOmitEmpty),
		}},
		{name: "ContainerPort", fields: []field{
			f("container_port", tInt32, presAlways),
			f("protocol", tString, presOmitEmpty),
			f("name", tString, presOmitEmpty),
		}},
		{name: "VolumeMount", fields: []field{
			f("name", tString, presAlways),
			f("mount_path", tString, presAlways),
			f("read_only", tBool, presAlways),
		}},
		{name: "ContainerSecurityContext", fields: []field{
			f("privileged", tBool, presUnsetOnly),
			f("run_as_root", tBool, presTrueOrAbsent),
			f("capabilities", tArr(tString), presOmitEmpty),
		}},
		{name: recVolume, fields: []field{
			f("name", tString, presAlways),
			{key: "type", typ: tString, pres: presAlways, enum: sortedKeys(volumeTypes)},
			f(volumeSourceKey, tString, presOmitEmpty),
		}},
		// §4.3
		resource("ServiceInfo", metaNamespaced,
			f("service_type", tString, presOmitEmpty),
			f("cluster_ip", tString, presOmitEmpty),
			f("ports", tArr(tRec("PortInfo")), presOmitEmpty),
			f("selector", tMap, presOmitEmpty)),
		{name: "PortInfo", fields: []field{
			f("name", tString, presOmitEmpty),
			f("protocol", tString, presAlways),
			f("port", tInt32, presAlways),
			f("targetPort", tString, presOmitEmptyInPractice),
		}},
		// §4.4
		resource("NodeInfo", metaCluster,
			fEnum("status", presAlways, "Ready", "NotReady"),
			f("roles", tArr(tString), presOmitEmpty),
			f("kubelet_version", tString, presOmitEmpty),
			f("container_runtime", tString, presOmitEmpty),
			f("os_image", tString, presOmitEmpty),
			f("architecture", tString, presOmitEmpty),
			f("cpu_capacity", tQty, presAlwaysInPractice),
			f("memory_capacity", tQty, presAlwaysInPractice),
			f("pod_capacity", tQty, presAlwaysInPractice)),
		// §4.5
		resource("DeploymentInfo", metaNamespaced,
			f("replicas", tInt32, presAlways),
			f("ready_replicas", tInt32, presAlways),
			f("available_replicas", tInt32, presAlways),
			f("updated_replicas", tInt32, presAlways),
			f("strategy", tString, presOmitEmpty),
			f("selector", tMap, presOmitEmpty),
			f("image", tString, presOmitEmpty)),
		// §4.6
		resource("StatefulSetInfo", metaNamespaced,
			f("replicas", tInt32, presAlways),
			f("ready_replicas", tInt32, presAlways),
			f("current_replicas", tInt32, presAlways),
			f("update_strategy", tString, presOmitEmpty),
			f("service_name", tString, presOmitEmpty),
			f("selector", tMap, presOmitEmpty),
			f("image", tString, presOmitEmpty)),
		// §4.7
		resource("DaemonSetInfo", metaNamespaced,
			f("desired_number_scheduled", tInt32, presAlways),
			f("current_number_scheduled", tInt32, presAlways),
			f("number_ready", tInt32, presAlways),
			f("number_available", tInt32, presAlways),
			f("update_strategy", tString, presOmitEmpty),
			f("selector", tMap, presOmitEmpty),
			f("node_selector", tMap, presOmitEmpty),
			f("image", tString, presOmitEmpty)),
		// §4.8
		resource("JobInfo", metaNamespaced,
			f("completions", tInt32, presAlways),
			f("parallelism", tInt32, presAlways),
			f("succeeded", tInt32, presAlways),
			f("failed", tInt32, presAlways),
			f("active", tInt32, presAlways),
			f("start_time", tTime, presOmitEmpty),
			f("completion_time", tTime, presOmitEmpty),
			f("owner_ref", tString, presOmitEmpty)),
		// §4.9
		resource("CronJobInfo", metaNamespaced,
			f("schedule", tString, presAlways),
			f("suspend", tBool, presAlways),
			f("concurrency_policy", tString, presOmitEmpty),
			f("last_schedule_time", tTime, presOmitEmpty),
			f("active_jobs", tInt32, presAlways)),
		// §4.10
		resource("IngressInfo", metaNamespaced,
			f("ingress_class_name", tString, presOmitEmpty),
			f("rules", tArr(tRec("IngressRule")), presOmitEmpty),
			f("tls", tArr(tRec("IngressTLS")), presOmitEmpty),
			f("load_balancer_ips", tArr(tString), presOmitEmpty)),
		{name: "IngressRule", fields: []field{
			f("host", tString, presOmitEmpty),
			f("paths", tArr(tRec("IngressPath")), presOmitEmpty),
		}},
		{name: "IngressPath", fields: []field{
			f("path", tString, presOmitEmpty),
			f("path_type", tString, presOmitEmpty),
			f("service_name", tString, presOmitEmpty),
			f("service_port", tInt32, presOmitEmpty),
		}},
		{name: "IngressTLS", fields: []field{
			f("hosts", tArr(tString), presOmitEmpty),
			f("secret_name", tString, presOmitEmpty),
		}},
		// §4.11
		resource("NetworkPolicyInfo", metaNamespaced,
			f("pod_selector", tMap, presOmitEmpty),
			f("policy_types", tArr(tString), presOmitEmpty),
			f("ingress_rules", tInt, presAlways),
			f("egress_rules", tInt, presAlways)),
		// §4.12
		resource("ConfigMapInfo", metaNamespaced,
			f("data_keys", tArr(tString), presOmitEmpty),
			f("binary_keys", tArr(tString), presOmitEmpty),
			f("immutable", tBool, presAlways)),
		// §4.13
		resource("SecretInfo", metaNamespaced,
			f("type", tString, presOmitEmpty),
			f("data_keys", tArr(tString), presOmitEmpty),
			f("immutable", tBool, presAlways)),
		// §4.14
		resource("PVCInfo", metaNamespaced,
			f("storage_class_name", tString, presOmitEmpty),
			f("access_modes", tArr(tString), presOmitEmpty),
			f("storage_request", tQty, presOmitEmpty),
			f("volume_name", tString, presOmitEmpty),
			f("phase", tString, presOmitEmpty),
			f("volume_mode", tString, presOmitEmpty)),
		// §4.15
		resource("ServiceAccountInfo", metaNamespaced,
			f("secrets", tArr(tString), presOmitEmpty),
			f("image_pull_secrets", tArr(tString), presOmitEmpty),
			f("automount_service_account_token", tBool, presUnsetOnly)),
		// §4.16
		resource(recRole, metaEitherScope,
			f(isClusterKey, tBool, presAlways),
			f("rule_count", tInt, presAlways),
			f("resources", tArr(tString), presAlways)),
		// §4.17
		resource(recRoleBinding, metaEitherScope,
			f(isClusterKey, tBool, presAlways),
			f("role_ref", tRec("RoleRef"), presAlways),
			f("subjects", tArr(tRec("Subject")), presOmitEmpty)),
		{name: "RoleRef", fields: []field{
			f("kind", tString, presAlways),
			f("name", tString, presAlways),
		}},
		{name: "Subject", fields: []field{
			f("kind", tString, presAlways),
			f("name", tString, presAlways),
			f("namespace", tString, presOmitEmpty),
		}},
		// §4.18
		resource("EventInfo", metaNoLabelsKeys,
			f("type", tString, presAlways),
			f("reason", tString, presAlways),
			f("message", tString, presAlways),
			f("involved_object", tRec("ObjectReference"), presAlways),
			f("source", tRec("EventSource"), presAlways),
			f("first_timestamp", tTime, presOmitEmpty),
			f("last_timestamp", tTime, presOmitEmpty),
			f("count", tInt32, presAlways)),
		{name: "ObjectReference", fields: []field{
			f("kind", tString, presAlways),
			f("name", tString, presAlways),
			f("namespace", tString, presOmitEmpty),
			f("uid", tString, presOmitEmpty),
		}},
		{name: "EventSource", fields: []field{
			f("component", tString, presOmitEmpty),
			f("host", tString, presOmitEmpty),
		}},
	}
	m := make(map[string]*record, len(rs))
	for _, r := range rs {
		if _, dup := m[r.name]; dup {
			panic("platform: duplicate schema record " + r.name)
		}
		m[r.name] = r
	}
	return m
}()
