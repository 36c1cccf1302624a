package intern

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"unsafe"
	"weak"
)

// seed is the hash seed of every table of the process.
var seed = maphash.MakeSeed()

const (
	// shardCount is the number of independently locked parts of a table.
	shardCount = 64
	// minSweep is the size a shard grows to before its first sweep.
	minSweep = 256
)

// entry is a weak reference to a canonical value: the start of the allocation holding it
// and its length (bytes of a string, elements of a list, entries of a map).
type entry struct {
	p weak.Pointer[byte]
	n int
}

// shard is one part of a table.
type shard struct {
	// mu guards m and sweepAt.
	mu sync.Mutex
	// m maps a value's hash to its canonical copy. On a collision (two different values
	// with one hash) the newer value replaces the older one, which stays valid for the
	// records holding it and is simply no longer shared.
	m map[uint64]entry
	// sweepAt is the length of m at which the dead entries are removed next.
	sweepAt int
}

// shape is how a table handles values of type V.
type shape[V any] struct {
	hash  func(V) uint64
	equal func(a, b V) bool
	size  func(V) int
	// clone returns a copy of v in a new allocation that nothing else references.
	clone func(V) V
	// addr returns the start of the allocation holding a value returned by clone.
	addr func(V) unsafe.Pointer
	// at rebuilds the value of size n that starts at p.
	at func(p unsafe.Pointer, n int) V
}

// table maps values of type V to their canonical copies. It is safe for concurrent use.
type table[V any] struct {
	shape[V]
	shards [shardCount]shard
}

// get returns the canonical copy of v, which is v's first copy still referenced anywhere,
// or a new copy that becomes canonical. It never returns v itself. Values of size 0 are
// the caller's to handle.
func (t *table[V]) get(v V) V {
	h := t.hash(v)
	n := t.size(v)
	s := &t.shards[h>>58] // the top 6 bits: shardCount is 64
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[h]; ok && e.n == n {
		if p := e.p.Value(); p != nil {
			if c := t.at(unsafe.Pointer(p), n); t.equal(c, v) {
				return c
			}
		}
	}
	c := t.clone(v)
	if s.m == nil {
		s.m = make(map[uint64]entry)
		s.sweepAt = minSweep
	}
	s.m[h] = entry{p: weak.Make((*byte)(t.addr(c))), n: n}
	if len(s.m) >= s.sweepAt {
		s.sweep()
	}
	return c
}

// sweep removes the entries whose value was collected and sets the next sweep at twice
// the live size, so a table holds at most about twice its live entries and sweeping costs
// amortized O(1) per insertion.
func (s *shard) sweep() {
	for h, e := range s.m {
		if e.p.Value() == nil {
			delete(s.m, h)
		}
	}
	s.sweepAt = max(2*len(s.m), minSweep)
}

// len returns the number of entries, dead ones not yet swept included.
func (t *table[V]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// sweep sweeps every shard now.
func (t *table[V]) sweep() {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.sweep()
		s.mu.Unlock()
	}
}

var strs = &table[string]{shape: shape[string]{
	hash:  func(s string) uint64 { return maphash.String(seed, s) },
	equal: func(a, b string) bool { return a == b },
	size:  func(s string) int { return len(s) },
	clone: strings.Clone,
	addr:  func(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) },
	at:    func(p unsafe.Pointer, n int) string { return unsafe.String((*byte)(p), n) },
}}

// String returns the canonical copy of s: equal strings interned while one of them is
// still referenced share one allocation. The result never shares memory with s (except for
// the empty string).
func String(s string) string {
	if s == "" {
		return ""
	}
	return strs.get(s)
}

var maps = &table[map[string]string]{shape: shape[map[string]string]{
	hash:  hashMap,
	equal: equalMap,
	size:  func(m map[string]string) int { return len(m) },
	clone: func(m map[string]string) map[string]string {
		c := make(map[string]string, len(m))
		for k, v := range m {
			c[String(k)] = String(v)
		}
		return c
	},
	// A map value is a pointer to the runtime's map header (what reflect.Value.UnsafePointer
	// returns for a map): that header is the allocation the weak reference tracks.
	addr: func(m map[string]string) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&m)) },
	at:   func(p unsafe.Pointer, _ int) map[string]string { return *(*map[string]string)(unsafe.Pointer(&p)) },
}}

// hashMap hashes m's entries independently of their order.
func hashMap(m map[string]string) uint64 {
	var sum uint64
	for k, v := range m {
		var h maphash.Hash
		h.SetSeed(seed)
		h.WriteString(k)
		h.WriteByte(0)
		h.WriteString(v)
		sum += h.Sum64()
	}
	return sum ^ uint64(len(m))
}

func equalMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Map returns the canonical copy of m, with interned keys and values, or nil when m is
// empty. The result is never m itself and must not be modified: other records share it.
func Map(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.get(m)
}

// Hash accumulates the hash of a value, field by field; the zero Hash is ready. It is a
// value, not a pointer, so that hashing allocates nothing.
type Hash struct{ sum uint64 }

func (h Hash) mix(v uint64) Hash {
	return Hash{sum: bits.RotateLeft64(h.sum^v, 29) * 0x9e3779b97f4a7c15}
}

// String adds a string.
func (h Hash) String(s string) Hash { return h.mix(maphash.String(seed, s)) }

// Int adds an integer.
func (h Hash) Int(v int64) Hash { return h.mix(uint64(v) ^ 0x5bd1e9955bd1e995) }

// Bool adds a bool.
func (h Hash) Bool(v bool) Hash {
	if v {
		return h.Int(1)
	}
	return h.Int(0)
}

// Slices interns lists of E. Create one per element type with NewSlices, once (a package
// variable): each Slices is its own table.
type Slices[E any] struct {
	t table[[]E]
}

// NewSlices returns a table for lists of E. hash adds an element's content to h; equal
// compares two elements by content. Both see elements whose own strings and lists the
// caller has already interned, if it does that.
func NewSlices[E any](hash func(h Hash, e *E) Hash, equal func(a, b *E) bool) *Slices[E] {
	return &Slices[E]{t: table[[]E]{shape: shape[[]E]{
		hash: func(s []E) uint64 {
			var h Hash
			for i := range s {
				h = hash(h, &s[i])
			}
			return h.Int(int64(len(s))).sum
		},
		equal: func(a, b []E) bool {
			if len(a) != len(b) {
				return false
			}
			if len(a) > 0 && &a[0] == &b[0] {
				return true
			}
			for i := range a {
				if !equal(&a[i], &b[i]) {
					return false
				}
			}
			return true
		},
		size: func(s []E) int { return len(s) },
		clone: func(s []E) []E {
			c := make([]E, len(s))
			copy(c, s)
			return c
		},
		addr: func(s []E) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(s)) },
		at:   func(p unsafe.Pointer, n int) []E { return unsafe.Slice((*E)(p), n) },
	}}}
}

// Get returns the canonical copy of s (a shallow copy: the elements are copied as they
// are), with its capacity equal to its length, or nil when s is empty. The result is never
// s itself and must not be modified: other records share it.
func (t *Slices[E]) Get(s []E) []E {
	if len(s) == 0 {
		return nil
	}
	return t.t.get(s)
}
