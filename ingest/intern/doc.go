// Package intern keeps one canonical copy of repeated immutable values — strings, string
// maps and lists — so that the cached records of many objects share them instead of each
// holding its own: the label sets, images, container lists and volume lists of a
// Deployment's replicas, the namespace and node names of every pod, label keys.
//
//	s := intern.String(pod.Spec.NodeName)  // equal strings share one allocation
//	m := intern.Map(pod.Labels)            // a canonical map of interned keys and values
//	var ports = intern.NewSlices(hashPort, equalPort) // a table per element type, once
//	p := ports.Get(record.Ports)           // a canonical list (elements copied as they are)
//
// A list's hash function adds each element's fields to an intern.Hash, a value (so that
// hashing allocates nothing): h.String(p.Name).Int(int64(p.Port)).
//
// A canonical copy is always a new allocation, never the argument, so whatever is interned
// holds no reference into the value it came from (an informer's decoded object). Canonical
// values are shared: nobody may modify them — the rule records already follow.
//
// # Memory is bounded by what is still used
//
// The tables hold their canonical values through weak pointers (package weak): a value
// that no record references any more is collected like any other, and its entry is
// removed by the next sweep of its shard, which runs when the shard has doubled since the
// last one. A table therefore holds at most about twice as many entries as there are live
// canonical values, plus a small constant, whatever the churn. The unique package was the
// first candidate, but unique.Handle.Value returns a string whose bytes the handle does
// not own: records holding only the strings would let every handle die at the next GC and
// lose the sharing for everything interned afterwards, while holding the handles costs
// 8 bytes per field per record.
//
// Each table has 64 independently locked shards, chosen by the value's hash (hash/maphash,
// one seed per process). Two different values with the same 64-bit hash replace each
// other's entry: both stay correct, one is no longer shared.
//
// The weak reference needs the start of the canonical value's allocation: the bytes of a
// string, the backing array of a list (whose capacity is its length, so an append can
// never write into a shared array) and, for a map, the runtime's map header, which is what
// a map value points to. That is the package's only use of unsafe.
package intern
