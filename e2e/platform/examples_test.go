package platform

import (
	"encoding/json"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

// The contract's complete examples (§8.2–8.6), transcribed verbatim. TestSchemaMatchesContractDocument
// checks that they still equal the document's.

const exampleHeartbeat = `{"cluster_uid":"3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88","agent_version":"v0.1.0"}`

const exampleSnapshot = `{
  "cluster_uid": "3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88",
  "cluster_name": "staging-eu-1",
  "agent_version": "v0.1.0",
  "namespaces": [
    {
      "uid": "6b1f0c52-3d7e-4a91-b0c4-2f8e9d1a7b35",
      "name": "shop",
      "labels": {"kubernetes.io/metadata.name": "shop", "team": "payments"},
      "annotations": {"owner": "payments@example.com"},
      "phase": "Active",
      "k8s_created_at": "2025-11-02T09:14:05Z"
    }
  ],
  "pods": [
    {
      "uid": "d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d",
      "name": "cart-7c9f8d6b5-x2kq9",
      "namespace": "shop",
      "labels": {"app": "cart", "pod-template-hash": "7c9f8d6b5"},
      "annotations": {"prometheus.io/scrape": "true"},
      "node_name": "worker-a1",
      "service_account": "cart",
      "phase": "Running",
      "qos_class": "Burstable",
      "host_ip": "10.0.4.17",
      "pod_ip": "10.244.3.52",
      "conditions": [
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": "True"},
        {"type": "ContainersReady", "status": "True"},
        {"type": "PodScheduled", "status": "True"}
      ],
      "containers": [
        {
          "name": "cart",
          "image": "registry.example.com/cart:1.4.2",
          "state": "running",
          "ready": true,
          "restart_count": 1,
          "resources": {"cpu_request": "100m", "memory_request": "128Mi", "memory_limit": "256Mi"},
          "ports": [{"container_port": 8080, "protocol": "TCP", "name": "http"}],
          "volume_mounts": [{"name": "config", "mount_path": "/etc/cart", "read_only": true}],
          "env_var_names": ["DB_HOST", "DB_PASSWORD"],
          "security_context": {"privileged": false, "capabilities": ["NET_BIND_SERVICE"]}
        }
      ],
      "init_containers": [
        {
          "name": "migrate",
          "image": "registry.example.com/cart-migrate:1.4.2",
          "state": "terminated",
          "ready": true,
          "restart_count": 0,
          "resources": {}
        }
      ],
      "volumes": [
        {"name": "config", "type": "configMap", "source": "cart-config"},
        {"name": "kube-api-access-8zq4d", "type": "projected"}
      ],
      "k8s_created_at": "2025-11-20T14:03:11Z"
    }
  ],
  "services": [], "nodes": [], "deployments": [], "statefulsets": [], "daemonsets": [],
  "jobs": [], "cronjobs": [], "ingresses": [], "network_policies": [], "configmaps": [],
  "secrets": [], "pvcs": [], "service_accounts": [], "roles": [], "cluster_roles": [],
  "role_bindings": [], "cluster_role_bindings": [], "events": []
}`

const exampleServiceAdded = `{
  "cluster_uid": "3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88",
  "type": "added",
  "kind": "Service",
  "uid": "0e5c7a9b-2f41-4d86-a3b0-9c8d7e6f5a41",
  "name": "cart",
  "namespace": "shop",
  "object": {
    "uid": "0e5c7a9b-2f41-4d86-a3b0-9c8d7e6f5a41",
    "name": "cart",
    "namespace": "shop",
    "labels": {"app": "cart"},
    "service_type": "ClusterIP",
    "cluster_ip": "10.96.41.7",
    "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"}],
    "selector": {"app": "cart"},
    "k8s_created_at": "2025-11-20T14:02:58Z"
  }
}`

const exampleDeploymentModified = `{
  "cluster_uid": "3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88",
  "type": "modified",
  "kind": "Deployment",
  "uid": "a7c3e1f9-6d2b-4c58-8e0a-1b2c3d4e5f60",
  "name": "cart",
  "namespace": "shop",
  "object": {
    "uid": "a7c3e1f9-6d2b-4c58-8e0a-1b2c3d4e5f60",
    "name": "cart",
    "namespace": "shop",
    "labels": {"app": "cart"},
    "annotations": {"deployment.kubernetes.io/revision": "3"},
    "replicas": 3,
    "ready_replicas": 2,
    "available_replicas": 2,
    "updated_replicas": 1,
    "strategy": "RollingUpdate",
    "selector": {"app": "cart"},
    "image": "registry.example.com/cart:1.4.3",
    "k8s_created_at": "2025-11-20T14:02:58Z"
  }
}`

const examplePodDeleted = `{
  "cluster_uid": "3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88",
  "type": "deleted",
  "kind": "Pod",
  "uid": "d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d",
  "name": "cart-7c9f8d6b5-x2kq9",
  "namespace": "shop"
}`

const exampleNodeDeleted = `{"cluster_uid":"3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88","type":"deleted","kind":"Node","uid":"5e0b9d27-8c14-4a6f-b3d2-6f1a0c9e8b47","name":"worker-a3"}`

const exampleClusterUID = "3f9d2c1e-8b4a-4e6f-9a2d-7c5b1e0f4a88"

func TestContractExamplesAreAcceptedAndApplied(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_4f8a2b9c71")

	post := func(path, body string) {
		t.Helper()
		status, resp, err := a.post(path, []byte(body))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(status).To(Equal(http.StatusOK), "%s: %s", path, resp)
	}

	// §8.3: the snapshot creates the state.
	post(PathSnapshot, exampleSnapshot)
	st := sim.Cluster(exampleClusterUID)
	g.Expect(st.ClusterName).To(Equal("staging-eu-1"))
	g.Expect(st.AgentVersion).To(Equal("v0.1.0"))
	g.Expect(st.Snapshots).To(Equal(1))
	g.Expect(st.Count("Namespace")).To(Equal(1))
	g.Expect(st.Count("Pod")).To(Equal(1))
	pod, ok := st.Get("Pod", "d2a4e8f0-51c3-4b7a-9e6d-0c1f2a3b4c5d")
	g.Expect(ok).To(BeTrue())
	g.Expect(pod.Name).To(Equal("cart-7c9f8d6b5-x2kq9"))
	g.Expect(pod.Namespace).To(Equal("shop"))
	var want map[string]any
	g.Expect(json.Unmarshal([]byte(exampleSnapshot), &want)).To(Succeed())
	g.Expect(pod.Record).To(Equal(want["pods"].([]any)[0]), "the record is stored exactly as it arrived")

	// §8.4: added upserts.
	post(PathEvents, exampleServiceAdded)
	svc, ok := sim.Cluster(exampleClusterUID).Get("Service", "0e5c7a9b-2f41-4d86-a3b0-9c8d7e6f5a41")
	g.Expect(ok).To(BeTrue())
	g.Expect(svc.Record["ports"]).To(Equal([]any{map[string]any{"name": "http", "protocol": "TCP", "port": float64(80), "targetPort": "http"}}))

	// §8.5: modified of an unknown uid upserts.
	post(PathEvents, exampleDeploymentModified)
	dep, ok := sim.Cluster(exampleClusterUID).Get("Deployment", "a7c3e1f9-6d2b-4c58-8e0a-1b2c3d4e5f60")
	g.Expect(ok).To(BeTrue())
	g.Expect(dep.Record["replicas"]).To(Equal(float64(3)))

	// §8.6: deleted removes; a delete of an unknown uid is accepted and counted.
	post(PathEvents, examplePodDeleted)
	post(PathEvents, exampleNodeDeleted)
	st = sim.Cluster(exampleClusterUID)
	g.Expect(st.Count("Pod")).To(Equal(0))
	g.Expect(st.UnknownDeletes).To(Equal(1))
	g.Expect(st.Events).To(Equal(4))
	g.Expect(st.EventsBeforeSnapshot).To(Equal(0))

	// §8.2: the heartbeat is recorded.
	post(PathHeartbeat, exampleHeartbeat)
	st = sim.Cluster(exampleClusterUID)
	g.Expect(st.Heartbeats).To(Equal(1))
	g.Expect(st.LastHeartbeat).NotTo(BeZero())
	g.Expect(st.HeartbeatsBeforeSnapshot).To(Equal(0))

	// A second snapshot replaces everything: the Service and Deployment are gone.
	post(PathSnapshot, exampleSnapshot)
	st = sim.Cluster(exampleClusterUID)
	g.Expect(st.Snapshots).To(Equal(2))
	g.Expect(st.Count("Service")).To(Equal(0))
	g.Expect(st.Count("Deployment")).To(Equal(0))
	g.Expect(st.Count("Pod")).To(Equal(1))
	g.Expect(sim.Stats().EventsByCluster).To(HaveKeyWithValue(exampleClusterUID, 4))
}

func TestTokenResponseIsExactlyTheContractShape(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{TokenLifetime: 3600e9})
	a := newTestAgent(t, sim, "cl_4f8a2b9c71")
	status, body, err := a.postToken(a.assertion())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK))
	var m map[string]any
	g.Expect(json.Unmarshal(body, &m)).To(Succeed())
	g.Expect(m).To(HaveLen(4))
	g.Expect(m["access_token"]).To(BeAssignableToTypeOf(""))
	g.Expect(m["access_token"]).NotTo(BeEmpty())
	g.Expect(m).To(HaveKeyWithValue("token_type", "Bearer"))
	g.Expect(m).To(HaveKeyWithValue("expires_in", float64(3600)))
	g.Expect(m).To(HaveKeyWithValue("scope", "agent"))
}
