package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const (
	// grantType is the RFC 7523 JWT-bearer grant (contract §2.2).
	grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// assertionLifetime is exp − iat of every assertion (contract §2.3).
	assertionLifetime = 300 // seconds

	// exchangeTimeout bounds one token exchange, every attempt and every wait included.
	exchangeTimeout = 2 * time.Minute
	// attemptTimeout bounds one HTTP attempt, whatever the HTTPClient's own Timeout is.
	attemptTimeout = 30 * time.Second
	// maxResponseBytes bounds what is read of a token-endpoint response. The reference reads
	// 4096 bytes; a little more room costs nothing and tolerates longer opaque tokens.
	maxResponseBytes = 16 << 10
	// maxOAuthFieldBytes bounds each OAuth error field kept in a CredentialError.
	maxOAuthFieldBytes = 256

	defaultBackoffBase   = 200 * time.Millisecond
	defaultBackoffMax    = 5 * time.Second
	defaultRetryAfterMax = 30 * time.Second

	// defaultLifetime is used when expires_in is missing, zero, negative or not a number. The
	// reference treats a missing value as 0 and then fetches a token before every request; a
	// short finite lifetime instead keeps the token for 48 s (the 80 % rule) and still never
	// trusts it for long.
	defaultLifetime = 60 * time.Second
	// maxLifetime caps expires_in so that absurd values cannot overflow time arithmetic; a
	// token is renewed at least about once a day.
	maxLifetime = 24 * time.Hour
)

// assertionClaims is the exact claim set of contract §2.3, in its order. A struct (not
// jwt.RegisteredClaims) keeps the set closed and makes aud an array regardless of
// jwt.MarshalSingleStringAsArray.
type assertionClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
}

var _ jwt.Claims = assertionClaims{}

func (c assertionClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), nil
}
func (c assertionClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), nil
}
func (c assertionClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c assertionClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c assertionClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c assertionClaims) GetAudience() (jwt.ClaimStrings, error)  { return c.Audience, nil }

// signAssertion builds and signs the ES256 client assertion.
func signAssertion(c credentials, audience string, now time.Time) (string, error) {
	jti, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("generate jti: %w", err)
	}
	iat := now.Unix()
	claims := assertionClaims{
		Issuer:    c.clientID,
		Subject:   c.clientID,
		Audience:  []string{audience},
		ExpiresAt: iat + assertionLifetime,
		IssuedAt:  iat,
		ID:        jti.String(),
	}
	// NewWithClaims writes the header {"alg":"ES256","typ":"JWT"} (a map, so keys sorted).
	signed, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(c.key)
	if err != nil {
		return "", fmt.Errorf("sign assertion: %w", err)
	}
	return signed, nil
}

// issuedToken is an access token with the times that govern its reuse.
type issuedToken struct {
	value string
	// refreshAt: from here on a background refresh is started (the cached value is still
	// returned). It is the later of expiry − 5 min and issue + 80 % of the lifetime.
	refreshAt time.Time
	// staleAt: from here on the value is never returned. It is the expiry minus a small
	// margin (10 % of the lifetime, at most 10 s) for clock skew and request latency.
	staleAt time.Time
}

func newIssuedToken(value string, issued time.Time, lifetime time.Duration) *issuedToken {
	expiry := issued.Add(lifetime)
	refreshAt := expiry.Add(-5 * time.Minute)
	if early := issued.Add(lifetime * 8 / 10); early.After(refreshAt) {
		refreshAt = early
	}
	return &issuedToken{
		value:     value,
		refreshAt: refreshAt,
		staleAt:   expiry.Add(-min(10*time.Second, lifetime/10)),
	}
}

// attemptError is the outcome of one failed HTTP attempt.
type attemptError struct {
	err        error
	retriable  bool
	status     int           // 0 for network errors
	retryAfter time.Duration // from a 429's Retry-After; 0 when absent
}

// statusError is a non-200 answer that is not a credential rejection.
type statusError struct {
	status      int
	oauthError  string
	description string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("token endpoint returned HTTP %d", e.status)
	if e.oauthError != "" {
		s += " " + e.oauthError
	}
	if e.description != "" {
		s += ": " + e.description
	}
	return s
}

// exchange runs one token exchange: up to maxAttempts attempts, each with a fresh assertion,
// retrying network errors, 408, 429 and 5xx with exponential backoff and jitter.
func (m *TokenManager) exchange(ctx context.Context, c credentials) (*issuedToken, int, error) {
	var last *attemptError
	for attempt := 1; attempt <= m.maxAttempts; attempt++ {
		if attempt > 1 {
			delay := m.backoff(attempt)
			if last.retryAfter > 0 {
				delay = last.retryAfter
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
				return nil, attempt - 1, fmt.Errorf("token exchange gave up after %d attempts (deadline too close to wait %s): %w",
					attempt-1, delay.Round(time.Millisecond), last.err)
			}
			m.log.V(1).Info("Token request failed, retrying", "platform", m.platformURL,
				"attempt", attempt-1, "status", last.status, "delay", delay, "reason", last.err.Error())
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, attempt - 1, fmt.Errorf("token exchange stopped after %d attempts: %w", attempt-1, last.err)
			case <-t.C:
			}
		}
		tok, aerr := m.attempt(ctx, c)
		if aerr == nil {
			return tok, attempt, nil
		}
		if !aerr.retriable {
			return nil, attempt, aerr.err
		}
		last = aerr
	}
	return nil, m.maxAttempts, fmt.Errorf("token exchange failed after %d attempts: %w", m.maxAttempts, last.err)
}

// backoff is the wait before the given attempt (≥ 2): base·2^(attempt−2), capped, ±25 %.
func (m *TokenManager) backoff(attempt int) time.Duration {
	d := m.backoffMax
	if shift := attempt - 2; shift < 30 {
		if b := m.backoffBase << shift; b > 0 && b < d {
			d = b
		}
	}
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
}

// attempt performs one POST to the token endpoint.
func (m *TokenManager) attempt(ctx context.Context, c credentials) (*issuedToken, *attemptError) {
	assertion, err := signAssertion(c, m.platformURL, m.now())
	if err != nil {
		return nil, &attemptError{err: err}
	}
	body := url.Values{"assertion": {assertion}, "grant_type": {grantType}}.Encode()

	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, m.tokenURL, strings.NewReader(body))
	if err != nil {
		return nil, &attemptError{err: fmt.Errorf("build token request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", m.userAgent)

	start := time.Now()
	resp, err := m.httpClient.Do(req)
	if err != nil {
		// A network error or a timeout of this attempt. Once the exchange's own deadline has
		// passed there is nothing left to retry.
		return nil, &attemptError{err: fmt.Errorf("token request: %w", err), retriable: ctx.Err() == nil}
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	m.log.V(4).Info("Token endpoint answered", "platform", m.platformURL, "status", resp.StatusCode,
		"duration", time.Since(start), "bytes", len(raw))

	switch {
	case resp.StatusCode == http.StatusOK:
		if readErr != nil {
			return nil, &attemptError{err: fmt.Errorf("read token response: %w", readErr), retriable: ctx.Err() == nil, status: resp.StatusCode}
		}
		tok, err := m.parseTokenResponse(raw)
		if err != nil {
			return nil, &attemptError{err: err, status: resp.StatusCode}
		}
		return tok, nil
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized:
		code, desc := parseOAuthError(raw, assertion)
		return nil, &attemptError{status: resp.StatusCode, err: &CredentialError{
			Reason:                ReasonCredentialsRejected,
			Message:               "the token endpoint rejected the assertion",
			StatusCode:            resp.StatusCode,
			OAuthError:            code,
			OAuthErrorDescription: desc,
		}}
	default:
		code, desc := parseOAuthError(raw, assertion)
		ae := &attemptError{status: resp.StatusCode, err: &statusError{status: resp.StatusCode, oauthError: code, description: desc}}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			ae.retriable = true
			ae.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), m.retryAfterMax)
		case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500 && resp.StatusCode <= 599:
			ae.retriable = true
		}
		return nil, ae
	}
}

// parseTokenResponse decodes a 200 body (contract §2.4).
func (m *TokenManager) parseTokenResponse(raw []byte) (*issuedToken, error) {
	if len(raw) > maxResponseBytes {
		return nil, fmt.Errorf("token response is larger than %d bytes", maxResponseBytes)
	}
	var body struct {
		AccessToken *string         `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		// The decoder's message names types and offsets, never the input's text.
		return nil, fmt.Errorf("token response is not a JSON object with a string access_token: %w", err)
	}
	if body.AccessToken == nil || *body.AccessToken == "" {
		return nil, errors.New("token response has no access_token")
	}
	if !validTokenValue(*body.AccessToken) {
		return nil, errors.New("token response's access_token has characters that cannot be sent in a header")
	}
	lifetime, ok := parseExpiresIn(body.ExpiresIn)
	if !ok {
		m.log.V(1).Info("Token response has no usable expires_in, assuming a short lifetime",
			"platform", m.platformURL, "expiresIn", defaultLifetime)
		lifetime = defaultLifetime
	}
	return newIssuedToken(*body.AccessToken, m.now(), lifetime), nil
}

// validTokenValue accepts visible ASCII only, so the token is a valid Authorization value.
func validTokenValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseExpiresIn reads expires_in as a JSON number (or, leniently, a numeric string) of
// seconds. It reports false when the value is missing, not a number or not positive.
func parseExpiresIn(raw json.RawMessage) (time.Duration, bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, false
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 1 {
		return 0, false
	}
	if f >= maxLifetime.Seconds() {
		return maxLifetime, true
	}
	return time.Duration(f) * time.Second, true
}

// parseRetryAfter reads delta-seconds or an HTTP-date, capped; 0 when absent or invalid.
func parseRetryAfter(v string, capDelay time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n >= int64(capDelay/time.Second) {
			return capDelay
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), capDelay)
}

// parseOAuthError extracts the RFC 6749 §5.2 "error" and "error_description" from an error
// body, if it is one. Both are sanitized, bounded and stripped of any echo of the assertion.
func parseOAuthError(raw []byte, assertion string) (code, description string) {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(raw, &body) != nil {
		return "", ""
	}
	return sanitize(body.Error, assertion), sanitize(body.Description, assertion)
}

// sanitize makes endpoint-supplied text safe to put in an error, a log line or a status:
// the assertion and its signature are redacted, control characters become spaces, and the
// result is cut to maxOAuthFieldBytes on a rune boundary.
func sanitize(s, assertion string) string {
	if assertion != "" {
		s = strings.ReplaceAll(s, assertion, "[redacted]")
		if i := strings.LastIndexByte(assertion, '.'); i >= 0 && len(assertion)-i > 16 {
			s = strings.ReplaceAll(s, assertion[i+1:], "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxOAuthFieldBytes {
		cut := maxOAuthFieldBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
