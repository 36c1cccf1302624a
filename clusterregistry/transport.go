package clusterregistry

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
)

const (
	// http2ReadIdleTimeout: a connection that received no frame for this long is pinged.
	http2ReadIdleTimeout = 10 * time.Second
	// http2PingTimeout: a ping unanswered for this long closes the connection, failing every
	// request and watch on it, so that hung watches restart on a new connection.
	http2PingTimeout = 5 * time.Second
	dialTimeout      = 10 * time.Second
	tlsHandshake     = 10 * time.Second
)

// memberTransport is the HTTP transport of one connection to a member. A new one is built for
// every connection attempt, so that connections of a disconnected member — including watches
// hung on a silent network — are never reused.
type memberTransport struct {
	transport *http.Transport
	client    *http.Client
	config    *rest.Config // carries transport; TLS options moved into it
}

// newMemberTransport builds an HTTP/1.1+HTTP/2 transport for cfg with HTTP/2 health checks
// (ping after http2ReadIdleTimeout without a frame, close after http2PingTimeout without an
// answer). client-go's own transport cache would use its defaults (30 s / 15 s) and share
// connections between configs; ours is private to the connection and closed with it.
func newMemberTransport(cfg *rest.Config) (*memberTransport, error) {
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("build tls config: %w", err)
	}
	proxy := http.ProxyFromEnvironment
	if cfg.Proxy != nil {
		proxy = cfg.Proxy
	}
	tr := &http.Transport{
		Proxy:               proxy,
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: tlsHandshake,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 25,
		IdleConnTimeout:     90 * time.Second,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: http2ReadIdleTimeout,
			PingTimeout:     http2PingTimeout,
		},
	}
	out := rest.CopyConfig(cfg)
	// The TLS settings now live in tr; client-go refuses a custom transport alongside them.
	out.TLSClientConfig = rest.TLSClientConfig{}
	out.Proxy = nil
	out.Transport = tr
	client, err := rest.HTTPClientFor(out)
	if err != nil {
		return nil, fmt.Errorf("build http client: %w", err)
	}
	return &memberTransport{transport: tr, client: client, config: out}, nil
}

// close drops the transport's idle connections. Connections still carrying a request close
// when that request ends; the HTTP/2 health check bounds a hung one.
func (t *memberTransport) close() { t.transport.CloseIdleConnections() }
