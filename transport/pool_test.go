package transport

import (
	"context"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

func TestPoolReusesReplacesAndUpdatesClients(t *testing.T) {
	p := newFakePlatform(t, nil)
	other := newFakePlatform(t, nil)
	base := p.options(t)
	_, otherKey := newKey(t)

	cases := []struct {
		name      string
		change    func(o Options) Options
		sameAsOld bool
	}{
		{"equal options give the same client", func(o Options) Options { return o }, true},
		{"options that only spell out the defaults give the same client",
			func(o Options) Options { o.AgentVersion, o.MaxAttempts = "dev", 5; return o }, true},
		{"new credentials are applied to the same client",
			func(o Options) Options { o.ClientID, o.PrivateKeyPEM = "client-b", otherKey; return o }, true},
		{"a new platform URL gives a new client", func(o Options) Options { o.PlatformURL = other.srv.URL; return o }, false},
		{"allowing insecure HTTP differently gives a new client",
			func(o Options) Options {
				o.PlatformURL = "https://api.obsyk.example"
				o.AllowInsecureHTTP = false
				return o
			}, false},
		{"a new agent version gives a new client", func(o Options) Options { o.AgentVersion = "v2"; return o }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			pool := NewPool(PoolOptions{})
			defer pool.Close()
			old, err := pool.Get("obsyk-system/agent-a", base)
			g.Expect(err).NotTo(HaveOccurred())
			got, err := pool.Get("obsyk-system/agent-a", tc.change(base))
			g.Expect(err).NotTo(HaveOccurred())
			if tc.sameAsOld {
				g.Expect(got).To(BeIdenticalTo(old))
			} else {
				g.Expect(got).NotTo(BeIdenticalTo(old))
			}
			g.Expect(pool.Len()).To(Equal(1))
		})
	}
}

func TestPoolUsesUpdatedCredentialsForTheNextToken(t *testing.T) {
	g := NewWithT(t)
	p := newFakePlatform(t, nil)
	pool := NewPool(PoolOptions{Metrics: NewMetrics(nil)})
	defer pool.Close()
	opts := p.options(t)
	c, err := pool.Get("ns/a", opts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.SendHeartbeat(context.Background(), heartbeat())).To(Succeed())

	_, newKeyPEM := newKey(t)
	opts.ClientID, opts.PrivateKeyPEM = "client-b", newKeyPEM
	c2, err := pool.Get("ns/a", opts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c2).To(BeIdenticalTo(c))
	g.Expect(c2.SendHeartbeat(context.Background(), heartbeat())).To(Succeed())
	g.Expect(p.tokenIssuers()).To(Equal([]string{"client-a", "client-b"}))

	opts.PrivateKeyPEM = []byte("not a key")
	_, err = pool.Get("ns/a", opts)
	g.Expect(err).To(HaveOccurred())
	c3, err := pool.Get("ns/a", func() Options { o := opts; o.PrivateKeyPEM = newKeyPEM; return o }())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c3).To(BeIdenticalTo(c), "invalid credentials leave the pooled client in place")
}

func TestPoolRemoveLenAndInvalidOptions(t *testing.T) {
	g := NewWithT(t)
	p := newFakePlatform(t, nil)
	pool := NewPool(PoolOptions{})
	_, err := pool.Get("ns/a", p.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = pool.Get("ns/b", p.options(t))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pool.Len()).To(Equal(2))

	bad := p.options(t)
	bad.AllowInsecureHTTP = false
	_, err = pool.Get("ns/c", bad)
	g.Expect(err).To(HaveOccurred())
	g.Expect(pool.Len()).To(Equal(2))

	pool.Remove("ns/a")
	pool.Remove("ns/missing")
	g.Expect(pool.Len()).To(Equal(1))
	pool.Close()
	g.Expect(pool.Len()).To(BeZero())
}

func TestConcurrentGetsOfOneKeyShareOneClient(t *testing.T) {
	g := NewWithT(t)
	p := newFakePlatform(t, nil)
	pool := NewPool(PoolOptions{})
	defer pool.Close()
	opts := p.options(t)
	const n = 64
	got := make([]*Client, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := pool.Get("ns/a", opts)
			if err == nil {
				got[i] = c
			}
		})
	}
	wg.Wait()
	for _, c := range got {
		g.Expect(c).NotTo(BeNil())
		g.Expect(c).To(BeIdenticalTo(got[0]))
	}
}
