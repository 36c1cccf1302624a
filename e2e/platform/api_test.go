package platform

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestBodiesViolatingContractRulesAreRejected(t *testing.T) {
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_rules")

	svc := func(mod func(ev, obj map[string]any)) map[string]any {
		var ev map[string]any
		if err := json.Unmarshal([]byte(exampleServiceAdded), &ev); err != nil {
			t.Fatal(err)
		}
		mod(ev, ev["object"].(map[string]any))
		return ev
	}
	snapshotWith := func(key string, recs ...map[string]any) map[string]any {
		s := emptySnapshot("c1")
		arr := []any{}
		for _, r := range recs {
			arr = append(arr, r)
		}
		s[key] = arr
		return s
	}
	role := fullRecord(records[recRole], "Role")
	clusterRole := fullRecord(records[recRole], "ClusterRole")
	podWith := func(key string, v any) map[string]any {
		p := minimalPod("p1", "pod")
		p[key] = v
		return p
	}
	cases := []struct {
		name string
		path string
		body any
		want string // prefix of one problem
	}{
		{"an unknown event type is rejected", PathEvents, svc(func(ev, _ map[string]any) { ev["type"] = "ADDED" }), "type: invalid value \"ADDED\""},
		{"an unknown kind is rejected", PathEvents, svc(func(ev, _ map[string]any) { ev["kind"] = "ReplicaSet" }), "kind: invalid value"},
		{"an object on a delete is rejected", PathEvents, svc(func(ev, _ map[string]any) { ev["type"] = "deleted" }), "object: must be absent"},
		{"a null object on a delete is rejected", PathEvents, svc(func(ev, _ map[string]any) { ev["type"] = "deleted"; ev["object"] = nil }), "object: must be absent"},
		{"an added event without object is rejected", PathEvents, svc(func(ev, _ map[string]any) { delete(ev, "object") }), "object: required key missing"},
		{"a namespace on a cluster-scoped kind is rejected", PathEvents,
			map[string]any{"cluster_uid": "c1", "type": "deleted", "kind": "Node", "uid": "n1", "name": "node", "namespace": "default"},
			"namespace: must be absent for the cluster-scoped kind Node"},
		{"a namespaced kind without namespace is rejected", PathEvents,
			map[string]any{"cluster_uid": "c1", "type": "deleted", "kind": "Pod", "uid": "p1", "name": "pod"},
			"namespace: required key missing"},
		{"an object whose uid differs from the envelope's is rejected", PathEvents, svc(func(_, obj map[string]any) { obj["uid"] = "other" }), "object.uid:"},
		{"an object whose namespace differs from the envelope's is rejected", PathEvents, svc(func(_, obj map[string]any) { obj["namespace"] = "other" }), "object.namespace:"},
		{"an empty omitempty string is rejected", PathEvents, svc(func(_, obj map[string]any) { obj["cluster_ip"] = "" }), "object.cluster_ip: omitempty key present"},
		{"an empty omitempty map is rejected", PathEvents, svc(func(_, obj map[string]any) { obj["labels"] = map[string]any{} }), "object.labels: omitempty key present"},
		{"a filtered annotation is rejected", PathEvents, svc(func(_, obj map[string]any) {
			obj["annotations"] = map[string]any{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
		}), `object.annotations["kubectl.kubernetes.io/last-applied-configuration"]:`},
		{"a number as a label value is rejected", PathEvents, svc(func(_, obj map[string]any) { obj["labels"] = map[string]any{"a": 1} }), `object.labels["a"]: want string, got number`},
		{"a time with fractional seconds is rejected", PathEvents, svc(func(_, obj map[string]any) { obj["k8s_created_at"] = "2025-11-20T14:02:58.5Z" }), "object.k8s_created_at: want an RFC 3339 time in UTC"},
		{"a time with a zone offset is rejected", PathEvents, svc(func(_, obj map[string]any) { obj["k8s_created_at"] = "2025-11-20T15:02:58+01:00" }), "object.k8s_created_at: want an RFC 3339 time in UTC"},
		{"a port as a float is rejected", PathEvents, svc(func(_, obj map[string]any) {
			obj["ports"].([]any)[0].(map[string]any)["port"] = 80.5
		}), "object.ports[0].port: want an integer"},
		{"a port beyond int32 is rejected", PathEvents, svc(func(_, obj map[string]any) {
			obj["ports"].([]any)[0].(map[string]any)["port"] = 1 << 40
		}), "object.ports[0].port: integer 1099511627776 out of int32 range"},
		{"a numeric targetPort is rejected", PathEvents, svc(func(_, obj map[string]any) {
			obj["ports"].([]any)[0].(map[string]any)["targetPort"] = 8080
		}), "object.ports[0].targetPort: want string, got number"},
		{"a Role claiming to be cluster-wide is rejected", PathSnapshot, snapshotWith("roles", withKey(role, isClusterKey, true)), "roles[0].is_cluster: want false"},
		{"a ClusterRole with a namespace is rejected", PathSnapshot, snapshotWith("cluster_roles", withKey(clusterRole, namespaceKey, "ns")), "cluster_roles[0].namespace: must be absent"},
		{"a Role without namespace is rejected", PathSnapshot, snapshotWith("roles", withoutKey(role, namespaceKey)), "roles[0].namespace: required key missing"},
		{"a duplicate uid in one snapshot array is rejected", PathSnapshot, snapshotWith("pods", minimalPod("p1", "a"), minimalPod("p1", "b")), "pods[1].uid: duplicate uid"},
		{"a null snapshot array is rejected", PathSnapshot, withKey(emptySnapshot("c1"), "pods", nil), "pods: want array"},
		{"a missing snapshot array is rejected", PathSnapshot, withoutKey(emptySnapshot("c1"), "events"), "events: required key missing"},
		{"a cpu request as a number is rejected", PathSnapshot, snapshotWith("pods", podWith("containers", []any{map[string]any{
			"name": "c", "image": "i", "ready": true, "restart_count": 0, "resources": map[string]any{"cpu_request": 0.1}}})),
			"pods[0].containers[0].resources.cpu_request: want string (qty), got number"},
		{"a quantity not in canonical form is rejected", PathSnapshot, snapshotWith("pods", podWith("containers", []any{map[string]any{
			"name": "c", "image": "i", "ready": true, "restart_count": 0, "resources": map[string]any{"cpu_request": "0.1"}}})),
			"pods[0].containers[0].resources.cpu_request: want a Kubernetes quantity"},
		{"run_as_root false is rejected", PathSnapshot, snapshotWith("pods", podWith("containers", []any{map[string]any{
			"name": "c", "image": "i", "ready": true, "restart_count": 0, "resources": map[string]any{},
			"security_context": map[string]any{"run_as_root": false}}})),
			"pods[0].containers[0].security_context.run_as_root: want true or absent"},
		{"an unknown container state is rejected", PathSnapshot, snapshotWith("pods", podWith("containers", []any{map[string]any{
			"name": "c", "image": "i", "state": "crashloop", "ready": true, "restart_count": 0, "resources": map[string]any{}}})),
			"pods[0].containers[0].state: invalid value"},
		{"a source on an emptyDir volume is rejected", PathSnapshot, snapshotWith("pods", podWith("volumes", []any{map[string]any{
			"name": "v", "type": "emptyDir", "source": "x"}})), "pods[0].volumes[0].source: must be absent"},
		{"a node without capacity is rejected", PathSnapshot, snapshotWith("nodes", withoutKey(minimalNode("n1", "node"), "pod_capacity")), "nodes[0].pod_capacity: required key missing"},
		{"an empty cluster_uid is rejected", PathHeartbeat, map[string]any{"cluster_uid": ""}, "cluster_uid: must not be empty"},
		{"an empty agent_version is rejected", PathHeartbeat, map[string]any{"cluster_uid": "c1", "agent_version": ""}, "agent_version: omitempty key present"},
		{"a body that is an array is rejected", PathHeartbeat, []any{}, "body: want object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			status, body, err := a.postValue(tc.path, tc.body)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusBadRequest), "body %s", body)
			e := decodeError(t, body)
			g.Expect(hasProblem(e.Problems, tc.want)).To(BeTrue(), "want a problem starting %q, got %q", tc.want, e.Problems)
		})
	}
	g := NewWithT(t)
	g.Expect(sim.Clusters()).To(BeEmpty(), "no rejected body may change state")
}

func withKey(m map[string]any, k string, v any) map[string]any {
	c := copyValue(m).(map[string]any)
	c[k] = v
	return c
}

func withoutKey(m map[string]any, k string) map[string]any {
	c := copyValue(m).(map[string]any)
	delete(c, k)
	return c
}

func TestMalformedJSONIsRejected(t *testing.T) {
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_json")
	cases := []struct {
		name string
		body string
		want string
	}{
		{"a duplicate key is rejected", `{"cluster_uid":"c1","cluster_uid":"c2"}`, "cluster_uid: duplicate key"},
		{"data after the value is rejected", `{"cluster_uid":"c1"}{}`, "body: data after the JSON value"},
		{"invalid UTF-8 is rejected", "{\"cluster_uid\":\"c\xff\"}", "body: not valid UTF-8"},
		{"an empty body is rejected", ``, "body: empty"},
		{"truncated JSON is rejected", `{"cluster_uid":`, "body:"},
		{"a missing comma is rejected", `{"cluster_uid":"c1" "agent_version":"v"}`, "body: invalid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			status, body, err := a.post(PathHeartbeat, []byte(tc.body))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(http.StatusBadRequest), "body %s", body)
			g.Expect(hasProblem(decodeError(t, body).Problems, tc.want)).To(BeTrue(), "got %s", body)
		})
	}
}

func TestHeadersAreChecked(t *testing.T) {
	sim := StartForTest(t, Options{MaxBodyBytes: 1024})
	a := newTestAgent(t, sim, "cl_headers")
	cases := []struct {
		name        string
		contentType string
		encoding    string
		body        []byte
		wantStatus  int
	}{
		{"a text/plain body is unsupported", "text/plain", "", []byte(`{"cluster_uid":"c1"}`), 415},
		{"a charset parameter is not what the contract sends", "application/json; charset=utf-8", "", []byte(`{"cluster_uid":"c1"}`), 415},
		{"a gzip Content-Encoding is unsupported", "application/json", "gzip", []byte(`{"cluster_uid":"c1"}`), 415},
		{"a body over MaxBodyBytes is too large", "application/json", "", bytes.Repeat([]byte(" "), 2048), 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			req, err := http.NewRequest(http.MethodPost, sim.URL()+PathHeartbeat, bytes.NewReader(tc.body))
			g.Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Authorization", "Bearer "+a.token)
			req.Header.Set("Content-Type", tc.contentType)
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			status, body, err := do(a.client, req)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(status).To(Equal(tc.wantStatus), "body %s", body)
		})
	}
}

func TestMissingContentLengthIsRecorded(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_cl")
	body := mustJSON(t, emptySnapshot("c1"))

	// A reader of unknown length makes net/http omit Content-Length.
	req, err := http.NewRequest(http.MethodPost, sim.URL()+PathSnapshot, io.MultiReader(bytes.NewReader(body)))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	status, resp, err := do(a.client, req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK), "body %s", resp)

	status, _, err = a.post(PathSnapshot, body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK))

	st := sim.Stats()
	g.Expect(st.MissingContentLength).To(Equal(1))
	var snaps []RequestRecord
	for _, r := range sim.Requests() {
		if r.Endpoint == EndpointSnapshot {
			snaps = append(snaps, r)
		}
	}
	g.Expect(snaps).To(HaveLen(2))
	g.Expect(snaps[0].ContentLengthPresent).To(BeFalse())
	g.Expect(snaps[1].ContentLengthPresent).To(BeTrue())
	g.Expect(snaps[1].Bytes).To(Equal(int64(len(body))))
	g.Expect(snaps[1].Subject).To(Equal("cl_cl"))
	g.Expect(snaps[1].ClusterUID).To(Equal("c1"))
	g.Expect(snaps[1].Accepted).To(BeTrue())
	g.Expect(st.Total(EndpointSnapshot, 200)).To(Equal(2))
	g.Expect(st.BytesReceived).To(BeNumerically(">=", 2*len(body)))
}

func TestStateAppliesIdempotently(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	a := newTestAgent(t, sim, "cl_state")
	send := func(path string, v any) {
		t.Helper()
		status, body, err := a.postValue(path, v)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(status).To(Equal(http.StatusOK), "body %s", body)
	}

	send(PathEvents, upsertEvent("c1", EventAdded, "Pod", minimalPod("p1", "web")))
	g.Expect(sim.Cluster("c1").EventsBeforeSnapshot).To(Equal(1), "an event before any snapshot is accepted but counted")
	send(PathHeartbeat, map[string]any{"cluster_uid": "c1", "agent_version": "v1"})
	g.Expect(sim.Cluster("c1").HeartbeatsBeforeSnapshot).To(Equal(1))

	send(PathSnapshot, withKey(emptySnapshot("c1"), "nodes", []any{minimalNode("n1", "node-a")}))
	st := sim.Cluster("c1")
	g.Expect(st.Count("Pod")).To(Equal(0), "the snapshot replaced every kind")
	g.Expect(st.Count("Node")).To(Equal(1))
	g.Expect(st.AgentVersion).To(Equal(""), "the snapshot carried no agent_version")

	pod := minimalPod("p1", "web")
	send(PathEvents, upsertEvent("c1", EventAdded, "Pod", pod))
	pod2 := withKey(pod, "node_name", "node-a")
	send(PathEvents, upsertEvent("c1", EventAdded, "Pod", pod2)) // a repeated added upserts
	st = sim.Cluster("c1")
	g.Expect(st.Count("Pod")).To(Equal(1))
	g.Expect(st.Objects["Pod"]["p1"].Record["node_name"]).To(Equal("node-a"))

	send(PathEvents, upsertEvent("c1", EventModified, "Pod", minimalPod("p2", "api"))) // modified of an unknown uid upserts
	g.Expect(sim.Cluster("c1").Count("Pod")).To(Equal(2))

	// A new object under the same namespace/name but a new uid is a different object.
	send(PathEvents, upsertEvent("c1", EventAdded, "Pod", minimalPod("p1-new", "web")))
	g.Expect(sim.Cluster("c1").Find("Pod", "shop", "web")).To(HaveLen(2))
	send(PathEvents, deleteEvent("c1", "Pod", "p1", "web", "shop"))
	found := sim.Cluster("c1").Find("Pod", "shop", "web")
	g.Expect(found).To(HaveLen(1))
	g.Expect(found[0].UID).To(Equal("p1-new"))

	send(PathEvents, deleteEvent("c1", "Pod", "p1", "web", "shop")) // again: unknown now
	send(PathEvents, deleteEvent("c1", "Node", "nx", "gone", ""))
	st = sim.Cluster("c1")
	g.Expect(st.UnknownDeletes).To(Equal(2))
	g.Expect(st.Events).To(Equal(8))
	g.Expect(st.EventsBeforeSnapshot).To(Equal(1))

	// Cluster returns a deep copy.
	st.Objects["Pod"]["p2"].Record["name"] = "mutated"
	delete(st.Objects, "Node")
	again := sim.Cluster("c1")
	g.Expect(again.Objects["Pod"]["p2"].Record["name"]).To(Equal("api"))
	g.Expect(again.Count("Node")).To(Equal(1))

	// Unknown clusters read as empty.
	unknown := sim.Cluster("nope")
	g.Expect(unknown.Objects).NotTo(BeNil())
	g.Expect(unknown.Objects).To(BeEmpty())
	g.Expect(sim.Clusters()).To(Equal([]string{"c1"}))
}

func TestTestSeamsPlantAndRemoveState(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	rec := map[string]any{"uid": "x1", "name": "cm"}
	sim.PutObject("c9", Object{Kind: "ConfigMap", UID: "x1", Name: "cm", Namespace: "ns", Record: rec})
	rec["name"] = "changed after PutObject"
	o, ok := sim.Cluster("c9").Get("ConfigMap", "x1")
	g.Expect(ok).To(BeTrue())
	g.Expect(o.Record["name"]).To(Equal("cm"), "PutObject copies the record")
	sim.RemoveObject("c9", "ConfigMap", "x1")
	g.Expect(sim.Cluster("c9").Count("ConfigMap")).To(Equal(0))

	// A planted object is deleted by a real event without counting as unknown.
	sim.PutObject("c9", Object{Kind: "Pod", UID: "p1", Name: "web", Namespace: "shop"})
	a := newTestAgent(t, sim, "cl_seam")
	status, body, err := a.postValue(PathEvents, deleteEvent("c9", "Pod", "p1", "web", "shop"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(status).To(Equal(http.StatusOK), "body %s", body)
	st := sim.Cluster("c9")
	g.Expect(st.Count("Pod")).To(Equal(0))
	g.Expect(st.UnknownDeletes).To(Equal(0))
}

func TestClusterInAndObjectUIDsReadPartsOfACluster(t *testing.T) {
	g := NewWithT(t)
	sim := StartForTest(t, Options{})
	sim.PutObject("c1", Object{Kind: "Pod", UID: "p1", Name: "web", Namespace: "shop", Record: map[string]any{"name": "web"}})
	sim.PutObject("c1", Object{Kind: "Pod", UID: "p2", Name: "db", Namespace: "other"})
	sim.PutObject("c1", Object{Kind: "ConfigMap", UID: "m1", Name: "cfg", Namespace: "bench"})
	sim.PutObject("c1", Object{Kind: "Node", UID: "n1", Name: "node-1"})
	sim.PutObject("c1", Object{Kind: "Namespace", UID: "ns1", Name: "other"})

	st := sim.ClusterIn("c1", "shop", "bench")
	g.Expect(st.ClusterUID).To(Equal("c1"))
	g.Expect(st.Objects["Pod"]).To(HaveLen(1))
	g.Expect(st.Objects["Pod"]).To(HaveKey("p1"))
	g.Expect(st.Objects["ConfigMap"]).To(HaveKey("m1"))
	g.Expect(st.Objects["Node"]).To(HaveKey("n1"), "cluster-scoped objects are kept")
	g.Expect(st.Objects["Namespace"]).To(HaveKey("ns1"), "Namespace objects are cluster-scoped")
	st.Objects["Pod"]["p1"].Record["name"] = "changed in the copy"
	o, _ := sim.Cluster("c1").Get("Pod", "p1")
	g.Expect(o.Record["name"]).To(Equal("web"), "the copy shares nothing")
	g.Expect(sim.ClusterIn("nope", "shop").Objects).To(BeEmpty())

	g.Expect(sim.ObjectUIDs("c1", "Pod", "shop")).To(ConsistOf("p1"))
	g.Expect(sim.ObjectUIDs("c1", "Node", "")).To(ConsistOf("n1"))
	g.Expect(sim.ObjectUIDs("c1", "Pod", "elsewhere")).To(BeEmpty())
	g.Expect(sim.ObjectUIDs("nope", "Pod", "shop")).To(BeEmpty())
}

func TestValidateRecordChecksOneRecord(t *testing.T) {
	g := NewWithT(t)
	g.Expect(ValidateRecord("Pod", mustJSON(t, minimalPod("p", "n")))).To(Succeed())
	err := ValidateRecord("Pod", []byte(`{"uid":"p","name":"n","namespace":"shop"}`))
	g.Expect(err).To(MatchError(ContainSubstring("k8s_created_at: required key missing")))
	g.Expect(ValidateRecord("ReplicaSet", []byte(`{}`))).To(MatchError(ContainSubstring("unknown kind")))
	g.Expect(strings.Count(ValidateRecord("Node", []byte(`{}`)).Error(), "required key missing")).To(Equal(7))
}
