package transport

import "fmt"

// fullRecords returns one record of each of the 20 kinds, in Kinds order, with every field
// set to a value the contract allows (so every omitempty key is on the wire). The suffix
// makes uids and names unique.
func fullRecords(suffix string) []Record {
	uid := func(k string) string { return fmt.Sprintf("%s-uid-%s", k, suffix) }
	labels := map[string]string{"app.kubernetes.io/name": "shop", "team": "payments"}
	annotations := map[string]string{"deployment.kubernetes.io/revision": "3", "note": "a<b & c>d"}
	created := Unix(1763647391)
	return []Record{
		&NamespaceInfo{UID: uid("ns"), Name: "shop-" + suffix, Labels: labels, Annotations: annotations,
			Phase: "Active", CreatedAt: created},
		&PodInfo{
			UID: uid("pod"), Name: "cart-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			NodeName: "worker-a1", ServiceAccount: "cart", Phase: "Running", QOSClass: "Burstable",
			PriorityClassName: "high", HostIP: "10.0.4.17", PodIP: "10.244.3.52",
			Conditions: []PodCondition{{Type: "Ready", Status: "True"}, {Type: "PodScheduled", Status: "True"}},
			Containers: []ContainerInfo{{
				Name: "cart", Image: "registry.example.com/cart:1.4.2", State: "running", Ready: true, RestartCount: 2,
				Resources:    ResourceRequirements{CPURequest: "100m", CPULimit: "2", MemoryRequest: "128Mi", MemoryLimit: "1Gi"},
				Ports:        []ContainerPort{{ContainerPort: 8080, Protocol: "TCP", Name: "http"}},
				VolumeMounts: []VolumeMount{{Name: "config", MountPath: "/etc/cart", ReadOnly: true}},
				EnvVarNames:  []string{"DB_HOST", "DB_PASSWORD"},
				SecurityContext: &ContainerSecurityContext{Privileged: ptr(true), RunAsRoot: true,
					Capabilities: []string{"NET_ADMIN", "NET_BIND_SERVICE"}},
			}},
			InitContainers: []ContainerInfo{{
				Name: "migrate", Image: "registry.example.com/migrate:1", State: "terminated", Ready: false,
				Resources:       ResourceRequirements{CPURequest: "50m"},
				SecurityContext: &ContainerSecurityContext{},
			}},
			Volumes: []VolumeInfo{
				{Name: "config", Type: "configMap", Source: "cart-config"},
				{Name: "creds", Type: "secret", Source: "cart-creds"},
				{Name: "data", Type: "pvc", Source: "cart-data"},
				{Name: "host", Type: "hostPath", Source: "/var/log"},
				{Name: "csi", Type: "csi", Source: "ebs.csi.aws.com"},
				{Name: "share", Type: "nfs", Source: "nfs.example.com:/exports"},
				{Name: "scratch", Type: "emptyDir"},
				{Name: "token", Type: "projected"},
				{Name: "meta", Type: "downwardAPI"},
				{Name: "eph", Type: "ephemeral"},
				{Name: "odd", Type: "unknown"},
			},
			CreatedAt: created,
		},
		&ServiceInfo{UID: uid("svc"), Name: "cart-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			ServiceType: "LoadBalancer", ClusterIP: "10.96.41.7",
			Ports:    []PortInfo{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "http"}, {Name: "metrics", Protocol: "TCP", Port: 9090, TargetPort: "9090"}},
			Selector: map[string]string{"app": "cart"}, CreatedAt: created},
		&NodeInfo{UID: uid("node"), Name: "worker-" + suffix, Labels: labels, Annotations: annotations, Status: "Ready",
			Roles: []string{"worker", "control-plane"}, KubeletVersion: "v1.37.2", ContainerRuntime: "containerd://1.7.22",
			OSImage: "Ubuntu 24.04 LTS", Architecture: "amd64", CPUCapacity: "4", MemoryCapacity: "16318876Ki",
			PodCapacity: "110", CreatedAt: created},
		&DeploymentInfo{UID: uid("deploy"), Name: "cart-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 1, Strategy: "RollingUpdate",
			Selector: map[string]string{"app": "cart"}, Image: "registry.example.com/cart:1.4.3", CreatedAt: created},
		&StatefulSetInfo{UID: uid("sts"), Name: "db-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdateStrategy: "OnDelete", ServiceName: "db",
			Selector: map[string]string{"app": "db"}, Image: "postgres:16", CreatedAt: created},
		&DaemonSetInfo{UID: uid("ds"), Name: "agent-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			DesiredNumberScheduled: 5, CurrentNumberScheduled: 5, NumberReady: 4, NumberAvailable: 4,
			UpdateStrategy: "RollingUpdate", Selector: map[string]string{"app": "agent"},
			NodeSelector: map[string]string{"kubernetes.io/os": "linux"}, Image: "agent:2", CreatedAt: created},
		&JobInfo{UID: uid("job"), Name: "report-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			Completions: 2, Parallelism: 2, Succeeded: 1, Failed: 1, Active: 1, StartTime: Unix(1763647400),
			CompletionTime: Unix(1763647500), OwnerRef: "report", CreatedAt: created},
		&CronJobInfo{UID: uid("cron"), Name: "report-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			Schedule: "*/5 * * * *", Suspend: true, ConcurrencyPolicy: "Forbid", LastScheduleTime: Unix(1763647300),
			ActiveJobs: 1, CreatedAt: created},
		&IngressInfo{UID: uid("ing"), Name: "web-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			IngressClassName: "nginx",
			Rules: []IngressRule{{Host: "shop.example.com", Paths: []IngressPath{
				{Path: "/", PathType: "Prefix", ServiceName: "cart", ServicePort: 80},
			}}},
			TLS:             []IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop-tls"}},
			LoadBalancerIPs: []string{"203.0.113.10", "lb.example.com"}, CreatedAt: created},
		&NetworkPolicyInfo{UID: uid("netpol"), Name: "deny-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			PodSelector: map[string]string{"app": "cart"}, PolicyTypes: []string{"Ingress", "Egress"},
			IngressRules: 2, EgressRules: 1, CreatedAt: created},
		&ConfigMapInfo{UID: uid("cm"), Name: "cart-config-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			DataKeys: []string{"app.yaml"}, BinaryKeys: []string{"logo.png"}, Immutable: true, CreatedAt: created},
		&SecretInfo{UID: uid("secret"), Name: "cart-creds-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			Type: "kubernetes.io/tls", DataKeys: []string{"tls.crt", "tls.key"}, Immutable: true, CreatedAt: created},
		&PVCInfo{UID: uid("pvc"), Name: "cart-data-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			StorageClassName: "gp3", AccessModes: []string{"ReadWriteOnce"}, StorageRequest: "10Gi",
			VolumeName: "pvc-1234", Phase: "Bound", VolumeMode: "Filesystem", CreatedAt: created},
		&ServiceAccountInfo{UID: uid("sa"), Name: "cart-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			Secrets: []string{"cart-token"}, ImagePullSecrets: []string{"registry"},
			AutomountServiceAccountToken: ptr(false), CreatedAt: created},
		&RoleInfo{UID: uid("role"), Name: "reader-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			RuleCount: 2, Resources: Strings{"pods", "pods/log"}, CreatedAt: created},
		&RoleInfo{UID: uid("crole"), Name: "viewer-" + suffix, Labels: labels, Annotations: annotations, IsCluster: true,
			RuleCount: 1, Resources: Strings{"*"}, CreatedAt: created},
		&RoleBindingInfo{UID: uid("rb"), Name: "reader-" + suffix, Namespace: "shop", Labels: labels, Annotations: annotations,
			RoleRef:   RoleRef{Kind: "Role", Name: "reader"},
			Subjects:  []Subject{{Kind: "ServiceAccount", Name: "cart", Namespace: "shop"}, {Kind: "User", Name: "jane"}},
			CreatedAt: created},
		&RoleBindingInfo{UID: uid("crb"), Name: "viewer-" + suffix, Labels: labels, Annotations: annotations, IsCluster: true,
			RoleRef:  RoleRef{Kind: "ClusterRole", Name: "viewer"},
			Subjects: []Subject{{Kind: "Group", Name: "ops"}}, CreatedAt: created},
		&EventInfo{UID: uid("event"), Name: "cart.1875-" + suffix, Namespace: "shop", Type: "Warning", Reason: "BackOff",
			Message:        "Back-off restarting failed container <cart> & friends",
			InvolvedObject: ObjectReference{Kind: "Pod", Name: "cart", Namespace: "shop", UID: uid("pod")},
			Source:         EventSource{Component: "kubelet", Host: "worker-a1"},
			FirstTimestamp: Unix(1763647391), LastTimestamp: Unix(1763647491), Count: 7, CreatedAt: created},
	}
}

// snapshotOf puts records into a snapshot's arrays by kind.
func snapshotOf(clusterUID string, recs []Record) *SnapshotPayload {
	s := &SnapshotPayload{ClusterUID: clusterUID, ClusterName: "name-" + clusterUID}
	for _, r := range recs {
		switch v := r.(type) {
		case *NamespaceInfo:
			s.Namespaces = append(s.Namespaces, v)
		case *PodInfo:
			s.Pods = append(s.Pods, v)
		case *ServiceInfo:
			s.Services = append(s.Services, v)
		case *NodeInfo:
			s.Nodes = append(s.Nodes, v)
		case *DeploymentInfo:
			s.Deployments = append(s.Deployments, v)
		case *StatefulSetInfo:
			s.StatefulSets = append(s.StatefulSets, v)
		case *DaemonSetInfo:
			s.DaemonSets = append(s.DaemonSets, v)
		case *JobInfo:
			s.Jobs = append(s.Jobs, v)
		case *CronJobInfo:
			s.CronJobs = append(s.CronJobs, v)
		case *IngressInfo:
			s.Ingresses = append(s.Ingresses, v)
		case *NetworkPolicyInfo:
			s.NetworkPolicies = append(s.NetworkPolicies, v)
		case *ConfigMapInfo:
			s.ConfigMaps = append(s.ConfigMaps, v)
		case *SecretInfo:
			s.Secrets = append(s.Secrets, v)
		case *PVCInfo:
			s.PVCs = append(s.PVCs, v)
		case *ServiceAccountInfo:
			s.ServiceAccounts = append(s.ServiceAccounts, v)
		case *RoleInfo:
			if v.IsCluster {
				s.ClusterRoles = append(s.ClusterRoles, v)
			} else {
				s.Roles = append(s.Roles, v)
			}
		case *RoleBindingInfo:
			if v.IsCluster {
				s.ClusterRoleBindings = append(s.ClusterRoleBindings, v)
			} else {
				s.RoleBindings = append(s.RoleBindings, v)
			}
		case *EventInfo:
			s.Events = append(s.Events, v)
		}
	}
	return s
}

// identity returns a record's uid, name and namespace.
func identity(r Record) (uid, name, namespace string) {
	switch v := r.(type) {
	case *NamespaceInfo:
		return v.UID, v.Name, ""
	case *PodInfo:
		return v.UID, v.Name, v.Namespace
	case *ServiceInfo:
		return v.UID, v.Name, v.Namespace
	case *NodeInfo:
		return v.UID, v.Name, ""
	case *DeploymentInfo:
		return v.UID, v.Name, v.Namespace
	case *StatefulSetInfo:
		return v.UID, v.Name, v.Namespace
	case *DaemonSetInfo:
		return v.UID, v.Name, v.Namespace
	case *JobInfo:
		return v.UID, v.Name, v.Namespace
	case *CronJobInfo:
		return v.UID, v.Name, v.Namespace
	case *IngressInfo:
		return v.UID, v.Name, v.Namespace
	case *NetworkPolicyInfo:
		return v.UID, v.Name, v.Namespace
	case *ConfigMapInfo:
		return v.UID, v.Name, v.Namespace
	case *SecretInfo:
		return v.UID, v.Name, v.Namespace
	case *PVCInfo:
		return v.UID, v.Name, v.Namespace
	case *ServiceAccountInfo:
		return v.UID, v.Name, v.Namespace
	case *RoleInfo:
		return v.UID, v.Name, v.Namespace
	case *RoleBindingInfo:
		return v.UID, v.Name, v.Namespace
	case *EventInfo:
		return v.UID, v.Name, v.Namespace
	}
	panic(fmt.Sprintf("unknown record %T", r))
}

// eventFor builds the event envelope of a change to r.
func eventFor(clusterUID string, typ EventType, r Record) *EventPayload {
	uid, name, ns := identity(r)
	e := &EventPayload{ClusterUID: clusterUID, Type: typ, Kind: r.Kind(), UID: uid, Name: name, Namespace: ns}
	if typ != EventDeleted {
		e.Object = r
	}
	return e
}
