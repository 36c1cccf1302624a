package platform

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// SignAssertion builds a JWT-bearer assertion as contract §2.3 describes it: header
// {"alg":"ES256","typ":"JWT"}, claims iss=sub=clientID, aud=[audience], iat=now,
// exp=iat+300, a fresh UUID v4 jti, and a raw R||S ES256 signature. It is for tests that
// talk to the simulator without the hub (the hub signs with its own code).
func SignAssertion(key *ecdsa.PrivateKey, clientID, audience string, now time.Time) (string, error) {
	claims, err := json.Marshal(map[string]any{
		"iss": clientID,
		"sub": clientID,
		"aud": []string{audience},
		"iat": now.Unix(),
		"exp": now.Unix() + 300,
		"jti": uuid.NewString(),
	})
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	return SignJWT(key, []byte(assertionHeader), claims)
}

// SignJWT signs arbitrary header and claims bytes with ES256 (raw 64-byte R||S,
// base64url without padding). Tests use it to build malformed assertions.
func SignJWT(key *ecdsa.PrivateKey, header, claims []byte) (string, error) {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign assertion: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig), nil
}

// IssueToken mints an access token for clientID without a grant (a test seam for tests
// that are not about authentication). It expires after Options.TokenLifetime.
func (s *Server) IssueToken(clientID string) string {
	t, _ := s.issueToken(clientID)
	return t
}
