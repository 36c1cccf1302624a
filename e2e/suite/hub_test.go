package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

const (
	// buildTimeout bounds `go build` of the hub (a cold build on 2 loaded cores is slow).
	buildTimeout = 10 * time.Minute
	// hubReadyTimeout bounds a hub start until /readyz answers.
	hubReadyTimeout = 2 * time.Minute
	// cliTimeout bounds one `obsyk-hub cluster ...` command.
	cliTimeout = 3 * time.Minute
	// drainTimeout is the hub's --shutdown-drain-timeout.
	drainTimeout = 5 * time.Second
)

// buildHub builds the hub binary without the race detector, with version "e2e". It uses
// the default build flags rather than `make build`'s (-trimpath, CGO_ENABLED=0) so that it
// reuses what `go vet ./...` (make lint) and other plain builds compiled: a build with other
// flags recompiles every dependency, which takes minutes on 2 cores.
func buildHub(ctx context.Context, out string) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=e2e", "-o", out, "./cmd/obsyk-hub")
	cmd.Dir = repoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/obsyk-hub: %w\n%s", err, b)
	}
	return nil
}

// hubProcess is one run of `obsyk-hub run`.
type hubProcess struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed when the process has exited
	err     error         // cmd.Wait's answer, set before done is closed
}

func (h *hubProcess) pid() int { return h.cmd.Process.Pid }

// exited reports whether the process has ended, and how.
func (h *hubProcess) exited() (bool, error) {
	select {
	case <-h.done:
		return true, h.err
	default:
		return false, nil
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (h *hubProcess) kill() {
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
}

// stop sends SIGTERM and waits up to grace for a clean exit (code 0), then kills.
func (h *hubProcess) stop(grace time.Duration) error {
	if done, err := h.exited(); done {
		return fmt.Errorf("the hub had already exited: %v", err)
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
		return h.err
	case <-time.After(grace):
		h.kill()
		return fmt.Errorf("no exit within %s of SIGTERM; killed", grace)
	}
}

// hubArgs are the flags of every hub start.
func (st *suite) hubArgs() []string {
	return []string{
		"run",
		"--hub-kubeconfig", st.hubKC,
		"--platform-ca-file", st.simCA,
		"--collect-secrets",
		"--log-level", "7",
		"--log-format", "text",
		"--metrics-addr", st.metrics,
		"--probe-addr", st.probes,
		"--shutdown-drain-timeout", drainTimeout.String(),
	}
}

// startHub starts the hub binary, appending its output to the hub log, and returns once its
// /readyz answers 200.
func (st *suite) startHub(ctx context.Context) (*hubProcess, error) {
	logFile, err := os.OpenFile(st.hubLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open hub log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(st.hubBin, st.hubArgs()...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = hubEnv()
	// The hub dies with the test binary, even when that is killed without cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hub: %w", err)
	}
	h := &hubProcess{cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go func() {
		h.err = cmd.Wait()
		close(h.done)
	}()
	if err := st.waitHubReady(ctx, h); err != nil {
		h.kill()
		return nil, err
	}
	return h, nil
}

// hubEnv is the test's environment without any OBSYK_HUB_* variable (they would change the
// hub's configuration behind the flags' back) or KUBECONFIG.
func hubEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OBSYK_HUB_") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (st *suite) waitHubReady(ctx context.Context, h *hubProcess) error {
	ctx, cancel := context.WithTimeout(ctx, hubReadyTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if done, err := h.exited(); done {
			return fmt.Errorf("the hub exited during its start (%v); last lines of its log:\n%s", err, st.hubLogTail(30))
		}
		code, _, err := httpGet(ctx, "http://"+st.probes+"/readyz")
		if err == nil && code == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("readyz: status %d, %v", code, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("the hub was not ready within %s: %v; last lines of its log:\n%s", hubReadyTimeout, last, st.hubLogTail(30))
		case <-tick.C:
		}
	}
}

// hubLogTail returns the last n lines of the hub log.
func (st *suite) hubLogTail(n int) string {
	b, err := os.ReadFile(st.hubLog)
	if err != nil {
		return fmt.Sprintf("(read hub log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// cli runs `obsyk-hub <args>` and returns its combined output.
func (st *suite) cli(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, st.hubBin, args...)
	cmd.Env = hubEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("obsyk-hub %s: %w\n%s", strings.Join(args[:min(2, len(args))], " "), err, out)
	}
	return string(out), nil
}

func httpGet(ctx context.Context, url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	return res.StatusCode, body, err
}

// sample is one series of a Prometheus text exposition.
type sample struct {
	labels map[string]string
	value  float64
}

// scrape reads the hub's /metrics and returns the samples of one metric family name.
func (st *suite) scrape(ctx context.Context, name string) ([]sample, error) {
	code, body, err := httpGet(ctx, "http://"+st.metrics+"/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("scrape /metrics: status %d", code)
	}
	var out []sample
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if !strings.HasPrefix(rest, "{") && !strings.HasPrefix(rest, " ") {
			continue // a longer name with this prefix
		}
		smp, err := parseSample(rest)
		if err != nil {
			return nil, fmt.Errorf("parse %q: %w", line, err)
		}
		out = append(out, smp)
	}
	return out, sc.Err()
}

// parseSample parses `{k="v",...} value` or ` value` (timestamps are not used by the hub).
func parseSample(s string) (sample, error) {
	smp := sample{labels: map[string]string{}}
	if strings.HasPrefix(s, "{") {
		i := 1
		for i < len(s) && s[i] != '}' {
			eq := strings.IndexByte(s[i:], '=')
			if eq < 0 || i+eq+1 >= len(s) || s[i+eq+1] != '"' {
				return smp, errors.New("bad label")
			}
			key := strings.TrimPrefix(s[i:i+eq], ",")
			j := i + eq + 2
			var val strings.Builder
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				val.WriteByte(s[j])
			}
			smp.labels[key] = val.String()
			i = j + 1
			if i < len(s) && s[i] == ',' {
				i++
			}
		}
		if i >= len(s) {
			return smp, errors.New("unterminated labels")
		}
		s = s[i+1:]
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return smp, errors.New("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	smp.value = v
	return smp, err
}

// metricValue sums the samples of name whose labels include want; found is false when none
// matched.
func (st *suite) metricValue(ctx context.Context, name string, want map[string]string) (value float64, found bool, err error) {
	samples, err := st.scrape(ctx, name)
	if err != nil {
		return 0, false, err
	}
	for _, smp := range samples {
		match := true
		for k, v := range want {
			if smp.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			value += smp.value
			found = true
		}
	}
	return value, found, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// clientKeyData returns the base64 client-key-data of a kubeconfig's current user, as it
// appears in the file, or "" when it has none.
func clientKeyData(kubeconfig []byte) string {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return ""
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if kctx == nil || cfg.AuthInfos[kctx.AuthInfo] == nil {
		return ""
	}
	return excerpt(base64.StdEncoding.EncodeToString(cfg.AuthInfos[kctx.AuthInfo].ClientKeyData))
}

// excerpt returns 48 characters from the middle of s (all of s when shorter): specific to
// this secret, unlike the start of a base64 PEM block, which every key shares.
func excerpt(s string) string {
	if len(s) <= 48 {
		return s
	}
	mid := len(s) / 2
	return s[mid-24 : mid+24]
}
