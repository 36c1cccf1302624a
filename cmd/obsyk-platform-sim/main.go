// Command obsyk-platform-sim runs the Obsyk platform simulator (package e2e/platform) as a
// standalone process, for local runs of the hub and for kind-based e2e tests. It serves the
// platform contract on --addr and a JSON admin API (state, stats, requests, fault injection,
// client registration) on a separate --admin-addr; see platform.Server.AdminHandler.
//
//	obsyk-platform-sim --ca-out /tmp/sim-ca.pem --client cl_1=/tmp/cl_1.pub.pem
//	curl -s $ADMIN/clusters
//	curl -s -XPOST $ADMIN/faults -d '{"mode":"status","status":503,"for":"30s"}'
package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/obsyk/obsyk-hub/e2e/platform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "obsyk-platform-sim:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	addr          string
	adminAddr     string
	plainHTTP     bool
	tokenLifetime time.Duration
	audience      string
	caOut         string
	clients       []string
	tlsHosts      []string
	logLevel      string
}

func (c *config) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address of the platform API")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:0", "listen address of the admin API (unauthenticated: keep it local)")
	fs.BoolVar(&c.plainHTTP, "plain-http", false, "serve http:// instead of https:// with a generated CA")
	fs.DurationVar(&c.tokenLifetime, "token-lifetime", time.Hour, "lifetime of issued access tokens (expires_in)")
	fs.StringVar(&c.audience, "audience", "", "the exact JWT aud to require (default: the platform URL printed at start)")
	fs.StringVar(&c.caOut, "ca-out", "", "write the generated CA certificate (PEM) to this file")
	fs.StringArrayVar(&c.clients, "client", nil, "register a client: ID=PATH to a P-256 public (or private) key PEM; repeatable")
	fs.StringSliceVar(&c.tlsHosts, "tls-host", nil, "extra DNS names or IPs for the server certificate (e.g. host.docker.internal)")
	fs.StringVar(&c.logLevel, "log-level", "info", "error, info or debug (debug logs every request)")
}

// run is the whole command: flags, construct, serve until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := pflag.NewFlagSet("obsyk-platform-sim", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(cfg.logLevel, stderr)
	if err != nil {
		return err
	}
	if cfg.plainHTTP && cfg.caOut != "" {
		return errors.New("--ca-out needs HTTPS (drop --plain-http)")
	}

	// Everything that can fail is checked before anything is bound.
	keys := map[string]*ecdsa.PublicKey{}
	for _, c := range cfg.clients {
		id, path, ok := strings.Cut(c, "=")
		if !ok || id == "" || path == "" {
			return fmt.Errorf("--client %q: want ID=PATH", c)
		}
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--client %s: %w", id, err)
		}
		if keys[id], err = platform.ParsePublicKeyPEM(pemBytes); err != nil {
			return fmt.Errorf("--client %s: %w", id, err)
		}
	}

	adminLn, err := net.Listen("tcp", cfg.adminAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.adminAddr, err)
	}
	sim, err := platform.New(platform.Options{
		Addr:          cfg.addr,
		PlainHTTP:     cfg.plainHTTP,
		TokenLifetime: cfg.tokenLifetime,
		Audience:      cfg.audience,
		ExtraHosts:    cfg.tlsHosts,
		Logger:        logger,
	})
	if err != nil {
		_ = adminLn.Close()
		return err
	}
	for id, pub := range keys {
		sim.RegisterClient(id, pub)
	}
	if cfg.caOut != "" {
		if err := os.WriteFile(cfg.caOut, sim.CACertPEM(), 0o644); err != nil {
			_ = adminLn.Close()
			return fmt.Errorf("write CA certificate: %w", err)
		}
	}
	admin := &http.Server{Handler: sim.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}

	fmt.Fprintf(stdout, "platform-url=%s\nadmin-url=http://%s\n", sim.URL(), adminLn.Addr())
	if cfg.caOut != "" {
		fmt.Fprintf(stdout, "ca-file=%s\n", cfg.caOut)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sim.Start(gctx) })
	g.Go(func() error {
		if err := admin.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve admin API: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := admin.Shutdown(shutdownCtx); err != nil {
			_ = admin.Close()
		}
		return nil
	})
	return g.Wait()
}

// newLogger logs to w with funcr at the given level.
func newLogger(level string, w io.Writer) (logr.Logger, error) {
	var verbosity int
	switch level {
	case "error":
		verbosity = -1
	case "info":
		verbosity = 0
	case "debug":
		verbosity = 1
	default:
		n, err := strconv.Atoi(level)
		if err != nil {
			return logr.Logger{}, fmt.Errorf("--log-level %q: want error, info, debug or a number", level)
		}
		verbosity = n
	}
	sw := &syncWriter{w: w}
	return funcr.New(func(prefix, args string) {
		if prefix != "" {
			args = prefix + " " + args
		}
		sw.writeLine(args)
	}, funcr.Options{Verbosity: verbosity}), nil
}

// syncWriter serialises log lines from concurrent handlers.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) writeLine(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = io.WriteString(s.w, line+"\n")
}
