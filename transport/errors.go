package transport

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnauthorized is wrapped by the PermanentError returned when the platform answers 401
// again to a request sent with a freshly fetched token.
var ErrUnauthorized = errors.New("platform rejected a freshly issued token")

// ErrInvalidPayload is wrapped by the PermanentError returned for a payload the contract
// cannot express (e.g. a deleted event that carries an object); nothing was sent.
var ErrInvalidPayload = errors.New("invalid payload")

// PermanentError means that sending this payload again will not help: the platform refused
// it (a 4xx other than 401 and 429, a 401 after a token refresh, a 1xx or 3xx), the
// credentials were rejected, or the payload is invalid. The caller drops the change (a poison
// message must not block its queue) and reports the error.
type PermanentError struct {
	// Endpoint is "snapshot", "events" or "heartbeat".
	Endpoint string
	// StatusCode is the platform's HTTP status, or 0 when no response caused the error.
	StatusCode int
	// Body holds at most the first 1024 bytes of the response body, as error text.
	Body string
	// Err is the cause: ErrUnauthorized, ErrInvalidPayload, an *auth.CredentialError, or nil
	// for a plain refusal.
	Err error
}

func (e *PermanentError) Error() string {
	switch {
	case e.StatusCode != 0 && e.Err != nil:
		return fmt.Sprintf("%s: platform answered %d: %v", e.Endpoint, e.StatusCode, e.Err)
	case e.StatusCode != 0 && e.Body != "":
		return fmt.Sprintf("%s: platform answered %d: %s", e.Endpoint, e.StatusCode, e.Body)
	case e.StatusCode != 0:
		return fmt.Sprintf("%s: platform answered %d", e.Endpoint, e.StatusCode)
	default:
		return fmt.Sprintf("%s: %v", e.Endpoint, e.Err)
	}
}

func (e *PermanentError) Unwrap() error { return e.Err }

// TemporaryError means the payload was not delivered but may be later: the retries ran out
// (5xx, network errors), the platform kept throttling until the context ended, the token
// endpoint could not be reached, or the context ended. The caller keeps the change queued.
type TemporaryError struct {
	// Endpoint is "snapshot", "events" or "heartbeat".
	Endpoint string
	// Attempts is the number of HTTP requests made.
	Attempts int
	// StatusCode is the last HTTP status seen, or 0 when the last attempt got no response.
	StatusCode int
	// RetryAfter is the wait the platform last asked for (429 or 503 Retry-After, capped),
	// or 0. A caller may use it to schedule the next try.
	RetryAfter time.Duration
	// Err is the cause: the last attempt's error, the context's error, or both joined.
	Err error
}

func (e *TemporaryError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s: not delivered after %d attempts, last status %d: %v", e.Endpoint, e.Attempts, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("%s: not delivered after %d attempts: %v", e.Endpoint, e.Attempts, e.Err)
}

func (e *TemporaryError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is (or wraps) a *PermanentError.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// IsTemporary reports whether err is (or wraps) a *TemporaryError.
func IsTemporary(err error) bool {
	var te *TemporaryError
	return errors.As(err, &te)
}
