package platform

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// jwtBearerGrant is the only grant_type the token endpoint accepts (§2.2).
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// assertionHeader is the only JOSE header accepted, byte for byte (§2.3).
const assertionHeader = `{"alg":"ES256","typ":"JWT"}`

// uuidV4 is a lower-case hyphenated UUID version 4 (the jti, §2.3).
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// b64 is base64url without padding, rejecting non-canonical encodings.
var b64 = base64.RawURLEncoding.Strict()

// tokenPruneInterval is how often expired tokens and jtis are dropped.
const tokenPruneInterval = time.Minute

// expiredTokenRetention is how long an expired token is remembered, so a request with it
// gets "expired" rather than "unknown".
const expiredTokenRetention = time.Hour

// accessToken is one issued token.
type accessToken struct {
	subject string
	expiry  time.Time
}

// RegisterClient registers (or replaces) the public key of a client_id.
func (s *Server) RegisterClient(clientID string, pub *ecdsa.PublicKey) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.clients[clientID] = pub
}

// RegisterClientPEM registers a client from a PEM P-256 key: a PUBLIC KEY (PKIX) block, or
// for convenience a private key (EC PRIVATE KEY or PRIVATE KEY), of which only the public
// half is kept.
func (s *Server) RegisterClientPEM(clientID string, publicKeyPEM []byte) error {
	if strings.TrimSpace(clientID) == "" {
		return errors.New("register client: empty client_id")
	}
	pub, err := ParsePublicKeyPEM(publicKeyPEM)
	if err != nil {
		return fmt.Errorf("register client %s: %w", clientID, err)
	}
	s.RegisterClient(clientID, pub)
	return nil
}

// ParsePublicKeyPEM reads a P-256 public key from the first PEM block: PUBLIC KEY, EC
// PRIVATE KEY or PRIVATE KEY.
func ParsePublicKeyPEM(data []byte) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	var pub *ecdsa.PublicKey
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		pub = k
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	default:
		return nil, fmt.Errorf("want an ECDSA key, got %T", key)
	}
	if pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("want curve P-256, got %s", pub.Curve.Params().Name)
	}
	return pub, nil
}

// oauthError is an OAuth 2.0 error answer.
type oauthError struct {
	status int
	code   string
	desc   string
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func invalidGrant(format string, args ...any) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_grant", fmt.Sprintf(format, args...)}
}

func invalidRequest(format string, args ...any) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...)}
}

// serveToken is POST /oauth/token (§2).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, rec *exchange) {
	if r.URL.RawQuery != "" {
		s.writeOAuthError(w, rec, invalidRequest("the token request has no query string"))
		return
	}
	if _, ok := r.Header["Authorization"]; ok {
		s.writeOAuthError(w, rec, invalidRequest("the token request carries no Authorization header (§2.2)"))
		return
	}
	body, oerr := s.readBody(w, r, rec, 64<<10)
	if oerr != nil {
		s.writeOAuthError(w, rec, oerr)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		s.writeOAuthError(w, rec, invalidRequest("Content-Type: want application/x-www-form-urlencoded, got %q", ct))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.writeOAuthError(w, rec, invalidRequest("form body: %v", err))
		return
	}
	for k, vs := range form {
		if k != "assertion" && k != "grant_type" {
			s.writeOAuthError(w, rec, invalidRequest("form field %q is not sent in the JWT-bearer grant (§2.2)", k))
			return
		}
		if len(vs) != 1 {
			s.writeOAuthError(w, rec, invalidRequest("form field %q given %d times", k, len(vs)))
			return
		}
	}
	if gt := form.Get("grant_type"); gt != jwtBearerGrant {
		if gt == "" {
			s.writeOAuthError(w, rec, invalidRequest("form field grant_type missing"))
		} else {
			s.writeOAuthError(w, rec, &oauthError{http.StatusBadRequest, "unsupported_grant_type",
				fmt.Sprintf("grant_type: want %s, got %q", jwtBearerGrant, gt)})
		}
		return
	}
	assertion := form.Get("assertion")
	if assertion == "" {
		s.writeOAuthError(w, rec, invalidRequest("form field assertion missing"))
		return
	}
	subject, oerr := s.verifyAssertion(assertion, rec)
	if oerr != nil {
		s.writeOAuthError(w, rec, oerr)
		return
	}
	token, expiresIn := s.issueToken(subject)
	rec.Accepted = true
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	s.respond(w, rec, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   expiresIn,
		"scope":        "agent",
	})
}

// verifyAssertion checks the JWT (§2.3) and returns its subject. It records the claimed
// issuer in rec.Subject as soon as it is readable.
func (s *Server) verifyAssertion(assertion string, rec *exchange) (string, *oauthError) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", invalidGrant("assertion: want 3 dot-separated segments, got %d", len(parts))
	}
	header, err := b64.DecodeString(parts[0])
	if err != nil {
		return "", invalidGrant("assertion header: not base64url without padding: %v", err)
	}
	if string(header) != assertionHeader {
		return "", invalidGrant("assertion header: want exactly %s, got %s", assertionHeader, header)
	}
	claimsJSON, err := b64.DecodeString(parts[1])
	if err != nil {
		return "", invalidGrant("assertion claims: not base64url without padding: %v", err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return "", invalidGrant("assertion signature: not base64url without padding: %v", err)
	}
	cl, oerr := parseClaims(claimsJSON)
	if cl.iss != "" {
		rec.Subject = cl.iss
	}
	if oerr != nil {
		return "", oerr
	}

	s.authMu.Lock()
	pub := s.clients[cl.iss]
	s.authMu.Unlock()
	if pub == nil {
		return "", &oauthError{http.StatusUnauthorized, "invalid_client", fmt.Sprintf("client %q is not registered", cl.iss)}
	}
	if len(sig) != 64 {
		return "", invalidGrant("assertion signature: want 64 bytes (R||S), got %d", len(sig))
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r := new(big.Int).SetBytes(sig[:32])
	sv := new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, sv) {
		return "", invalidGrant("assertion signature does not verify with the key registered for %q", cl.iss)
	}

	if want := s.audience(); cl.aud != want {
		return "", invalidGrant("aud: want [%q], got [%q]", want, cl.aud)
	}
	now := s.opts.Now()
	skew := int64(s.opts.ClockSkew / time.Second)
	switch {
	case cl.exp <= now.Unix():
		return "", invalidGrant("assertion expired: exp %d is not after now %d", cl.exp, now.Unix())
	case cl.iat > now.Unix()+skew:
		return "", invalidGrant("iat %d is in the future (now %d)", cl.iat, now.Unix())
	case cl.exp <= cl.iat:
		return "", invalidGrant("exp %d is not after iat %d", cl.exp, cl.iat)
	case cl.exp-cl.iat > int64(s.opts.MaxAssertionLifetime/time.Second)+skew:
		return "", invalidGrant("assertion lifetime exp-iat = %ds exceeds %s", cl.exp-cl.iat, s.opts.MaxAssertionLifetime)
	}

	s.authMu.Lock()
	defer s.authMu.Unlock()
	if _, seen := s.jtis[cl.jti]; seen {
		return "", invalidGrant("jti %q was already used (replay)", cl.jti)
	}
	s.jtis[cl.jti] = time.Unix(cl.exp, 0)
	return cl.iss, nil
}

// claims are the assertion's claims (§2.3).
type claims struct {
	iss, sub, aud, jti string
	exp, iat           int64
}

// parseClaims checks the claim set strictly: exactly iss, sub, aud, exp, iat, jti with the
// contract's JSON types. It returns what it could read even on error.
func parseClaims(data []byte) (claims, *oauthError) {
	var cl claims
	v, err := decodeStrict(data)
	if err != nil {
		return cl, invalidGrant("assertion claims: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return cl, invalidGrant("assertion claims: want a JSON object, got %s", jsonType(v))
	}
	cl.iss, _ = m["iss"].(string)
	for _, k := range sortedKeys(m) {
		switch k {
		case "iss", "sub", "aud", "exp", "iat", "jti":
		default:
			return cl, invalidGrant("assertion claims: unexpected claim %q (only iss, sub, aud, exp, iat, jti are sent)", k)
		}
	}
	for _, k := range []string{"iss", "sub", "jti"} {
		s, ok := m[k].(string)
		if !ok {
			return cl, invalidGrant("claim %s: want string, got %s", k, jsonType(m[k]))
		}
		if s == "" {
			return cl, invalidGrant("claim %s: must not be empty", k)
		}
	}
	cl.sub, cl.jti = m["sub"].(string), m["jti"].(string)
	if cl.sub != cl.iss {
		return cl, invalidGrant("claim sub %q must equal iss %q", cl.sub, cl.iss)
	}
	if !uuidV4.MatchString(cl.jti) {
		return cl, invalidGrant("claim jti %q: want a lower-case hyphenated UUID v4", cl.jti)
	}
	aud, ok := m["aud"].([]any)
	if !ok {
		return cl, invalidGrant("claim aud: want an array of one string, got %s", jsonType(m["aud"]))
	}
	if len(aud) != 1 {
		return cl, invalidGrant("claim aud: want exactly one element, got %d", len(aud))
	}
	if cl.aud, ok = aud[0].(string); !ok {
		return cl, invalidGrant("claim aud[0]: want string, got %s", jsonType(aud[0]))
	}
	for _, k := range []string{"exp", "iat"} {
		n, ok := m[k].(json.Number)
		if !ok {
			return cl, invalidGrant("claim %s: want a number, got %s", k, jsonType(m[k]))
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return cl, invalidGrant("claim %s: want integer seconds, got %s", k, n)
		}
		if k == "exp" {
			cl.exp = i
		} else {
			cl.iat = i
		}
	}
	return cl, nil
}

func (s *Server) audience() string {
	if s.opts.Audience != "" {
		return s.opts.Audience
	}
	return s.url
}

// issueToken creates an opaque access token for subject; it returns it and expires_in.
func (s *Server) issueToken(subject string) (string, int64) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("platform: read random token: %v", err)) // crypto/rand does not fail
	}
	token := "at_" + base64.RawURLEncoding.EncodeToString(b[:])
	now := s.opts.Now()
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.tokens[token] = accessToken{subject: subject, expiry: now.Add(s.opts.TokenLifetime)}
	if now.Sub(s.lastPrune) > tokenPruneInterval {
		s.lastPrune = now
		for t, at := range s.tokens {
			if now.Sub(at.expiry) > expiredTokenRetention {
				delete(s.tokens, t)
			}
		}
		for j, exp := range s.jtis {
			if !exp.After(now) {
				delete(s.jtis, j)
			}
		}
	}
	return token, int64(s.opts.TokenLifetime / time.Second)
}

// expireAllTokens makes every issued token expire now (Faults.ExpireTokens).
func (s *Server) expireAllTokens() {
	now := s.opts.Now()
	s.authMu.Lock()
	defer s.authMu.Unlock()
	for t, at := range s.tokens {
		if at.expiry.After(now) {
			at.expiry = now
			s.tokens[t] = at
		}
	}
}

// authenticate checks `Authorization: Bearer <token>` and returns the token's subject.
func (s *Server) authenticate(r *http.Request) (string, *oauthError) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", &oauthError{http.StatusUnauthorized, "invalid_token", "missing Authorization: Bearer header"}
	}
	if len(vals) > 1 {
		return "", &oauthError{http.StatusUnauthorized, "invalid_token", "more than one Authorization header"}
	}
	token, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || token == "" || strings.ContainsAny(token, " \t") {
		return "", &oauthError{http.StatusUnauthorized, "invalid_token", "Authorization: want \"Bearer <access_token>\""}
	}
	now := s.opts.Now()
	s.authMu.Lock()
	at, known := s.tokens[token]
	s.authMu.Unlock()
	switch {
	case !known:
		return "", &oauthError{http.StatusUnauthorized, "invalid_token", "unknown access token"}
	case !now.Before(at.expiry):
		return at.subject, &oauthError{http.StatusUnauthorized, "invalid_token", "access token expired"}
	}
	return at.subject, nil
}

// writeOAuthError answers {"error": code, "error_description": desc}.
func (s *Server) writeOAuthError(w http.ResponseWriter, rec *exchange, e *oauthError) {
	rec.Error = e.Error()
	if e.status == http.StatusUnauthorized && rec.Endpoint != EndpointToken {
		w.Header().Set("WWW-Authenticate", `Bearer realm="obsyk", error="`+e.code+`"`)
	}
	s.respond(w, rec, e.status, map[string]any{"error": e.code, "error_description": e.desc})
}

// respond records the request as finished (so a client that has the answer also finds it
// in Stats and Requests), then writes a compact JSON answer.
func (s *Server) respond(w http.ResponseWriter, rec *exchange, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // maps of strings and numbers always encode
	rec.Status = status
	s.finish(rec)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
