package ingest

import "github.com/obsyk/obsyk-hub/transport"

// AgentObjects counts, per kind, the objects of its cluster's cache that a bound agent
// sends: its kinds and namespace filter applied, unavailable kinds left out. It walks the
// cache (O(objects), no allocation per object), so call it for status, not per change. It
// returns false when the key is not bound or its cluster has no pipeline yet.
func (m *Manager) AgentObjects(agentKey string) (map[transport.Kind]int, bool) {
	m.mu.Lock()
	a, ok := m.agents[agentKey]
	var p *pipeline
	if ok {
		if e, found := m.clusters[a.cluster]; found {
			p = e.p
		}
	}
	m.mu.Unlock()
	if p == nil {
		return nil, false
	}
	counts := make(map[transport.Kind]int, len(a.kinds))
	for k := range a.kinds {
		if !p.available(k) {
			continue
		}
		counts[k] = p.countsOf(k, func(namespace, name string) bool { return a.namespaceOK(k, namespace, name) })
	}
	return counts, true
}
