package transport

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// PoolOptions configures a Pool. Its zero value is valid.
type PoolOptions struct {
	// Metrics is given to every client whose Options.Metrics is nil. Default nil.
	Metrics *Metrics
	// Logger is given, with an "agent" value, to every client whose Options.Logger is unset.
	// Default logr.Discard().
	Logger logr.Logger
	// HTTPClient is given to every client whose Options.HTTPClient is nil (tests). Default
	// nil: each client builds its own.
	HTTPClient *http.Client
}

// Pool holds one Client per ObsykAgent, keyed by "namespace/name". It is safe for concurrent
// use.
type Pool struct {
	opts PoolOptions

	// mu guards clients. No request is made while it is held.
	mu      sync.RWMutex
	clients map[string]*poolEntry
}

type poolEntry struct {
	client *Client
	config clientConfig
	creds  credentialsID
}

// clientConfig is everything about a Client that cannot change in place. Two Options with the
// same clientConfig (after defaults) may share a client.
type clientConfig struct {
	platformURL    string
	caBundle       [sha256.Size]byte
	allowInsecure  bool
	agentVersion   string
	userAgent      string
	requestTimeout time.Duration
	maxAttempts    int
	retryAfterCap  time.Duration
	backoffBase    time.Duration
	backoffMax     time.Duration
	metrics        *Metrics
	httpClient     *http.Client
	sourceAddress  string
}

// credentialsID identifies credentials without keeping the key itself.
type credentialsID struct {
	clientID string
	key      [sha256.Size]byte
}

func configOf(o Options) clientConfig {
	return clientConfig{
		platformURL: o.PlatformURL, caBundle: sha256.Sum256(o.CABundle), allowInsecure: o.AllowInsecureHTTP,
		sourceAddress: o.SourceAddress,
		agentVersion:  o.AgentVersion, userAgent: o.UserAgent, requestTimeout: o.RequestTimeout,
		maxAttempts: o.MaxAttempts, retryAfterCap: o.RetryAfterCap, backoffBase: o.BackoffBase,
		backoffMax: o.BackoffMax, metrics: o.Metrics, httpClient: o.HTTPClient,
	}
}

func credentialsOf(o Options) credentialsID {
	return credentialsID{clientID: o.ClientID, key: sha256.Sum256(o.PrivateKeyPEM)}
}

// NewPool returns an empty Pool.
func NewPool(opts PoolOptions) *Pool {
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	return &Pool{opts: opts, clients: map[string]*poolEntry{}}
}

// Get returns the client for the ObsykAgent key, creating it on first use. With the same
// configuration it returns the same client. When only the credentials (ClientID,
// PrivateKeyPEM) changed, it updates them on the existing client; when anything else changed
// (PlatformURL, CABundle, AllowInsecureHTTP, ...), a new client replaces the old one, which is
// closed. Invalid options return an error and leave the pool as it was.
func (p *Pool) Get(key string, opts Options) (*Client, error) {
	if opts.Metrics == nil {
		opts.Metrics = p.opts.Metrics
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = p.opts.HTTPClient
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = p.opts.Logger.WithValues("agent", key)
	}
	opts = opts.withDefaults()
	config, creds := configOf(opts), credentialsOf(opts)

	p.mu.RLock()
	e, ok := p.clients[key]
	p.mu.RUnlock()
	if ok && e.config == config && e.creds == creds {
		return e.client, nil
	}

	p.mu.Lock()
	e, ok = p.clients[key]
	switch {
	case ok && e.config == config && e.creds == creds:
		p.mu.Unlock()
		return e.client, nil
	case ok && e.config == config:
		if err := e.client.UpdateCredentials(opts.ClientID, opts.PrivateKeyPEM); err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("update credentials of %s: %w", key, err)
		}
		p.clients[key] = &poolEntry{client: e.client, config: config, creds: creds}
		p.mu.Unlock()
		p.opts.Logger.V(1).Info("updated platform credentials", "agent", key)
		return e.client, nil
	}
	c, err := NewClient(opts)
	if err != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("platform client for %s: %w", key, err)
	}
	p.clients[key] = &poolEntry{client: c, config: config, creds: creds}
	p.mu.Unlock()
	if ok {
		e.client.Close()
		p.opts.Logger.V(1).Info("replaced platform client", "agent", key)
	}
	return c, nil
}

// Remove closes and forgets the client of key, if any.
func (p *Pool) Remove(key string) {
	p.mu.Lock()
	e, ok := p.clients[key]
	delete(p.clients, key)
	p.mu.Unlock()
	if ok {
		e.client.Close()
	}
}

// Len returns the number of clients in the pool.
func (p *Pool) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.clients)
}

// Close closes and forgets every client.
func (p *Pool) Close() {
	p.mu.Lock()
	clients := p.clients
	p.clients = map[string]*poolEntry{}
	p.mu.Unlock()
	for _, e := range clients {
		e.client.Close()
	}
}
