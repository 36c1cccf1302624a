package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

const (
	// failedRefreshRetryInterval: after a failed background refresh, the next one waits this
	// long (the cached token is still served meanwhile).
	failedRefreshRetryInterval = 10 * time.Second
	// rejectedRetryInterval: after the endpoint rejected the credentials (400/401), Token
	// returns that CredentialError without a new request for this long, unless the
	// credentials change first.
	rejectedRetryInterval = 30 * time.Second
)

// Options configures a TokenManager. PlatformURL, ClientID and PrivateKeyPEM are required;
// every other field has a default.
type Options struct {
	// PlatformURL is the platform's base URL, used verbatim (contract §1.1): the token URL is
	// PlatformURL + "/oauth/token" and the assertion's aud is []string{PlatformURL}. It must be
	// an absolute http(s) URL without user info, query or fragment. Whether plain http is
	// allowed is the caller's policy; this package accepts both. Required.
	PlatformURL string
	// ClientID is the platform-issued client_id; surrounding whitespace is trimmed. Required.
	ClientID string
	// PrivateKeyPEM holds an ECDSA P-256 private key. Only the first PEM block is used; SEC1
	// ("EC PRIVATE KEY") is tried first, then PKCS#8 ("PRIVATE KEY"). Required.
	PrivateKeyPEM []byte
	// HTTPClient sends the token requests. Default: &http.Client{Timeout: 30 * time.Second}.
	// Each attempt also gets its own 30 s deadline, whatever the client's Timeout.
	HTTPClient *http.Client
	// UserAgent is sent on every token request. Default: "obsyk-hub/dev".
	UserAgent string
	// Logger receives the package's few log lines. Default: logr.Discard().
	Logger logr.Logger
	// Now is the clock for assertions and token lifetimes. Default: time.Now.
	Now func() time.Time
	// MaxAttempts is the number of attempts per token exchange for retriable failures
	// (network errors, 408, 429, 5xx). Default: 5. Must not be negative.
	MaxAttempts int
	// OnRefresh, if set, is called once after each token exchange with its outcome (nil on
	// success), before the callers waiting for it are released. It must return quickly.
	OnRefresh func(err error)
}

// TokenManager obtains, caches and refreshes one platform access token for one set of
// credentials. It is safe for concurrent use. See the package documentation.
type TokenManager struct {
	// Immutable after New.
	platformURL string
	tokenURL    string
	httpClient  *http.Client
	userAgent   string
	log         logr.Logger
	now         func() time.Time
	maxAttempts int
	onRefresh   func(error)
	// Unexported knobs, fixed after New (tests shorten them).
	backoffBase   time.Duration
	backoffMax    time.Duration
	retryAfterMax time.Duration

	// mu guards creds, generation, cached, inflight, lastRejection and refreshNotBefore. It
	// is never held across I/O.
	mu sync.Mutex
	// creds are the current credentials; generation increases each time they change.
	creds      credentials
	generation uint64
	// cached is the current token; nil when there is none.
	cached *issuedToken
	// inflight is the exchange that callers currently join; nil when none runs.
	inflight *fetch
	// lastRejection is the CredentialError of the last exchange when it was a rejection by
	// the endpoint; refreshNotBefore is when the next exchange may start on its own.
	lastRejection    error
	refreshNotBefore time.Time
}

// fetch is one shared token exchange. Its result fields are written before done is closed
// and read only after it is closed.
type fetch struct {
	generation uint64
	done       chan struct{}

	token      string
	err        error
	superseded bool // the credentials changed while it ran; its result was discarded
}

// New validates opts and returns a TokenManager. Bad credentials yield a *CredentialError;
// other invalid options a plain error. No request is made and no goroutine is started.
func New(opts Options) (*TokenManager, error) {
	if err := validatePlatformURL(opts.PlatformURL); err != nil {
		return nil, err
	}
	if opts.MaxAttempts < 0 {
		return nil, fmt.Errorf("MaxAttempts must not be negative, got %d", opts.MaxAttempts)
	}
	creds, err := parseCredentials(opts.ClientID, opts.PrivateKeyPEM)
	if err != nil {
		return nil, err
	}
	m := &TokenManager{
		platformURL:   opts.PlatformURL,
		tokenURL:      opts.PlatformURL + "/oauth/token",
		httpClient:    opts.HTTPClient,
		userAgent:     opts.UserAgent,
		log:           opts.Logger,
		now:           opts.Now,
		maxAttempts:   opts.MaxAttempts,
		onRefresh:     opts.OnRefresh,
		backoffBase:   defaultBackoffBase,
		backoffMax:    defaultBackoffMax,
		retryAfterMax: defaultRetryAfterMax,
		creds:         creds,
	}
	if m.httpClient == nil {
		m.httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if m.userAgent == "" {
		m.userAgent = "obsyk-hub/dev"
	}
	if m.log.GetSink() == nil {
		m.log = logr.Discard()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.maxAttempts == 0 {
		m.maxAttempts = 5
	}
	return m, nil
}

func validatePlatformURL(raw string) error {
	if raw == "" {
		return errors.New("platform URL is required")
	}
	u, err := url.Parse(raw + "/oauth/token")
	if err != nil {
		return errors.New("platform URL is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("platform URL must start with https:// or http://")
	case u.Host == "":
		return errors.New("platform URL has no host")
	case u.User != nil:
		return errors.New("platform URL must not contain user info")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return errors.New("platform URL must not contain a query or fragment")
	}
	return nil
}

// PlatformURL returns Options.PlatformURL as given.
func (m *TokenManager) PlatformURL() string { return m.platformURL }

// Token returns a valid access token, fetching one when none is cached or the cached one is
// about to expire. Concurrent callers share one exchange; each waits only as long as its own
// ctx allows (ctx.Err() is returned then) without cancelling the exchange for the others.
// A token in its refresh window is returned at once while a background exchange renews it.
// Errors from the endpoint's rejection of the credentials are *CredentialError.
func (m *TokenManager) Token(ctx context.Context) (string, error) {
	for {
		m.mu.Lock()
		now := m.now()
		if tok := m.cached; tok != nil && now.Before(tok.staleAt) {
			if !now.Before(tok.refreshAt) && m.inflight == nil && !now.Before(m.refreshNotBefore) {
				m.startFetchLocked()
				m.log.V(1).Info("Refreshing platform token in the background", "platform", m.platformURL)
			}
			m.mu.Unlock()
			return tok.value, nil
		}
		if m.lastRejection != nil && now.Before(m.refreshNotBefore) && m.inflight == nil {
			err := m.lastRejection
			m.mu.Unlock()
			return "", err
		}
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			return "", err
		}
		f := m.inflight
		if f == nil {
			f = m.startFetchLocked()
		}
		m.mu.Unlock()

		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-f.done:
		}
		if f.superseded {
			continue // the credentials changed meanwhile; fetch with the new ones
		}
		return f.token, f.err
	}
}

// startFetchLocked starts a shared exchange with the current credentials. m.mu must be held.
// The exchange runs in its own goroutine under its own deadline (exchangeTimeout), so no
// caller's context can cancel it and it always ends.
func (m *TokenManager) startFetchLocked() *fetch {
	f := &fetch{generation: m.generation, done: make(chan struct{})}
	m.inflight = f
	creds := m.creds
	go m.runFetch(f, creds)
	return f
}

func (m *TokenManager) runFetch(f *fetch, creds credentials) {
	ctx, cancel := context.WithTimeout(context.Background(), exchangeTimeout)
	defer cancel()
	start := time.Now()
	tok, attempts, err := m.exchange(ctx, creds)
	duration := time.Since(start)

	m.mu.Lock()
	if m.inflight == f {
		m.inflight = nil
	}
	cachedStillValid := m.cached != nil && m.now().Before(m.cached.staleAt)
	switch {
	case f.generation != m.generation:
		f.superseded = true
	case err == nil:
		m.cached = tok
		m.lastRejection = nil
		m.refreshNotBefore = time.Time{}
	case IsCredentialError(err):
		m.lastRejection = err
		m.refreshNotBefore = m.now().Add(rejectedRetryInterval)
	default:
		m.lastRejection = nil
		m.refreshNotBefore = m.now().Add(failedRefreshRetryInterval)
	}
	if err == nil {
		f.token = tok.value
	} else {
		f.err = err
	}
	m.mu.Unlock()

	switch {
	case err == nil:
		m.log.V(1).Info("Obtained platform token", "platform", m.platformURL, "attempts", attempts,
			"duration", duration, "refreshAt", tok.refreshAt)
	case cachedStillValid:
		// Nobody may be waiting for this exchange, so say why the old token is still in use.
		m.log.Info("Platform token refresh failed, using the cached token until it expires",
			"platform", m.platformURL, "attempts", attempts, "duration", duration, "reason", err.Error())
	default:
		// The error is returned to the waiting callers; this is only a debug trace.
		m.log.V(1).Info("Platform token exchange failed", "platform", m.platformURL,
			"attempts", attempts, "duration", duration, "reason", err.Error())
	}
	if m.onRefresh != nil {
		m.onRefresh(err)
	}
	close(f.done)
}

// Invalidate drops the cached token if it is still token. A caller that got a 401 passes the
// token it sent: if another caller already replaced it with a newer one, the newer one is kept.
func (m *TokenManager) Invalidate(token string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cached != nil && m.cached.value == token {
		m.cached = nil
		m.log.V(1).Info("Dropped the cached platform token", "platform", m.platformURL)
	}
}

// UpdateCredentials replaces the credentials. The cached token is dropped (and a running
// exchange disowned) only when the client_id or the key differs; keys are compared by value,
// so re-encoding the same key is no change. Invalid credentials yield a *CredentialError and
// leave the current credentials and token in place.
func (m *TokenManager) UpdateCredentials(clientID string, privateKeyPEM []byte) error {
	creds, err := parseCredentials(clientID, privateKeyPEM)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if creds.equal(m.creds) {
		return nil
	}
	m.creds = creds
	m.generation++
	m.cached = nil
	m.inflight = nil
	m.lastRejection = nil
	m.refreshNotBefore = time.Time{}
	m.log.V(1).Info("Platform credentials changed, dropped the cached token", "platform", m.platformURL)
	return nil
}
