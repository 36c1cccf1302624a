package kind

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/obsyk/obsyk-hub/e2e/platform"
)

// adminRequestTimeout bounds each call to the simulator's admin API.
const adminRequestTimeout = 30 * time.Second

// errNotFound is the admin API's 404.
var errNotFound = errors.New("not found")

// Simulator is a client of the admin API of a platform simulator that runs elsewhere
// (platform.Server.AdminHandler; cmd/obsyk-platform-sim --admin-addr). It implements
// converge.Platform, so the convergence checker compares a member with a remote simulator's
// state as it does with an in-process one.
type Simulator struct {
	base   string
	client *http.Client
}

// NewSimulator returns a client of the admin API at adminURL, e.g. http://127.0.0.1:30081.
func NewSimulator(adminURL string) *Simulator {
	return &Simulator{base: strings.TrimSuffix(adminURL, "/"), client: &http.Client{Timeout: adminRequestTimeout}}
}

// Cluster returns the simulator's state for a cluster; an unknown cluster, or an admin API
// that cannot be reached, gives an empty state (the checker then reports every object
// missing and, in WaitConverged, tries again).
func (s *Simulator) Cluster(clusterUID string) platform.ClusterState {
	ctx, cancel := context.WithTimeout(context.Background(), adminRequestTimeout)
	defer cancel()
	st, err := s.GetCluster(ctx, clusterUID)
	if err != nil {
		return platform.ClusterState{ClusterUID: clusterUID}
	}
	return st
}

// GetCluster returns the simulator's state for a cluster, or an error wrapping errNotFound
// when the simulator has not heard of it.
func (s *Simulator) GetCluster(ctx context.Context, clusterUID string) (platform.ClusterState, error) {
	var st platform.ClusterState
	err := s.do(ctx, http.MethodGet, "/clusters/"+clusterUID, nil, &st)
	return st, err
}

// Stats returns the simulator's counters.
func (s *Simulator) Stats(ctx context.Context) (platform.Stats, error) {
	var st platform.Stats
	err := s.do(ctx, http.MethodGet, "/stats", nil, &st)
	return st, err
}

// Inject adds a fault and returns its id.
func (s *Simulator) Inject(ctx context.Context, f platform.FaultRequest) (int, error) {
	var out struct {
		ID int `json:"id"`
	}
	err := s.do(ctx, http.MethodPost, "/faults", f, &out)
	return out.ID, err
}

// ClearFaults removes every fault.
func (s *Simulator) ClearFaults(ctx context.Context) error {
	return s.do(ctx, http.MethodPost, "/faults/clear", struct{}{}, nil)
}

// ExpireTokens expires every access token the simulator issued.
func (s *Simulator) ExpireTokens(ctx context.Context) error {
	return s.do(ctx, http.MethodPost, "/faults/expire-tokens", struct{}{}, nil)
}

// RegisterClient registers a platform client by its public key (PEM), as the platform does
// when a user registers the key `obsyk-hub keygen` printed.
func (s *Simulator) RegisterClient(ctx context.Context, clientID string, publicKeyPEM []byte) error {
	body := map[string]string{"client_id": clientID, "public_key_pem": string(publicKeyPEM)}
	return s.do(ctx, http.MethodPost, "/clients", body, nil)
}

// CA returns the CA certificate (PEM) that clients of the simulator's platform URL must
// trust.
func (s *Simulator) CA(ctx context.Context) ([]byte, error) {
	var ca []byte
	err := s.do(ctx, http.MethodGet, "/ca", nil, &ca)
	return ca, err
}

// WaitReady waits until the admin API answers, for at most timeout.
func (s *Simulator) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var clusters []string
		err := s.do(ctx, http.MethodGet, "/clusters", nil, &clusters)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulator admin API %s not ready within %s: %w", s.base, timeout, err)
		case <-tick.C:
		}
	}
}

// do sends a request with in as its JSON body (none when nil) and decodes a 2xx answer into
// out: JSON, or the raw bytes when out is a *[]byte.
func (s *Simulator) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, adminRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w: %s", method, path, errNotFound, strings.TrimSpace(string(data)))
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	case out == nil:
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
