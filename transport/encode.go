package transport

import (
	"errors"
	"io"
)

// chunkSize is how many bytes of snapshot JSON the streaming encoder prepares before handing
// them out. It bounds the encoder's buffer (plus one record).
const chunkSize = 64 << 10

// errSnapshotChanged reports that a snapshot encoded to a different length on the send pass
// than on the counting pass: a record or slice was modified during the send.
var errSnapshotChanged = errors.New("snapshot changed while it was being sent")

// section is one of the snapshot's 20 arrays: its length, and a function that appends its
// i-th element (reporting false for a nil element, which is skipped).
type section struct {
	n   int
	app func(b []byte, i int) ([]byte, bool)
}

func sectionOf[T any, P interface {
	*T
	Record
}](s []P) section {
	return section{n: len(s), app: func(b []byte, i int) ([]byte, bool) {
		if s[i] == nil {
			return b, false
		}
		return s[i].appendJSON(b), true
	}}
}

// snapshotEncoder writes a SnapshotPayload as JSON, one record at a time, into buf. It never
// holds more than about chunkSize bytes plus one record, and allocates nothing per record.
type snapshotEncoder struct {
	s            *SnapshotPayload
	agentVersion string
	sections     [len(Kinds)]section

	buf []byte
	off int // buf[off:] is not yet consumed

	sec   int  // -1 before the header, then the current section
	idx   int  // next element of the current section
	wrote bool // an element of the current section has been written (a comma is due)
	done  bool
}

func newSnapshotEncoder(s *SnapshotPayload, agentVersion string) *snapshotEncoder {
	return &snapshotEncoder{
		s:            s,
		agentVersion: agentVersion,
		sections: [len(Kinds)]section{
			sectionOf(s.Namespaces), sectionOf(s.Pods), sectionOf(s.Services), sectionOf(s.Nodes),
			sectionOf(s.Deployments), sectionOf(s.StatefulSets), sectionOf(s.DaemonSets),
			sectionOf(s.Jobs), sectionOf(s.CronJobs), sectionOf(s.Ingresses),
			sectionOf(s.NetworkPolicies), sectionOf(s.ConfigMaps), sectionOf(s.Secrets),
			sectionOf(s.PVCs), sectionOf(s.ServiceAccounts), sectionOf(s.Roles),
			sectionOf(s.ClusterRoles), sectionOf(s.RoleBindings), sectionOf(s.ClusterRoleBindings),
			sectionOf(s.Events),
		},
		sec: -1,
	}
}

// pending is the number of encoded bytes not yet consumed.
func (e *snapshotEncoder) pending() int { return len(e.buf) - e.off }

// step appends the next piece of the document (the header, one record, or an array's
// closing bracket and the next array's opening) to buf. It reports false once the document
// is complete.
func (e *snapshotEncoder) step() bool {
	if e.done {
		return false
	}
	if e.sec < 0 {
		o := openObj(e.buf)
		o.str("cluster_uid", e.s.ClusterUID)
		o.str("cluster_name", e.s.ClusterName)
		o.strOmit("kubernetes_version", e.s.KubernetesVersion)
		o.strOmit("platform", e.s.Platform)
		o.strOmit("region", e.s.Region)
		o.strOmit("agent_version", e.agentVersion)
		e.buf = o.b
		e.openSection(0)
		return true
	}
	s := &e.sections[e.sec]
	for e.idx < s.n {
		mark := len(e.buf)
		if e.wrote {
			e.buf = append(e.buf, ',')
		}
		var ok bool
		e.buf, ok = s.app(e.buf, e.idx)
		e.idx++
		if !ok {
			e.buf = e.buf[:mark]
			continue
		}
		e.wrote = true
		return true
	}
	e.buf = append(e.buf, ']')
	if e.sec+1 < len(e.sections) {
		e.openSection(e.sec + 1)
		return true
	}
	e.buf = append(e.buf, '}')
	e.done = true
	return true
}

func (e *snapshotEncoder) openSection(i int) {
	e.sec, e.idx, e.wrote = i, 0, false
	e.buf = append(e.buf, ',', '"')
	e.buf = append(e.buf, snapshotKeys[i]...)
	e.buf = append(e.buf, '"', ':', '[')
}

// fill encodes until at least min bytes are pending or the document is complete. Consumed
// bytes are dropped first, so the buffer does not grow beyond about min plus one record.
func (e *snapshotEncoder) fill(min int) {
	if e.off > 0 {
		n := copy(e.buf, e.buf[e.off:])
		e.buf, e.off = e.buf[:n], 0
	}
	for e.pending() < min && e.step() {
	}
}

// snapshotLength runs the counting pass: it encodes the whole snapshot, discarding the bytes.
func snapshotLength(s *SnapshotPayload, agentVersion string) int64 {
	e := newSnapshotEncoder(s, agentVersion)
	var n int64
	for !e.done {
		e.fill(chunkSize)
		n += int64(e.pending())
		e.off = len(e.buf)
	}
	return n
}

// snapshotReader is the send pass: an io.ReadCloser that encodes the snapshot as it is read,
// and fails if the document's length differs from the counting pass.
type snapshotReader struct {
	e      *snapshotEncoder
	want   int64
	served int64
}

func newSnapshotReader(s *SnapshotPayload, agentVersion string, want int64) *snapshotReader {
	return &snapshotReader{e: newSnapshotEncoder(s, agentVersion), want: want}
}

// next makes sure bytes are pending; it returns io.EOF at the end of a document of the
// expected length and errSnapshotChanged for one of another length.
func (r *snapshotReader) next() error {
	if r.e.pending() == 0 {
		if r.e.done {
			if r.served != r.want {
				return errSnapshotChanged
			}
			return io.EOF
		}
		r.e.fill(chunkSize)
	}
	if r.served+int64(r.e.pending()) > r.want {
		return errSnapshotChanged
	}
	return nil
}

func (r *snapshotReader) Read(p []byte) (int, error) {
	if err := r.next(); err != nil {
		return 0, err
	}
	n := copy(p, r.e.buf[r.e.off:])
	r.e.off += n
	r.served += int64(n)
	return n, nil
}

// WriteTo lets io.Copy take whole chunks without an intermediate buffer.
func (r *snapshotReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.next(); err != nil {
			if err == io.EOF {
				return total, nil
			}
			return total, err
		}
		n, err := w.Write(r.e.buf[r.e.off:])
		r.e.off += n
		r.served += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

func (r *snapshotReader) Close() error { return nil }
