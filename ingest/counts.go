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
		inf, found := p.informers[k]
		if !found || !p.available(k) {
			continue
		}
		n := 0
		for _, o := range inf.GetStore().List() {
			if it, isItem := o.(*item); isItem && a.namespaceOK(k, it.namespace, it.name) {
				n++
			}
		}
		counts[k] = n
	}
	return counts, true
}
