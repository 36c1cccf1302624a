package auth_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/auth"
)

func TestCredentialValidation(t *testing.T) {
	p256 := newP256(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	xKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384SEC1, err := x509.MarshalECPrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&p256.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(randomHex(48))

	cases := []struct {
		name       string
		clientID   string
		keyPEM     []byte
		wantReason string // "" for success
		wantText   string
	}{
		{name: "a SEC1 P-256 key is accepted", keyPEM: sec1PEM(t, p256)},
		{name: "a PKCS#8 P-256 key is accepted", keyPEM: pkcs8PEM(t, p256)},
		{name: "only the first PEM block is used", keyPEM: append(sec1PEM(t, p256), pkcs8PEM(t, rsaKey)...)},
		{name: "text before the PEM block is skipped", keyPEM: append([]byte("comment line\n"), sec1PEM(t, p256)...)},
		{
			name: "a SEC1 key labelled PRIVATE KEY is still parsed (the label is not trusted)",
			keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: func() []byte {
				der, _ := x509.MarshalECPrivateKey(p256)
				return der
			}()}),
		},
		{name: "a P-384 key in SEC1 is rejected", keyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p384SEC1}), wantReason: auth.ReasonInvalidPrivateKey, wantText: "curve P-384"},
		{name: "a P-384 key in PKCS#8 is rejected", keyPEM: pkcs8PEM(t, p384), wantReason: auth.ReasonInvalidPrivateKey, wantText: "curve P-384"},
		{name: "an RSA key in PKCS#8 is rejected", keyPEM: pkcs8PEM(t, rsaKey), wantReason: auth.ReasonInvalidPrivateKey, wantText: "RSA key"},
		{name: "an RSA key in PKCS#1 is rejected", keyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), wantReason: auth.ReasonInvalidPrivateKey, wantText: "RSA key"},
		{name: "an RSA key before a P-256 key is rejected", keyPEM: append(pkcs8PEM(t, rsaKey), sec1PEM(t, p256)...), wantReason: auth.ReasonInvalidPrivateKey, wantText: "RSA key"},
		{name: "an Ed25519 key is rejected", keyPEM: pkcs8PEM(t, edKey), wantReason: auth.ReasonInvalidPrivateKey, wantText: "Ed25519 key"},
		{name: "an X25519 key is rejected", keyPEM: pkcs8PEM(t, xKey), wantReason: auth.ReasonInvalidPrivateKey, wantText: "X25519 key"},
		{name: "a public key is rejected", keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), wantReason: auth.ReasonInvalidPrivateKey, wantText: "not a private key"},
		{name: "an encrypted key is rejected", keyPEM: pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: garbage}), wantReason: auth.ReasonInvalidPrivateKey, wantText: "encrypted"},
		{name: "a PEM block of garbage is rejected", keyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: garbage}), wantReason: auth.ReasonInvalidPrivateKey, wantText: "neither an EC (SEC1) nor a PKCS#8"},
		{name: "text without a PEM block is rejected", keyPEM: garbage, wantReason: auth.ReasonInvalidPrivateKey, wantText: "no PEM block"},
		{name: "a missing key is rejected", keyPEM: nil, wantReason: auth.ReasonInvalidPrivateKey, wantText: "no PEM block"},
		{name: "an empty client_id is rejected", clientID: "-", keyPEM: sec1PEM(t, p256), wantReason: auth.ReasonInvalidClientID, wantText: "client_id is empty"},
		{name: "a whitespace-only client_id is rejected", clientID: " \t\n", keyPEM: sec1PEM(t, p256), wantReason: auth.ReasonInvalidClientID, wantText: "client_id is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clientID := tc.clientID
			switch clientID {
			case "":
				clientID = testClientID
			case "-":
				clientID = ""
			}
			opts := auth.Options{PlatformURL: "https://api.obsyk.example", ClientID: clientID, PrivateKeyPEM: tc.keyPEM}
			_, newErr := auth.New(opts)

			// UpdateCredentials validates the same way.
			m, err := auth.New(auth.Options{PlatformURL: opts.PlatformURL, ClientID: testClientID, PrivateKeyPEM: sec1PEM(t, p256)})
			if err != nil {
				t.Fatal(err)
			}
			updateErr := m.UpdateCredentials(clientID, tc.keyPEM)

			for name, err := range map[string]error{"New": newErr, "UpdateCredentials": updateErr} {
				g := NewWithT(t)
				if tc.wantReason == "" {
					g.Expect(err).NotTo(HaveOccurred(), name)
					continue
				}
				var ce *auth.CredentialError
				g.Expect(errors.As(err, &ce)).To(BeTrue(), name)
				g.Expect(auth.IsCredentialError(err)).To(BeTrue(), name)
				g.Expect(ce.Reason).To(Equal(tc.wantReason), name)
				g.Expect(ce.StatusCode).To(BeZero(), name)
				g.Expect(err.Error()).To(ContainSubstring(tc.wantText), name)
				for _, line := range append(pemBodyLines(tc.keyPEM), string(garbage)) {
					g.Expect(err.Error()).NotTo(ContainSubstring(line), name)
					g.Expect(err.Error()).NotTo(ContainSubstring(line[:min(len(line), 16)]), name)
				}
			}
		})
	}
}

func TestNewValidatesOptions(t *testing.T) {
	keyPEM := sec1PEM(t, newP256(t))
	cases := []struct {
		name string
		opts auth.Options
		want string
	}{
		{name: "a missing platform URL is refused", opts: auth.Options{}, want: "platform URL is required"},
		{name: "a platform URL without a scheme is refused", opts: auth.Options{PlatformURL: "api.obsyk.example"}, want: "https:// or http://"},
		{name: "a platform URL with another scheme is refused", opts: auth.Options{PlatformURL: "ftp://api.obsyk.example"}, want: "https:// or http://"},
		{name: "a platform URL with user info is refused", opts: auth.Options{PlatformURL: "https://u:secretpw@api.obsyk.example"}, want: "user info"},
		{name: "a platform URL with a query is refused", opts: auth.Options{PlatformURL: "https://api.obsyk.example?x=1"}, want: "query"},
		{name: "a negative MaxAttempts is refused", opts: auth.Options{PlatformURL: "https://api.obsyk.example", MaxAttempts: -1}, want: "MaxAttempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			tc.opts.ClientID, tc.opts.PrivateKeyPEM = testClientID, keyPEM
			_, err := auth.New(tc.opts)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(auth.IsCredentialError(err)).To(BeFalse())
			g.Expect(err.Error()).NotTo(ContainSubstring("secretpw"))
			g.Expect(strings.Contains(err.Error(), "MHcC")).To(BeFalse())
		})
	}
}
