package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// buildHub builds the hub binary as a release would (no -race, static, trimmed paths) into
// dir and returns its path.
func buildHub(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "obsyk-hub")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/obsyk-hub")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/obsyk-hub: %w\n%s", err, out)
	}
	return bin, nil
}

// sample is one reading of the hub's memory.
type sample struct {
	t    time.Time
	rss  uint64 // VmRSS from /proc/<pid>/status
	heap uint64 // go_memstats_heap_inuse_bytes from /metrics
}

// hubProc is one running `obsyk-hub run` process, sampled in the background.
type hubProc struct {
	name        string
	cmd         *exec.Cmd
	started     time.Time
	metricsAddr string
	pprofAddr   string
	logPath     string
	http        *http.Client

	exited  chan struct{}
	exitErr error // set before exited is closed

	interval  atomic.Int64 // RSS sampling interval, ns
	heapEvery atomic.Int64 // heap (/metrics) sampling interval, ns; 0: not sampled
	stopSamp  context.CancelFunc
	sampDone  chan struct{}

	mu      sync.Mutex // guards samples
	samples []sample
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startHub runs `obsyk-hub run` against the hub cluster with metrics and pprof on loopback,
// waits until /metrics answers and starts sampling RSS and heap.
func (e *env) startHub(ctx context.Context, name string) (*hubProc, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	h := &hubProc{
		name:        name,
		metricsAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		pprofAddr:   fmt.Sprintf("127.0.0.1:%d", ports[2]),
		logPath:     filepath.Join(e.out, "hub-"+name+".log"),
		// No gzip: compressing /metrics at every sample would cost the hub CPU.
		http:     &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}},
		exited:   make(chan struct{}),
		sampDone: make(chan struct{}),
	}
	h.interval.Store(int64(250 * time.Millisecond))
	h.heapEvery.Store(int64(time.Second))
	logf, err := os.Create(h.logPath)
	if err != nil {
		return nil, fmt.Errorf("create hub log: %w", err)
	}
	args := []string{"run",
		"--hub-kubeconfig", e.hubKubeconfig,
		"--platform-ca-file", e.caFile,
		"--metrics-addr", h.metricsAddr,
		"--probe-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--pprof-addr", h.pprofAddr,
		"--log-format", "json",
	}
	h.cmd = exec.Command(e.hubBin, args...)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	// gctrace: one stderr line per GC with the heap at its start and the live heap after
	// it, observed without asking the hub for anything.
	h.cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	h.started = time.Now()
	if err := h.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start hub: %w", err)
	}
	e.progress("hub %s: started %s (pid %d), log %s", name, strings.Join(append([]string{e.hubBin}, args...), " "), h.cmd.Process.Pid, h.logPath)
	go func() {
		h.exitErr = h.cmd.Wait()
		_ = logf.Close()
		close(h.exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := h.scrape(); err == nil {
			break
		}
		select {
		case <-h.exited:
			return nil, fmt.Errorf("hub exited at start (%v); last log lines:\n%s", h.exitErr, tail(h.logPath, 15))
		case <-ctx.Done():
			h.kill()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.kill()
			return nil, fmt.Errorf("hub /metrics did not answer within 60s; last log lines:\n%s", tail(h.logPath, 15))
		}
	}
	sctx, cancel := context.WithCancel(context.Background())
	h.stopSamp = cancel
	go h.sampleLoop(sctx)
	return h, nil
}

func (h *hubProc) pid() int { return h.cmd.Process.Pid }

// alive returns an error when the process has exited.
func (h *hubProc) alive() error {
	select {
	case <-h.exited:
		return fmt.Errorf("hub %s exited unexpectedly (%v); last log lines:\n%s", h.name, h.exitErr, tail(h.logPath, 15))
	default:
		return nil
	}
}

// setInterval changes how often RSS is sampled, and how often the heap is (0: not at
// all). A /metrics scrape is not free for the hub: it lists every informer cache's keys
// to count objects, so the heap is sampled less often than RSS.
func (h *hubProc) setInterval(rss, heap time.Duration) {
	h.interval.Store(int64(rss))
	h.heapEvery.Store(int64(heap))
}

func (h *hubProc) sampleLoop(ctx context.Context) {
	defer close(h.sampDone)
	var lastHeap time.Time
	for {
		s := sample{t: time.Now()}
		s.rss, _ = vmRSS(h.pid())
		if every := time.Duration(h.heapEvery.Load()); every > 0 && s.t.Sub(lastHeap) >= every {
			lastHeap = s.t
			if text, err := h.scrape(); err == nil {
				if v, ok := metricValue(text, "go_memstats_heap_inuse_bytes", nil); ok {
					s.heap = uint64(v)
				}
			}
		}
		if s.rss > 0 {
			h.mu.Lock()
			h.samples = append(h.samples, s)
			h.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(h.interval.Load())):
		}
	}
}

// window returns the samples taken in [from, to].
func (h *hubProc) window(from, to time.Time) []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sample
	for _, s := range h.samples {
		if !s.t.Before(from) && !s.t.After(to) {
			out = append(out, s)
		}
	}
	return out
}

// scrape returns the text of /metrics.
func (h *hubProc) scrape() (string, error) {
	resp, err := h.http.Get("http://" + h.metricsAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metric returns one series' value from /metrics.
func (h *hubProc) metric(name string, labels map[string]string) (float64, error) {
	text, err := h.scrape()
	if err != nil {
		return 0, err
	}
	v, ok := metricValue(text, name, labels)
	if !ok {
		return 0, fmt.Errorf("no series %s%v in /metrics", name, labels)
	}
	return v, nil
}

// profile fetches /debug/pprof/<what> into path.
func (h *hubProc) profile(ctx context.Context, what, path string) error {
	c := &http.Client{Timeout: 5 * time.Minute}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.pprofAddr+"/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("fetch profile %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch profile %s: status %d", what, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("fetch profile %s: %w", what, err)
	}
	return f.Close()
}

// stop sends SIGTERM and waits for a clean exit; after 45 s it kills the process and
// reports an error. It returns how long the shutdown took.
func (h *hubProc) stop() (time.Duration, error) {
	if h.stopSamp != nil {
		h.stopSamp()
		<-h.sampDone
	}
	start := time.Now()
	select {
	case <-h.exited:
		return 0, fmt.Errorf("hub %s had already exited (%v)", h.name, h.exitErr)
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
		took := time.Since(start)
		if h.exitErr != nil {
			return took, fmt.Errorf("hub %s exited with %v after SIGTERM; last log lines:\n%s", h.name, h.exitErr, tail(h.logPath, 15))
		}
		return took, nil
	case <-time.After(45 * time.Second):
		h.kill()
		return time.Since(start), fmt.Errorf("hub %s did not stop within 45s of SIGTERM; killed", h.name)
	}
}

func (h *hubProc) kill() {
	_ = h.cmd.Process.Kill()
	<-h.exited
}

// vmRSS reads VmRSS of a process, in bytes.
func vmRSS(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// metricValue finds the series name{labels...} in Prometheus text and returns its value. The
// series must carry every label given (others are allowed); with several matches the values
// are summed.
func metricValue(text, name string, labels map[string]string) (float64, bool) {
	var sum float64
	found := false
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbls map[string]string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			lbls = parseLabels(rest[1:end])
			rest = rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer metric name
		}
		ok := true
		for k, v := range labels {
			if lbls[k] != v {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// parseLabels parses `a="x",b="y"` (values without escaped quotes, which is all the hub's
// metrics use).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		eq := strings.Index(s, "=\"")
		if eq < 0 {
			break
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		end := strings.Index(s, "\"")
		if end < 0 {
			break
		}
		out[key] = s[:end]
		s = strings.TrimPrefix(s[end+1:], ",")
	}
	return out
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// peakOf returns the largest rss and heap of the samples (heap 0 means not sampled).
func peakOf(ss []sample) (rss, heap uint64) {
	for _, s := range ss {
		rss = max(rss, s.rss)
		heap = max(heap, s.heap)
	}
	return rss, heap
}

// medianOf returns the median rss and heap of the samples, each over the samples that
// have it.
func medianOf(ss []sample) (rss, heap uint64) {
	var r, hp []uint64
	for _, s := range ss {
		r = append(r, s.rss)
		if s.heap > 0 {
			hp = append(hp, s.heap)
		}
	}
	return median(r), median(hp)
}

func median(v []uint64) uint64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// gcEvent is one line of the hub's gctrace.
type gcEvent struct {
	t                time.Time // approximate: process start plus the trace's offset
	start, end, live uint64    // heap at the start and end of the GC, live heap after it
	forced           bool      // "(forced)": runtime.GC, e.g. a heap profile with gc=1
}

var gcLine = regexp.MustCompile(`^gc \d+ @([0-9.]+)s .*: .* (\d+)->(\d+)->(\d+) MB`)

// gcEvents parses the GODEBUG=gctrace=1 lines of the hub's log.
func (h *hubProc) gcEvents() []gcEvent {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return nil
	}
	var out []gcEvent
	for line := range strings.SplitSeq(string(b), "\n") {
		m := gcLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		off, _ := strconv.ParseFloat(m[1], 64)
		a, _ := strconv.ParseUint(m[2], 10, 64)
		z, _ := strconv.ParseUint(m[3], 10, 64)
		l, _ := strconv.ParseUint(m[4], 10, 64)
		out = append(out, gcEvent{t: h.started.Add(time.Duration(off * float64(time.Second))),
			start: a << 20, end: z << 20, live: l << 20, forced: strings.HasSuffix(strings.TrimSpace(line), "(forced)")})
	}
	return out
}

// gcIn returns the GCs that ran in [from, to].
func (h *hubProc) gcIn(from, to time.Time) []gcEvent {
	var out []gcEvent
	for _, g := range h.gcEvents() {
		if !g.t.Before(from) && !g.t.After(to) {
			out = append(out, g)
		}
	}
	return out
}

// cpuTicks returns a process's user+system CPU time in clock ticks (1/100 s on Linux).
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after its closing paren.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, errors.New("short /proc/<pid>/stat")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable /proc/<pid>/stat")
	}
	return u + st, nil
}

// machineTicks returns the machine's busy and total CPU ticks from /proc/stat.
func machineTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// cpuUse is a reading of who used the CPU, for a window between two readings.
type cpuUse struct {
	t                 time.Time
	busy, total       uint64
	hubTicks, ownTick uint64
}

func readCPU(h *hubProc) cpuUse {
	c := cpuUse{t: time.Now()}
	c.busy, c.total = machineTicks()
	if h != nil {
		c.hubTicks, _ = cpuTicks(h.pid())
	}
	c.ownTick, _ = cpuTicks(os.Getpid())
	return c
}

// describe says how the CPU was used between a and b: the machine's busy share of all
// cores, and the hub's and the benchmark process's use in cores.
func (a cpuUse) describe(b cpuUse) string {
	secs := b.t.Sub(a.t).Seconds()
	if secs <= 0 || b.total <= a.total {
		return "?"
	}
	machine := 100 * float64(b.busy-a.busy) / float64(b.total-a.total)
	hub := float64(b.hubTicks-a.hubTicks) / 100 / secs
	own := float64(b.ownTick-a.ownTick) / 100 / secs
	return fmt.Sprintf("machine %.0f%% busy (all cores); hub %.2f cores; benchmark process (simulator and driver) %.2f cores", machine, hub, own)
}
