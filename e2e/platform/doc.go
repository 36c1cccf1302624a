// Package platform is an in-process simulator of the Obsyk platform: the other side of the
// wire contract (shared/contract/obsyk-v1.md). Every hub test that sends anything uses it as
// its assertion, so it is as strict as the contract allows and never lenient for
// convenience.
//
// # What it owns
//
//   - POST /oauth/token: the JWT-bearer grant (§2). The assertion is verified with
//     crypto/ecdsa against the public key registered for its iss (RegisterClient,
//     RegisterClientPEM): header byte-exact {"alg":"ES256","typ":"JWT"}; exactly the
//     claims iss, sub, aud, exp, iat, jti; iss == sub; aud a one-element array equal to
//     Options.Audience (default URL()); exp in the future; iat not in the future beyond
//     ClockSkew; exp-iat at most 300 s (+ skew); jti a lower-case UUID v4 never seen
//     before (kept until its exp). It answers exactly as §8.1 or with an OAuth error body
//     {"error","error_description"} (400 invalid_request / invalid_grant /
//     unsupported_grant_type, 401 invalid_client for an unregistered client).
//   - POST /api/v1/agent/{snapshot,events,heartbeat}: bearer token required (401
//     invalid_token otherwise, also when expired), Content-Type exactly application/json,
//     no Content-Encoding. Bodies are validated against the schema in schema.go, a
//     transcription of §3 and §4 kept honest by a test that parses the markdown tables.
//     A rejection is 400 {"error":"invalid_body","error_description",
//     "problems":[...]} where every problem starts with the path of the offending key,
//     e.g. `pods[3].containers[0].resources.cpu_request: want string (qty), got number`.
//   - Per-cluster state (keyed by cluster_uid): a snapshot replaces every kind; events
//     apply idempotently by uid; heartbeats record time and agent_version. Cluster returns
//     a deep copy for assertions; PutObject and RemoveObject plant state directly.
//   - Stats, a bounded request log (Requests) and fault injection (Faults).
//   - AdminHandler: the JSON admin API that cmd/obsyk-platform-sim serves on its own
//     listener.
//
// # Usage in a test
//
//	sim := platform.StartForTest(t, platform.Options{})
//	sim.RegisterClient("cl_1", &key.PublicKey)
//	// configure the hub with platformURL = sim.URL(), trusting sim.CACertPEM()
//	g.Eventually(func() int { return sim.Cluster(uid).Count("Pod") }).WithTimeout(time.Minute).Should(Equal(3))
//	sim.Faults().Inject(platform.Fault{Mode: platform.FaultStatus, Status: 503, Count: 2})
//
// # Decisions that are not obvious
//
//   - The schema is written here, from the contract, and the package imports nothing of the
//     hub: a mistake in the hub's wire types must not be able to hide by being shared.
//   - Bodies are decoded token by token (encoding/json Decoder, UseNumber) into generic
//     values, so the checker sees what was on the wire: invalid UTF-8, duplicate keys,
//     trailing data, non-integer numbers (1.0, 1e3) and null are all rejected.
//   - "Strict" means the stricter reading wherever the contract is explicit about what Go
//     writes: an omitempty key present with an empty value ("" / 0 / false / {} / []) is
//     rejected, because Go's encoder would have left it out (record-typed keys such as
//     security_context, which are pointers, are exempt); keys the contract marks "always
//     in practice" (k8s_created_at, node capacities) and Service `targetPort` ("present in
//     practice") are required; times must be UTC, whole seconds, `2025-11-20T14:03:11Z`
//     (the hub emits UTC); quantities must be in canonical form; int32 keys must fit an
//     int32; annotations with the filtered prefixes (§5.4) are rejected; Role/RoleBinding
//     versus the Cluster* kinds must agree with `is_cluster` and the presence of
//     `namespace`; a VolumeInfo `source` is rejected for types that carry none; a snapshot
//     array may not hold one uid twice; event `object` must match the envelope's uid, name
//     and namespace. Values the contract leaves to the Kubernetes API (phases, reasons)
//     are not enumerated.
//   - Only the four exact paths exist: `//oauth/token` (a platformURL with a trailing
//     slash) is a 404, not a redirect.
//   - Events before the cluster's first snapshot are accepted but counted
//     (ClusterState.EventsBeforeSnapshot), so a test can assert "snapshot first" without
//     the simulator punishing the hub with a 4xx it would treat as poison.
//   - Faults are decided as soon as path and method match, before authentication, like an
//     overloaded front end; drop-response is the exception by design: it processes the
//     request for real and then cuts the connection, so the state has the change and the
//     client must retry it.
//   - A request is recorded in Stats and Requests before its answer is written, so a test
//     that has the answer can assert on the counters at once, without waiting.
//   - Closing a connection: HTTP/1.1 hijacks and closes; HTTP/2 has no hijacking, so the
//     handler panics with http.ErrAbortHandler, which resets the stream. Either way the
//     client sees a transport error and no status.
//   - Rate windows use the arrival time on the simulator's clock (Options.Now), so a test
//     with a fake clock gets exact numbers. Windows are (t-1s, t].
//   - Locks: authMu (keys, tokens, jtis), stateMu (cluster state), statsMu (counters and
//     request log), Faults.mu and transMu. None is held across I/O; validation runs with
//     no lock, and the parsed body is swapped in under stateMu.
package platform
