package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/auth"
	"github.com/obsyk/obsyk-hub/e2e/platform"
)

// These tests get tokens from the platform simulator over real HTTPS: an independent,
// strict implementation of the other side of contract §2.

func TestPlatformSimulatorIssuesATokenOverHTTPS(t *testing.T) {
	g := NewWithT(t)
	sim := platform.StartForTest(t, platform.Options{})
	key := newP256(t)
	sim.RegisterClient(testClientID, &key.PublicKey)
	g.Expect(sim.URL()).To(HavePrefix("https://"))

	m, err := auth.New(auth.Options{
		PlatformURL:   sim.URL(),
		ClientID:      testClientID,
		PrivateKeyPEM: pkcs8PEM(t, key),
		HTTPClient:    sim.HTTPClient(),
	})
	g.Expect(err).NotTo(HaveOccurred())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := m.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tok).NotTo(BeEmpty())
	g.Expect(m.Token(ctx)).To(Equal(tok), "a one-hour token is cached")
	g.Expect(sim.Stats().Total(platform.EndpointToken, 200)).To(Equal(1))

	// After an invalidation the simulator accepts a second assertion (new jti).
	m.Invalidate(tok)
	again, err := m.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).NotTo(Equal(tok))
	g.Expect(sim.Stats().Total(platform.EndpointToken, 200)).To(Equal(2))
}

func TestPlatformSimulatorFaultsOnTheTokenEndpoint(t *testing.T) {
	cases := []struct {
		name  string
		fault platform.Fault
		// wantAttempts is the number of token requests the simulator saw.
		wantAttempts int
	}{
		{
			name:         "two 503s are retried and the third request gets the token",
			fault:        platform.Fault{Mode: platform.FaultStatus, Status: 503, Count: 2},
			wantAttempts: 3,
		},
		{
			name:         "a 429 with Retry-After is waited out and retried",
			fault:        platform.Fault{Mode: platform.FaultRateLimited, RetryAfter: time.Second, Count: 1},
			wantAttempts: 2,
		},
		{
			name:         "a closed connection is retried",
			fault:        platform.Fault{Mode: platform.FaultCloseConnection, Count: 1},
			wantAttempts: 2,
		},
		{
			name:         "a response lost after the token was issued is retried with a new assertion",
			fault:        platform.Fault{Mode: platform.FaultDropResponse, Count: 1},
			wantAttempts: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sim := platform.StartForTest(t, platform.Options{})
			key := newP256(t)
			sim.RegisterClient(testClientID, &key.PublicKey)
			tc.fault.Endpoints = []platform.Endpoint{platform.EndpointToken}
			_, err := sim.Faults().Inject(tc.fault)
			g.Expect(err).NotTo(HaveOccurred())

			m, err := auth.New(auth.Options{
				PlatformURL:   sim.URL(),
				ClientID:      testClientID,
				PrivateKeyPEM: sec1PEM(t, key),
				HTTPClient:    sim.HTTPClient(),
			})
			g.Expect(err).NotTo(HaveOccurred())
			auth.SetBackoffForTest(m, 10*time.Millisecond, 50*time.Millisecond)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok, err := m.Token(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(tok).NotTo(BeEmpty())
			total := 0
			for _, n := range sim.Stats().Requests[platform.EndpointToken] {
				total += n
			}
			g.Expect(total).To(Equal(tc.wantAttempts))
		})
	}
}

func TestPlatformSimulatorRejectsAnUnknownClient(t *testing.T) {
	g := NewWithT(t)
	sim := platform.StartForTest(t, platform.Options{})
	m, err := auth.New(auth.Options{
		PlatformURL:   sim.URL(),
		ClientID:      "cl_unregistered",
		PrivateKeyPEM: sec1PEM(t, newP256(t)),
		HTTPClient:    sim.HTTPClient(),
	})
	g.Expect(err).NotTo(HaveOccurred())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = m.Token(ctx)
	var ce *auth.CredentialError
	g.Expect(errors.As(err, &ce)).To(BeTrue())
	g.Expect(ce.StatusCode).To(Equal(401))
	g.Expect(ce.OAuthError).To(Equal("invalid_client"))
	g.Expect(sim.Stats().Total(platform.EndpointToken, 401)).To(Equal(1))
}
