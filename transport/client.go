package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"

	"github.com/obsyk/obsyk-hub/auth"
)

// API paths (contract §1.1), appended verbatim to Options.PlatformURL.
const (
	pathSnapshot  = "/api/v1/agent/snapshot"
	pathEvents    = "/api/v1/agent/events"
	pathHeartbeat = "/api/v1/agent/heartbeat"
)

const (
	defaultAgentVersion   = "dev"
	defaultRequestTimeout = 30 * time.Second
	defaultMaxAttempts    = 5
	defaultRetryAfterCap  = 60 * time.Second
	defaultBackoffBase    = 250 * time.Millisecond
	defaultBackoffMax     = 5 * time.Second

	// maxErrorBody is how much of a refusal's body becomes error text (contract §1.3).
	maxErrorBody = 1024
	// maxDrain is how much of a response body is read so that the connection can be reused;
	// a longer body is abandoned with its connection.
	maxDrain = 64 << 10
	// maxUnauthorized bounds the 401s one send accepts (see send).
	maxUnauthorized = 3
	// snapshotBytesPerSecond is the slowest upload a snapshot attempt is given time for: its
	// deadline is RequestTimeout plus one second per MiB of body.
	snapshotBytesPerSecond = 1 << 20
)

// Options configures a Client. PlatformURL, ClientID and PrivateKeyPEM are required; every
// other field's zero value selects its default.
type Options struct {
	// PlatformURL is the ObsykAgent's spec.platformURL, used verbatim (contract §1.1): a
	// request URL is PlatformURL + path, and it is the JWT audience. Required. It must be
	// https:// unless AllowInsecureHTTP is set.
	PlatformURL string
	// ClientID is the platform-issued client_id. Required.
	ClientID string
	// PrivateKeyPEM is the ECDSA P-256 private key. Required. Never logged.
	PrivateKeyPEM []byte
	// AgentVersion is the hub's build version, written as agent_version when a snapshot or
	// heartbeat leaves it empty. Default "dev".
	AgentVersion string
	// UserAgent is sent on every request, the token exchange included. Default
	// "obsyk-hub/" + AgentVersion (the reference sends a fixed "obsyk-operator/1.0").
	UserAgent string
	// AllowInsecureHTTP permits an http:// PlatformURL (tests, the local demo). Default false:
	// only https:// is accepted.
	AllowInsecureHTTP bool
	// SourceAddress is the local IP platform connections are made from (a multi-homed
	// host; the sharding tests tell hub replicas apart by it). Ignored when HTTPClient is
	// set. Default: the system's choice.
	SourceAddress string
	// CABundle is optional PEM; its certificates are trusted in addition to the system roots.
	// Ignored when HTTPClient is set.
	CABundle []byte
	// RequestTimeout bounds one HTTP attempt. Default 30s. A snapshot attempt gets one more
	// second per MiB of body.
	RequestTimeout time.Duration
	// MaxAttempts is the number of requests made for 5xx answers and network errors before
	// giving up with a TemporaryError. Default 5. 429s and the one retry after a 401 do not
	// count against it.
	MaxAttempts int
	// RetryAfterCap caps the wait a Retry-After header can ask for. Default 60s.
	RetryAfterCap time.Duration
	// BackoffBase is the first retry's backoff; each further retry doubles it, with ±20 %
	// jitter. Default 250ms.
	BackoffBase time.Duration
	// BackoffMax caps the backoff. Default 5s.
	BackoffMax time.Duration
	// Metrics receives the client's metrics. Default nil: none recorded.
	Metrics *Metrics
	// Logger receives the client's and its token manager's log lines. Default logr.Discard().
	Logger logr.Logger
	// HTTPClient overrides the HTTP client (tests). Default: a client built for this
	// platform: keep-alive, HTTP/2 when the server offers it, TLS 1.2 or later, proxies from
	// the environment, up to 64 idle connections, redirects not followed.
	HTTPClient *http.Client
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.AgentVersion == "" {
		o.AgentVersion = defaultAgentVersion
	}
	if o.UserAgent == "" {
		o.UserAgent = "obsyk-hub/" + o.AgentVersion
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = defaultRequestTimeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	if o.RetryAfterCap <= 0 {
		o.RetryAfterCap = defaultRetryAfterCap
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = defaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = defaultBackoffMax
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	return o
}

// Client sends snapshots, events and heartbeats for one ObsykAgent to its platform. It is
// safe for concurrent use; see the package documentation for its error policy.
type Client struct {
	// Immutable after NewClient.
	opts      Options // with defaults; PrivateKeyPEM cleared
	hc        *http.Client
	transport *http.Transport // the transport built by NewClient, nil with Options.HTTPClient
	tokens    *auth.TokenManager
	metrics   *Metrics
	log       logr.Logger

	// exchanges counts the token manager's successful exchanges, so that a send can tell
	// whether the token it got after a 401 is a new one.
	exchanges atomic.Uint64
}

func (c *Client) onRefresh(err error) {
	if err == nil {
		c.exchanges.Add(1)
	}
	c.metrics.tokenRefresh(err)
}

// NewClient validates opts and returns a Client. It makes no request and starts no
// goroutine.
func NewClient(opts Options) (*Client, error) {
	opts = opts.withDefaults()
	if err := checkPlatformURL(opts.PlatformURL, opts.AllowInsecureHTTP); err != nil {
		return nil, err
	}
	if strings.TrimSpace(opts.ClientID) == "" {
		return nil, errors.New("client ID is required")
	}
	if len(opts.PrivateKeyPEM) == 0 {
		return nil, errors.New("private key is required")
	}
	c := &Client{hc: opts.HTTPClient, metrics: opts.Metrics, log: opts.Logger}
	if c.hc == nil {
		var err error
		if c.hc, c.transport, err = newHTTPClient(opts.CABundle, opts.SourceAddress); err != nil {
			return nil, err
		}
	}
	tokens, err := auth.New(auth.Options{
		PlatformURL:   opts.PlatformURL,
		ClientID:      opts.ClientID,
		PrivateKeyPEM: opts.PrivateKeyPEM,
		HTTPClient:    c.hc,
		UserAgent:     opts.UserAgent,
		Logger:        opts.Logger.WithName("auth"),
		OnRefresh:     c.onRefresh,
	})
	if err != nil {
		return nil, fmt.Errorf("token manager: %w", err)
	}
	c.tokens = tokens
	opts.PrivateKeyPEM = nil // the token manager holds the parsed key
	c.opts = opts
	return c, nil
}

func checkPlatformURL(raw string, allowHTTP bool) error {
	if raw == "" {
		return errors.New("platform URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("platform URL is not a valid URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return errors.New("platform URL must be https:// (http:// is allowed only when insecure HTTP is explicitly enabled)")
	default:
		return errors.New("platform URL must start with https://")
	}
	if u.Host == "" {
		return errors.New("platform URL has no host")
	}
	return nil
}

// dialer returns the platform connections' dialer, bound to a local IP when one is given.
func dialer(sourceAddress string) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if ip := net.ParseIP(sourceAddress); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

func newHTTPClient(caBundle []byte, sourceAddress string) (*http.Client, *http.Transport, error) {
	if sourceAddress != "" && net.ParseIP(sourceAddress) == nil {
		return nil, nil, fmt.Errorf("source address %q is not an IP address", sourceAddress)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caBundle) > 0 {
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(caBundle) {
			return nil, nil, errors.New("CA bundle holds no PEM certificate")
		}
		tlsConfig.RootCAs = roots
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer(sourceAddress).DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	hc := &http.Client{
		Transport: tr,
		// A redirected POST would turn into a GET whose 2xx would count as delivery.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return hc, tr, nil
}

// SendSnapshot sends s to POST /api/v1/agent/snapshot. The body is streamed: it is encoded
// once to count its bytes and again, record by record, while it is sent (and again on each
// retry), so its memory cost is a buffer, not the document. s and its records must not change
// until SendSnapshot returns.
func (c *Client) SendSnapshot(ctx context.Context, s *SnapshotPayload) error {
	if s == nil {
		return &PermanentError{Endpoint: endpointSnapshot, Err: fmt.Errorf("%w: nil snapshot", ErrInvalidPayload)}
	}
	agentVersion := s.AgentVersion
	if agentVersion == "" {
		agentVersion = c.opts.AgentVersion
	}
	n := snapshotLength(s, agentVersion)
	return c.send(ctx, request{
		endpoint: endpointSnapshot,
		path:     pathSnapshot,
		length:   n,
		open:     func() io.ReadCloser { return newSnapshotReader(s, agentVersion, n) },
	})
}

// SendEvent sends one change to POST /api/v1/agent/events.
func (c *Client) SendEvent(ctx context.Context, e *EventPayload) error {
	if err := e.validate(); err != nil {
		return &PermanentError{Endpoint: endpointEvents, Err: fmt.Errorf("%w: %w", ErrInvalidPayload, err)}
	}
	ev := *e
	if isNilRecord(ev.Object) {
		ev.Object = nil // a typed nil would be written as "object":null
	}
	return c.send(ctx, bytesRequest(endpointEvents, pathEvents, appendEvent(nil, &ev)))
}

// SendHeartbeat sends h to POST /api/v1/agent/heartbeat.
func (c *Client) SendHeartbeat(ctx context.Context, h *HeartbeatPayload) error {
	if h == nil {
		return &PermanentError{Endpoint: endpointHeartbeat, Err: fmt.Errorf("%w: nil heartbeat", ErrInvalidPayload)}
	}
	hb := *h
	if hb.AgentVersion == "" {
		hb.AgentVersion = c.opts.AgentVersion
	}
	body, err := json.Marshal(&hb)
	if err != nil {
		return &PermanentError{Endpoint: endpointHeartbeat, Err: fmt.Errorf("%w: %w", ErrInvalidPayload, err)}
	}
	return c.send(ctx, bytesRequest(endpointHeartbeat, pathHeartbeat, body))
}

// UpdateCredentials replaces the client ID and private key used for new tokens. Invalid
// credentials are rejected and the current ones stay in use.
func (c *Client) UpdateCredentials(clientID string, keyPEM []byte) error {
	return c.tokens.UpdateCredentials(clientID, keyPEM)
}

// Close closes the client's idle connections. Requests in flight are not interrupted, and a
// later send opens new connections.
func (c *Client) Close() {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
		return
	}
	c.hc.CloseIdleConnections()
}

// request is one payload ready to be sent any number of times.
type request struct {
	endpoint string
	path     string
	length   int64
	open     func() io.ReadCloser // a fresh body of exactly length bytes
}

func bytesRequest(endpoint, path string, body []byte) request {
	return request{endpoint: endpoint, path: path, length: int64(len(body)),
		open: func() io.ReadCloser { return io.NopCloser(bytes.NewReader(body)) }}
}

// send runs the error policy: 2xx is success; a 401 invalidates the token and is retried once
// with a new one; a 429 waits for Retry-After (or backs off) without using up attempts; 5xx
// and network errors back off and retry until MaxAttempts requests; anything else is final.
//
// "A new one" after a 401 means a token from an exchange that finished after the 401. The
// token manager may instead hand out a token another goroutine fetched a moment earlier,
// which, under load and with short token lifetimes, can itself expire in flight. A 401 for
// such a token is not the platform refusing a fresh token, so it earns one more refresh; a
// 401 for a token known to be new is final, and so is the third 401 of a send.
func (c *Client) send(ctx context.Context, r request) error {
	var (
		requests     int  // HTTP requests made
		failures     int  // 5xx answers and network errors
		throttles    int  // 429 answers
		unauthorized int  // 401 answers
		wantNew      bool // the last answer was a 401: the next token should be new
		lastStatus   int
		lastErr      error
		retryAfter   time.Duration
	)
	temporary := func(err error) error {
		return &TemporaryError{Endpoint: r.endpoint, Attempts: requests, StatusCode: lastStatus,
			RetryAfter: retryAfter, Err: err}
	}
	for {
		if err := ctx.Err(); err != nil {
			return temporary(errors.Join(err, lastErr))
		}
		exchangesBefore := c.exchanges.Load()
		token, err := c.tokens.Token(ctx)
		if err != nil {
			if auth.IsCredentialError(err) {
				return &PermanentError{Endpoint: r.endpoint, Err: fmt.Errorf("get token: %w", err)}
			}
			return temporary(errors.Join(fmt.Errorf("get token: %w", err), lastErr))
		}
		newToken := wantNew && c.exchanges.Load() != exchangesBefore
		res := c.attempt(ctx, r, token)
		requests++
		if res.status != http.StatusUnauthorized {
			wantNew = false
		}

		var wait time.Duration
		var reason string
		switch {
		case res.err != nil:
			if errors.Is(res.err, errSnapshotChanged) {
				return &PermanentError{Endpoint: r.endpoint, Err: fmt.Errorf("%w: %w", ErrInvalidPayload, errSnapshotChanged)}
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return temporary(errors.Join(ctxErr, res.err))
			}
			failures++
			lastStatus, lastErr, reason = 0, res.err, outcomeNetworkError
			wait = c.backoff(failures - 1)
		case res.status >= 200 && res.status <= 299:
			c.log.V(4).Info("platform accepted the request", "endpoint", r.endpoint, "status", res.status, "attempts", requests)
			return nil
		case res.status == http.StatusUnauthorized:
			c.tokens.Invalidate(token)
			unauthorized++
			if newToken || unauthorized >= maxUnauthorized {
				return &PermanentError{Endpoint: r.endpoint, StatusCode: res.status, Body: res.body, Err: ErrUnauthorized}
			}
			wantNew = true
			c.metrics.retry(r.endpoint, outcomeUnauthorized)
			c.log.V(1).Info("platform rejected the token; retrying with a new one", "endpoint", r.endpoint)
			continue
		case res.status == http.StatusTooManyRequests:
			throttles++
			lastStatus, lastErr, reason = res.status, res.statusError(), outcomeThrottled
			if d, ok := parseRetryAfter(res.retryAfter, time.Now()); ok && d > 0 {
				wait = min(d, c.opts.RetryAfterCap)
				retryAfter = wait
			} else {
				wait = c.backoff(throttles - 1)
			}
		case res.status >= 500 && res.status <= 599:
			failures++
			lastStatus, lastErr, reason = res.status, res.statusError(), outcomeServerError
			wait = c.backoff(failures - 1)
			if d, ok := parseRetryAfter(res.retryAfter, time.Now()); ok && d > 0 {
				retryAfter = min(d, c.opts.RetryAfterCap)
				wait = max(wait, retryAfter)
			}
		default:
			return &PermanentError{Endpoint: r.endpoint, StatusCode: res.status, Body: res.body}
		}

		if failures >= c.opts.MaxAttempts {
			return temporary(lastErr)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return temporary(fmt.Errorf("next attempt due after the context's deadline: %w", lastErr))
		}
		c.metrics.retry(r.endpoint, reason)
		c.log.V(1).Info("retrying request", "endpoint", r.endpoint, "reason", reason,
			"status", lastStatus, "attempt", requests, "wait", wait)
		if !sleep(ctx, wait) {
			return temporary(errors.Join(ctx.Err(), lastErr))
		}
	}
}

// result is the outcome of one HTTP request: err when there was no response.
type result struct {
	status     int
	body       string // at most maxErrorBody bytes, for non-2xx answers only
	retryAfter string
	err        error
}

func (r *result) statusError() error {
	if r.body == "" {
		return fmt.Errorf("status %d", r.status)
	}
	return fmt.Errorf("status %d: %s", r.status, r.body)
}

// attempt makes one HTTP request under its own deadline and reads a bounded part of the
// response.
func (c *Client) attempt(ctx context.Context, r request, token string) result {
	timeout := c.opts.RequestTimeout
	if r.endpoint == endpointSnapshot {
		timeout += time.Duration(r.length/snapshotBytesPerSecond) * time.Second
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.opts.PlatformURL+r.path, r.open())
	if err != nil {
		return result{err: err}
	}
	req.ContentLength = r.length
	req.GetBody = func() (io.ReadCloser, error) { return r.open(), nil }
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		outcome := outcomeNetworkError
		if ctx.Err() != nil {
			outcome = outcomeCanceled
		}
		c.metrics.observeRequest(r.endpoint, outcome, time.Since(start))
		return result{err: err}
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		res.body = strings.ToValidUTF8(strings.TrimSpace(string(b)), string(utf8.RuneError))
		// The body becomes error text that callers log: never let an echo of the token in.
		res.body = strings.ReplaceAll(res.body, token, "[redacted]")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	c.metrics.observeRequest(r.endpoint, outcomeOf(resp.StatusCode), time.Since(start))
	c.metrics.sent(r.endpoint, r.length)
	return res
}

func outcomeOf(status int) string {
	switch {
	case status >= 200 && status <= 299:
		return outcomeSuccess
	case status == http.StatusUnauthorized:
		return outcomeUnauthorized
	case status == http.StatusTooManyRequests:
		return outcomeThrottled
	case status >= 500 && status <= 599:
		return outcomeServerError
	default:
		return outcomeClientError
	}
}

// backoff returns the wait before the retry after the n-th (from 0) failure:
// BackoffBase·2^n capped at BackoffMax, ±20 % jitter.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.BackoffBase
	for i := 0; i < n && d < c.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.BackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleep waits for d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
