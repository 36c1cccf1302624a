// Package transport is the hub's only way out to the Obsyk platform. It owns the wire types
// of contract v1 (shared/contract/obsyk-v1.md §3, §4, §5), the HTTP client that sends them
// with the contract's headers and the hub's retry policy, a pool of clients keyed by
// ObsykAgent, and the transport metrics. It knows nothing of Kubernetes; tokens come from the
// auth package.
//
// # Use
//
//	pool := transport.NewPool(transport.PoolOptions{Metrics: transport.NewMetrics(reg), Logger: log})
//	c, err := pool.Get("obsyk-system/staging-eu-1", transport.Options{
//		PlatformURL: spec.PlatformURL, ClientID: id, PrivateKeyPEM: key, AgentVersion: version})
//	err = c.SendSnapshot(ctx, snap) // then c.SendEvent(ctx, ev) per change, c.SendHeartbeat(ctx, hb)
//	switch {
//	case err == nil:                  // 2xx: the change may leave the queue
//	case transport.IsPermanent(err):  // drop this change (poison), report it
//	case transport.IsTemporary(err):  // keep it queued, try later (TemporaryError.RetryAfter)
//	}
//
// # Wire types
//
// The record types mirror the contract's tables: field order is the key order, tags carry
// the presence rules (always: no omit option; omitempty: `omitempty`, or `omitzero` for
// Time; unset-only: *bool). Records are built once by the ingest package, are immutable from
// then on, and are shared by pointer between the snapshot and events, so they are kept
// small: value fields, nested records by value (except ContainerSecurityContext, whose key is
// present exactly when it is set), timestamps as an 8-byte Time of Unix seconds that encodes
// as `2025-11-20T14:03:11Z`, and no maps besides the contract's own (labels, annotations,
// selectors). Record is a sealed interface implemented by the 19 record pointer types.
//
// Two encoders produce the same bytes. json.Marshal over the struct tags is the reference
// (golden tests compare it with the contract's §8 examples byte for byte). The send path
// uses a hand-written append encoder (appendjson.go) that allocates nothing per record;
// differential tests fill every field of every record type at random, with strings that hit
// every escaping rule, and require byte equality with json.Marshal. The fast path exists
// because a 100k-object snapshot encoded twice through reflection made ~80 MiB of garbage
// and took three times as long.
//
// # Snapshots are streamed with an exact Content-Length
//
// The contract's snapshot is one unbounded POST and the reference sends Content-Length. The
// snapshot is therefore encoded twice over its fixed list of immutable records: once to count
// the bytes, once into the request body through an io.Reader that encodes record by record
// into a 64 KiB buffer. Memory stays bounded (a 100k-pod, 119 MiB snapshot grows the heap by
// a few MiB) and the header stays exact. req.GetBody re-encodes for a retry. If the slices
// or records change between the passes, the length differs and the send fails permanently
// with ErrInvalidPayload rather than sending a wrong body. A snapshot attempt's deadline is
// RequestTimeout plus one second per MiB of body. The 20 arrays are always written, in the
// contract's order, [] when empty; nil elements are skipped. An empty agent_version in a
// snapshot or heartbeat is filled with Options.AgentVersion.
//
// # Error policy (contract §1.5; the reference does less, §1.4)
//
//   - 2xx: success. The body has no schema and is drained (bounded) and ignored.
//   - 401: the token is invalidated (auth drops it only if it is still the cached one) and
//     the request is retried with a new one. A 401 for a token obtained by an exchange after
//     the first 401 is final: PermanentError wrapping ErrUnauthorized. The exception: when
//     the token manager answered with a token another goroutine had fetched just before (so
//     not provably new, and possibly expiring in flight under load with short lifetimes),
//     one more refresh is allowed; a send never accepts a third 401.
//   - 429: waits Retry-After (delta-seconds or HTTP-date, capped by RetryAfterCap; missing,
//     zero or unparsable means exponential backoff) and retries. 429s do not use up the
//     attempts; they are bounded by ctx: if the wait would end after ctx's deadline, the send
//     returns a TemporaryError at once, carrying RetryAfter for the caller.
//   - 5xx and network errors (dial, TLS, reset, a dropped connection, a response lost after
//     the platform processed the request, a per-attempt timeout): exponential backoff with
//     ±20 % jitter (BackoffBase·2^n, capped at BackoffMax; 250 ms…5 s by default), MaxAttempts
//     requests in all (an always-503 platform sees exactly 5), then TemporaryError. A 503's
//     Retry-After lengthens the wait.
//   - Any other status (other 4xx, 1xx, an unfollowed 3xx): PermanentError with the status
//     and at most 1024 bytes of body. Redirects are not followed: a POST redirected into a
//     GET would turn a 2xx into a false delivery.
//   - Token fetch: a credential error (auth.IsCredentialError) is permanent; any other
//     failure is temporary (auth retries the exchange itself).
//
// Every wait honours ctx; nothing is dropped or queued here: the caller decides. Delivery
// is at-least-once: a dropped response means the platform may apply a change twice, which
// the contract's idempotent-by-uid events tolerate.
//
// # Clients and the pool
//
// A Client is safe for concurrent use and holds no per-request state. Its HTTP client is
// built for one platform: keep-alive with up to 64 idle connections per host, HTTP/2 when
// the server offers it, TLS 1.2 or later with the system roots plus Options.CABundle,
// proxies from the environment. The token manager shares it. http:// platform URLs are
// rejected unless AllowInsecureHTTP is set (hub security rules).
//
// The Pool maps an ObsykAgent key ("namespace/name") to its Client. Get takes a read lock
// on the fast path; creation happens under the write lock after a re-check, and NewClient
// makes no request, so no I/O is done under the lock. A change of anything but the
// credentials (PlatformURL, CABundle, AllowInsecureHTTP, timeouts, versions) replaces the
// client and closes the old one's idle connections; a change of ClientID or PrivateKeyPEM
// only calls UpdateCredentials, keeping connections. The pool stores a hash of the key, not
// the key.
//
// # Metrics and logs
//
// NewMetrics registers, once, obsyk_hub_transport_requests_total{endpoint,outcome},
// obsyk_hub_transport_retries_total{endpoint,reason},
// obsyk_hub_transport_request_duration_seconds{endpoint},
// obsyk_hub_transport_sent_bytes_total{endpoint} and
// obsyk_hub_transport_token_refreshes_total{outcome} (fed by auth's OnRefresh). There are no
// per-agent labels: their number is unbounded. Logs are few (retries at V(1), successes at
// V(4)) and never carry a token, an assertion or key material; a test captures every line at
// verbosity 10 through real scenarios and checks.
package transport
