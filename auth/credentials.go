package auth

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Reasons carried by CredentialError. They are CamelCase so that a controller can use them
// as a condition reason unchanged.
const (
	// ReasonInvalidClientID: the client_id is empty after trimming surrounding whitespace.
	ReasonInvalidClientID = "InvalidClientID"
	// ReasonInvalidPrivateKey: the private key is not a usable ECDSA P-256 key.
	ReasonInvalidPrivateKey = "InvalidPrivateKey"
	// ReasonCredentialsRejected: the token endpoint answered 400 or 401.
	ReasonCredentialsRejected = "CredentialsRejected"
)

// CredentialError reports credentials that cannot work: a client_id or private key that
// fails local validation, or a token endpoint that rejected the assertion (HTTP 400 or 401).
// Retrying with the same credentials will not help.
//
// No field and no part of Error() ever contains key material, an assertion or a token; the
// token endpoint's OAuth error fields are sanitized, bounded and have any echo of the
// assertion removed before they are stored here.
type CredentialError struct {
	// Reason is one of ReasonInvalidClientID, ReasonInvalidPrivateKey or
	// ReasonCredentialsRejected.
	Reason string
	// Message is a human-readable description of the problem.
	Message string
	// StatusCode is the token endpoint's HTTP status (400 or 401); 0 for local validation.
	StatusCode int
	// OAuthError is the endpoint's "error" code (e.g. "invalid_client"), if it sent one.
	OAuthError string
	// OAuthErrorDescription is the endpoint's "error_description", if it sent one.
	OAuthErrorDescription string
}

// Error implements error.
func (e *CredentialError) Error() string {
	if e.StatusCode == 0 {
		return "invalid credentials: " + e.Message
	}
	var b strings.Builder
	fmt.Fprintf(&b, "token endpoint rejected the credentials: HTTP %d", e.StatusCode)
	if e.OAuthError != "" {
		b.WriteString(" ")
		b.WriteString(e.OAuthError)
	}
	if e.OAuthErrorDescription != "" {
		b.WriteString(": ")
		b.WriteString(e.OAuthErrorDescription)
	}
	return b.String()
}

// IsCredentialError reports whether err is, or wraps, a *CredentialError.
func IsCredentialError(err error) bool {
	var ce *CredentialError
	return errors.As(err, &ce)
}

// credentials is a validated client_id and signing key. It is immutable once built.
type credentials struct {
	clientID string
	key      *ecdsa.PrivateKey
}

// equal reports whether c and o identify the same client with the same key. Keys are compared
// by value, so re-encoding the same key (SEC1 versus PKCS#8, other line breaks) is no change.
func (c credentials) equal(o credentials) bool {
	return c.clientID == o.clientID && c.key.Equal(o.key)
}

// parseCredentials validates a client_id and a PEM private key as contract §2.1 describes.
// Errors are *CredentialError and never quote the input.
func parseCredentials(clientID string, privateKeyPEM []byte) (credentials, error) {
	id := strings.TrimSpace(clientID)
	if id == "" {
		return credentials{}, &CredentialError{
			Reason:  ReasonInvalidClientID,
			Message: "client_id is empty",
		}
	}
	key, err := parsePrivateKey(privateKeyPEM)
	if err != nil {
		return credentials{}, err
	}
	return credentials{clientID: id, key: key}, nil
}

func keyError(msg string) error {
	return &CredentialError{Reason: ReasonInvalidPrivateKey, Message: "private_key: " + msg}
}

// parsePrivateKey returns the ECDSA P-256 key in the first PEM block of data. Like the
// reference it ignores the block's type label when parsing: SEC1 is tried first, then
// PKCS#8. The label is used only to explain a failure.
//
// No error message contains bytes of the input: the underlying x509/asn1 errors are
// discarded, and only fixed strings, a known block type or a curve name are reported.
func parsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, keyError("no PEM block found")
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, keyError("encrypted private keys are not supported")
	}

	if key, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return checkCurve(key)
	}
	if parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		switch k := parsed.(type) {
		case *ecdsa.PrivateKey:
			return checkCurve(k)
		case *rsa.PrivateKey:
			return nil, keyError("an RSA key was given; an ECDSA P-256 key is required")
		case ed25519.PrivateKey:
			return nil, keyError("an Ed25519 key was given; an ECDSA P-256 key is required")
		case *ecdh.PrivateKey:
			return nil, keyError("an X25519 key was given; an ECDSA P-256 key is required")
		default:
			return nil, keyError("unsupported PKCS#8 key type; an ECDSA P-256 key is required")
		}
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil, keyError("an RSA key was given; an ECDSA P-256 key is required")
	}
	switch block.Type {
	case "PUBLIC KEY", "EC PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, keyError(fmt.Sprintf("the PEM block is a %s, not a private key", block.Type))
	}
	return nil, keyError("the first PEM block is neither an EC (SEC1) nor a PKCS#8 private key")
}

func checkCurve(key *ecdsa.PrivateKey) (*ecdsa.PrivateKey, error) {
	if key.Curve != elliptic.P256() {
		name := "unknown"
		if p := key.Curve.Params(); p != nil && p.Name != "" {
			name = p.Name
		}
		return nil, keyError(fmt.Sprintf("an ECDSA key on curve %s was given; curve P-256 is required", name))
	}
	return key, nil
}
