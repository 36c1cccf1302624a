package auth

import "time"

// RefreshInFlight reports whether an exchange is running (a test hook: after Token returns,
// false together with an unchanged request count proves that no exchange was started).
func (m *TokenManager) RefreshInFlight() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inflight != nil
}

// SetBackoffForTest shortens the retry backoff. Call it before the first Token.
func SetBackoffForTest(m *TokenManager, base, max time.Duration) {
	m.backoffBase, m.backoffMax = base, max
}

// ParseRetryAfter exposes parseRetryAfter.
var ParseRetryAfter = parseRetryAfter
