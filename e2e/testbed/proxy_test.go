package testbed_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/obsyk/obsyk-hub/e2e/testbed"
)

// echoServer accepts connections and echoes what it reads; it counts accepted connections.
type echoServer struct {
	ln       net.Listener
	mu       sync.Mutex // guards accepted
	accepted int
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &echoServer{ln: ln}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.accepted++
			s.mu.Unlock()
			wg.Go(func() {
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return s
}

func (s *echoServer) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// roundTrip writes a line and reads it back with a deadline.
func roundTrip(conn net.Conn, r *bufio.Reader, line string, timeout time.Duration) (string, error) {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := conn.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, bufio.NewReader(conn)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxy(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, g *WithT, p *testbed.Proxy, echo *echoServer)
	}{
		{
			name: "bytes pass both ways while the proxy is healthy",
			run: func(t *testing.T, g *WithT, p *testbed.Proxy, _ *echoServer) {
				conn, r := dial(t, p.Addr())
				g.Expect(roundTrip(conn, r, "hello", 5*time.Second)).To(Equal("hello"))
			},
		},
		{
			name: "a cut resets open connections and new ones until healed",
			run: func(t *testing.T, g *WithT, p *testbed.Proxy, _ *echoServer) {
				conn, r := dial(t, p.Addr())
				g.Expect(roundTrip(conn, r, "before", 5*time.Second)).To(Equal("before"))

				p.Cut()
				_, err := roundTrip(conn, r, "during", 5*time.Second)
				g.Expect(err).To(HaveOccurred())
				g.Expect(isTimeout(err)).To(BeFalse(), "a cut must fail fast, not time out: %v", err)

				// A new connection is reset, during the handshake or just after it.
				fresh, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
				if err == nil {
					defer fresh.Close()
					_, err = roundTrip(fresh, bufio.NewReader(fresh), "new", 5*time.Second)
				}
				g.Expect(err).To(HaveOccurred())
				g.Expect(isTimeout(err)).To(BeFalse(), "a new connection must be reset: %v", err)

				p.Heal()
				healed, healedR := dial(t, p.Addr())
				g.Expect(roundTrip(healed, healedR, "after", 5*time.Second)).To(Equal("after"))
			},
		},
		{
			name: "a black hole holds bytes of an open connection until healed, then delivers them",
			run: func(t *testing.T, g *WithT, p *testbed.Proxy, _ *echoServer) {
				conn, r := dial(t, p.Addr())
				g.Expect(roundTrip(conn, r, "before", 5*time.Second)).To(Equal("before"))

				p.BlackHole()
				_, err := roundTrip(conn, r, "held", 300*time.Millisecond)
				g.Expect(isTimeout(err)).To(BeTrue(), "expected a timeout, got %v", err)

				p.Heal()
				g.Expect(conn.SetDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
				got, err := r.ReadString('\n')
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal("held\n"))
				g.Expect(roundTrip(conn, r, "after", 5*time.Second)).To(Equal("after"))
			},
		},
		{
			name: "a black hole holds a new connection without reaching the target",
			run: func(t *testing.T, g *WithT, p *testbed.Proxy, echo *echoServer) {
				before := echo.Accepted()
				p.BlackHole()
				conn, r := dial(t, p.Addr())
				_, err := roundTrip(conn, r, "held", 300*time.Millisecond)
				g.Expect(isTimeout(err)).To(BeTrue(), "expected a timeout, got %v", err)
				g.Expect(echo.Accepted()).To(Equal(before))

				p.Heal()
				g.Expect(conn.SetDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
				got, err := r.ReadString('\n')
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal("held\n"))
				g.Expect(echo.Accepted()).To(Equal(before + 1))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			echo := newEchoServer(t)
			p := testbed.NewTestProxy(t, echo.ln.Addr().String())
			tc.run(t, g, p, echo)
		})
	}
}

func TestProxyRefusesASecondStart(t *testing.T) {
	g := NewWithT(t)
	echo := newEchoServer(t)
	p := testbed.NewTestProxy(t, echo.ln.Addr().String())
	conn, r := dial(t, p.Addr())
	// A round trip proves that NewTestProxy's Start is running.
	g.Expect(roundTrip(conn, r, "ping", 5*time.Second)).To(Equal("ping"))
	g.Expect(p.Start(t.Context())).To(MatchError(ContainSubstring("already started")))
}
