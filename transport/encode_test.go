package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	. "github.com/onsi/gomega"
)

// benchPod returns a realistic pod record (about 1.2 KB of JSON).
func benchPod(i int) *PodInfo {
	return &PodInfo{
		UID:               fmt.Sprintf("5b1c7a0e-%04x-4e2b-9c1d-%012x", i%0xffff, i),
		Name:              fmt.Sprintf("web-%d-7c9f8d6b5-x2kq9", i),
		Namespace:         fmt.Sprintf("team-%d", i%50),
		Labels:            map[string]string{"app": "web", "pod-template-hash": "7c9f8d6b5", "tier": "frontend"},
		Annotations:       map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
		NodeName:          fmt.Sprintf("worker-%d", i%100),
		ServiceAccount:    "web",
		Phase:             "Running",
		QOSClass:          "Burstable",
		PriorityClassName: "standard",
		HostIP:            "10.0.4.17",
		PodIP:             fmt.Sprintf("10.244.%d.%d", (i/250)%250, i%250),
		Conditions: []PodCondition{
			{Type: "Initialized", Status: "True"}, {Type: "Ready", Status: "True"},
			{Type: "ContainersReady", Status: "True"}, {Type: "PodScheduled", Status: "True"},
		},
		Containers: []ContainerInfo{{
			Name: "web", Image: "registry.example.com/web:1.4.2", State: "running", Ready: true, RestartCount: 1,
			Resources:       ResourceRequirements{CPURequest: "100m", CPULimit: "1", MemoryRequest: "128Mi", MemoryLimit: "256Mi"},
			Ports:           []ContainerPort{{ContainerPort: 8080, Protocol: "TCP", Name: "http"}},
			VolumeMounts:    []VolumeMount{{Name: "config", MountPath: "/etc/web", ReadOnly: true}},
			EnvVarNames:     []string{"DB_HOST", "DB_PASSWORD", "LOG_LEVEL"},
			SecurityContext: &ContainerSecurityContext{Privileged: ptr(false), Capabilities: []string{"NET_BIND_SERVICE"}},
		}},
		Volumes:   []VolumeInfo{{Name: "config", Type: "configMap", Source: "web-config"}, {Name: "kube-api-access-8zq4d", Type: "projected"}},
		CreatedAt: Unix(1763647391 + int64(i)),
	}
}

// bigSnapshot returns a snapshot of n pods plus one record of most other kinds.
func bigSnapshot(n int) *SnapshotPayload {
	s := &SnapshotPayload{ClusterUID: "cluster-big", ClusterName: "big", Pods: make([]*PodInfo, n)}
	for i := range s.Pods {
		s.Pods[i] = benchPod(i)
	}
	s.Namespaces = []*NamespaceInfo{{UID: "ns", Name: "team-0", Phase: "Active", CreatedAt: Unix(1)}}
	s.ClusterRoles = []*RoleInfo{{UID: "cr", Name: "view", IsCluster: true, RuleCount: 2, Resources: Strings{"pods", "pods/log"}, CreatedAt: Unix(1)}}
	s.Events = []*EventInfo{{UID: "ev", Name: "e", Namespace: "team-0", Type: "Warning", Reason: "BackOff",
		Message: "Back-off <restarting> & failing", InvolvedObject: ObjectReference{Kind: "Pod", Name: "web-0"}, Count: 3, CreatedAt: Unix(1)}}
	return s
}

func TestTheStreamedSnapshotEqualsItsMarshalledForm(t *testing.T) {
	snap := bigSnapshot(500)
	whole, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		read func(r io.Reader) ([]byte, error)
	}{
		{"read one byte at a time", func(r io.Reader) ([]byte, error) { return io.ReadAll(iotest.OneByteReader(r)) }},
		{"read in odd-sized pieces", func(r io.Reader) ([]byte, error) { return io.ReadAll(iotest.HalfReader(r)) }},
		{"copied with WriteTo", func(r io.Reader) ([]byte, error) {
			var b bytes.Buffer
			_, err := r.(io.WriterTo).WriteTo(&b)
			return b.Bytes(), err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			n := snapshotLength(snap, snap.AgentVersion)
			g.Expect(n).To(BeEquivalentTo(len(whole)))
			got, err := tc.read(newSnapshotReader(snap, snap.AgentVersion, n))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(whole))
			g.Expect(json.Valid(got)).To(BeTrue())
		})
	}
}

func TestASnapshotChangedWhileStreamingIsDetected(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *SnapshotPayload)
	}{
		{"a longer record overruns the counted length", func(s *SnapshotPayload) { s.Pods[3].Name += "-longer" }},
		{"a removed record falls short of the counted length", func(s *SnapshotPayload) { s.Pods = s.Pods[:5] }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			snap := bigSnapshot(10)
			n := snapshotLength(snap, "")
			tc.mutate(snap)
			_, err := io.ReadAll(newSnapshotReader(snap, "", n))
			g.Expect(errors.Is(err, errSnapshotChanged)).To(BeTrue(), "%v", err)
		})
	}
}

func TestStreamingASnapshotAllocatesLittleBeyondItsBuffer(t *testing.T) {
	g := NewWithT(t)
	snap := bigSnapshot(2000)
	n := snapshotLength(snap, "")
	g.Expect(n).To(BeNumerically(">", 2000*1000))
	buf := make([]byte, 32<<10)
	var r *snapshotReader
	allocs := testing.AllocsPerRun(2, func() {
		r = newSnapshotReader(snap, "", n)
		_, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		g.Expect(err).NotTo(HaveOccurred())
	})
	g.Expect(allocs).To(BeNumerically("<", 2000/10), "allocations per pass over 2000 pods (the race detector adds some)")
	g.Expect(cap(r.e.buf)).To(BeNumerically("<=", 2*chunkSize), "the encoder's buffer stays near one chunk")
}
