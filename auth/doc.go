// Package auth is the hub's platform token manager: it turns a client_id and an ECDSA P-256
// private key into OAuth access tokens for the Obsyk platform, as contract v1 §2 describes
// (the RFC 7523 JWT-bearer grant), and caches and renews them.
//
// It owns the client assertion (ES256, exactly the header and claims of §2.3), the exchange
// at POST {PlatformURL}/oauth/token, the token cache and its refresh, and the validation of
// credentials. It knows nothing of Kubernetes: the controller reads the credentials Secret
// and passes the bytes in, the transport asks for a token before each request.
//
// # Use
//
//	m, err := auth.New(auth.Options{PlatformURL: url, ClientID: id, PrivateKeyPEM: pem})
//	// err is a *CredentialError for bad credentials: show it in the agent's status.
//	tok, err := m.Token(ctx)      // send "Authorization: Bearer "+tok
//	m.Invalidate(tok)             // after a 401 for tok; the next Token fetches a new one
//	m.UpdateCredentials(id, pem)  // when the Secret changes
//
// One TokenManager serves one ObsykAgent (one platform, one set of credentials).
//
// # Decisions that are not obvious
//
// Refresh rule. A token with lifetime L issued at t is renewed from the later of
// t+L−5 min and t+80 %·L. A one-hour token is therefore renewed 5 min early, like the
// reference; a token that lives 5 min or less is renewed at 80 % of its life instead of on
// every call (the reference fetches a new one before every request then). A missing or
// non-positive expires_in counts as 60 s; values above 24 h count as 24 h.
//
// Stale-while-refresh. Between the renewal time and the expiry, Token returns the cached
// token at once and starts one background exchange; it never blocks a request on a renewal
// that is not yet necessary, and a token-endpoint outage is invisible until the cached token
// really runs out. If that background exchange fails the next one waits 10 s (the cached
// token is still served). A token is never returned within a small margin of its expiry
// (10 % of its lifetime, at most 10 s), so it is not sent just to expire in flight.
//
// Single-flight. Whatever the number of callers, at most one exchange runs at a time, in its
// own goroutine with its own deadline (2 min for all attempts, 30 s per attempt). Each waiter
// honours its own context and returns ctx.Err() when it ends, without cancelling the
// exchange for the others; the exchange never depends on one caller's context.
//
// Retries. Network errors, 408, 429 and 5xx are retried within an exchange, up to
// Options.MaxAttempts attempts, with exponential backoff from 200 ms to 5 s and ±25 %
// jitter; a 429's Retry-After (seconds or an HTTP date, capped at 30 s) replaces the backoff.
// Each attempt signs a fresh assertion (new jti, current iat). A 400 or 401 is a
// *CredentialError carrying the endpoint's OAuth error code and description, is not retried,
// and is returned again without a new request for 30 s unless the credentials change first.
// Only HTTP 200 with a JSON body holding a non-empty access_token is success.
//
// Invalidate(token). A 401 from the API means the token the caller sent is no good, not
// that the current one is: another caller may have renewed it meanwhile. Invalidate
// therefore drops the cached token only when it is still the one passed in.
//
// UpdateCredentials. The cached token is dropped only when the client_id or the key really
// changed (keys are compared by value, so a re-encoded key is no change). An exchange still
// running with the old credentials is disowned: its result is not cached and its waiters
// start again with the new credentials. Invalid new credentials are rejected and the
// current ones stay in use.
//
// Secrets. No error and no log line contains the private key, an assertion or an access
// token. Key-parsing errors use fixed messages, never the underlying parser text; OAuth error
// text from the endpoint is sanitized, bounded and has any echo of the assertion removed.
// Whether the platform URL must be https is the caller's policy (see the hub's security
// rules); this package accepts http and https.
package auth
