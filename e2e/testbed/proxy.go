package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// proxyDialTimeout bounds the proxy's connection to its target.
	proxyDialTimeout = 10 * time.Second
	proxyBufferSize  = 32 << 10
)

// proxyMode is what a Proxy does with traffic.
type proxyMode int

const (
	modeForward   proxyMode = iota // pass bytes both ways
	modeCut                        // reset every connection, accept-and-reset new ones
	modeBlackHole                  // keep connections open, pass nothing, not even a close
)

// Proxy is a TCP proxy on loopback in front of one target (typically Cluster.APIServerAddr),
// whose faults are switched at run time:
//
//   - Cut resets every open connection (TCP RST both ways) and resets each new one right
//     after accepting it, until Heal. Clients see "connection reset by peer".
//   - BlackHole keeps every connection open but forwards nothing in either direction, not
//     even a close, like a silent network partition (half-open connections): clients time
//     out. New connections are accepted and held, without a connection to the target.
//   - Heal forwards again. Bytes held during a black hole are delivered then, in order, as
//     TCP would after a partition heals; connections reset by Cut stay gone.
//
// TLS passes through untouched, so clients verify the target's certificate as usual.
// Create with NewProxy; traffic flows once Start runs; use it once.
type Proxy struct {
	target string
	ln     net.Listener

	// mu guards mode, changed, conns, started and closed.
	mu      sync.Mutex
	mode    proxyMode
	changed chan struct{} // closed and replaced on every mode change, to wake held pumps
	conns   map[*proxyConn]struct{}
	started bool
	closed  bool // Start has returned or is returning
}

// NewProxy listens on a free loopback port for target (host:port). It starts no goroutine:
// call Start.
func NewProxy(target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("proxy target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for proxy to %s: %w", target, err)
	}
	return &Proxy{
		target:  target,
		ln:      ln,
		changed: make(chan struct{}),
		conns:   map[*proxyConn]struct{}{},
	}, nil
}

// NewTestProxy creates a proxy to target, runs it until the test ends and fails the test if
// it cannot be created or stops with an error.
func NewTestProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatalf("create proxy: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy to %s: %v", target, err)
		}
	})
	return p
}

// Addr returns the proxy's listening address, host:port on 127.0.0.1.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Start accepts and forwards connections until ctx is done, then closes the listener and
// every connection, waits for its goroutines and returns nil. It returns an error if it was
// already started or accepting fails.
func (p *Proxy) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return errors.New("proxy already started")
	}
	p.started = true
	p.mu.Unlock()

	stopAccept := context.AfterFunc(ctx, func() { _ = p.ln.Close() })
	defer stopAccept()

	var wg sync.WaitGroup
	var acceptErr error
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				acceptErr = fmt.Errorf("accept on proxy to %s: %w", p.target, err)
			}
			break
		}
		wg.Go(func() { p.handle(ctx, conn) })
	}
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	conns := p.snapshotLocked()
	p.broadcastLocked()
	p.mu.Unlock()
	for _, pc := range conns {
		pc.close(true)
	}
	wg.Wait()
	return acceptErr
}

// Cut resets every open connection and every new one until Heal.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.mode = modeCut
	conns := p.snapshotLocked()
	p.broadcastLocked()
	p.mu.Unlock()
	for _, pc := range conns {
		pc.close(true)
	}
}

// BlackHole stops all forwarding, closes included, without closing anything, until Heal.
func (p *Proxy) BlackHole() { p.setMode(modeBlackHole) }

// Heal forwards traffic again; see Proxy for what happens to held bytes.
func (p *Proxy) Heal() { p.setMode(modeForward) }

func (p *Proxy) setMode(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	p.broadcastLocked()
	p.mu.Unlock()
}

func (p *Proxy) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) snapshotLocked() []*proxyConn {
	conns := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	return conns
}

// gate blocks while the proxy black-holes traffic. It returns true when bytes (or a close)
// may pass, false when the connection must be reset: the proxy cut it or is closing, or the
// connection was closed meanwhile.
func (p *Proxy) gate(pc *proxyConn) bool {
	for {
		p.mu.Lock()
		mode, closed, changed := p.mode, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed || mode == modeCut:
			return false
		case mode == modeForward:
			return true
		}
		select {
		case <-changed:
		case <-pc.done:
			return false
		}
	}
}

func (p *Proxy) handle(ctx context.Context, client net.Conn) {
	pc := &proxyConn{client: client, done: make(chan struct{})}
	p.mu.Lock()
	refuse := p.closed || p.mode == modeCut
	if !refuse {
		p.conns[pc] = struct{}{}
	}
	p.mu.Unlock()
	if refuse {
		pc.close(true)
		return
	}
	defer func() {
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()

	if !p.gate(pc) {
		pc.close(true)
		return
	}
	dialCtx, cancel := context.WithTimeout(ctx, proxyDialTimeout)
	server, err := (&net.Dialer{}).DialContext(dialCtx, "tcp", p.target)
	cancel()
	if err != nil {
		pc.close(true)
		return
	}
	if !pc.setServer(server) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pump(pc, client, server) })
	wg.Go(func() { p.pump(pc, server, client) })
	wg.Wait()
}

// pump copies src to dst, passing each chunk and the final close through gate.
func (p *Proxy) pump(pc *proxyConn, src, dst net.Conn) {
	buf := make([]byte, proxyBufferSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate(pc) {
				pc.close(true)
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				pc.close(true)
				return
			}
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) || !p.gate(pc) {
			pc.close(true)
			return
		}
		// A clean end of one direction: pass the half-close on, and close everything once
		// both directions have ended.
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		if pc.halfClosed.Add(1) == 2 {
			pc.close(false)
		}
		return
	}
}

// proxyConn is one proxied connection.
type proxyConn struct {
	client     net.Conn
	done       chan struct{} // closed by close
	halfClosed atomic.Int32  // directions that ended with EOF

	// mu guards server and isClosed.
	mu       sync.Mutex
	server   net.Conn // nil until dialled
	isClosed bool
}

// setServer records the connection to the target, or closes it and returns false if pc
// was closed meanwhile.
func (pc *proxyConn) setServer(server net.Conn) bool {
	pc.mu.Lock()
	closed := pc.isClosed
	if !closed {
		pc.server = server
	}
	pc.mu.Unlock()
	if closed {
		_ = server.Close()
	}
	return !closed
}

// close closes both sides once; reset makes the close a TCP RST rather than a FIN.
func (pc *proxyConn) close(reset bool) {
	pc.mu.Lock()
	if pc.isClosed {
		pc.mu.Unlock()
		return
	}
	pc.isClosed = true
	server := pc.server
	pc.mu.Unlock()
	close(pc.done)
	for _, c := range []net.Conn{pc.client, server} {
		if c == nil {
			continue
		}
		if tcp, ok := c.(*net.TCPConn); ok && reset {
			_ = tcp.SetLinger(0)
		}
		_ = c.Close()
	}
}
