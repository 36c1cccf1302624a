package main

import (
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// These tests cover the harness's own arithmetic and drawing; the benchmark itself runs
// with `make bench`, not in CI.

func TestMetricValueFindsSeriesByLabels(t *testing.T) {
	g := NewWithT(t)
	text := `# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.2345e+07
go_memstats_heap_inuse_bytes_total 99
obsyk_hub_ingest_agent_outbox_depth{agent="obsyk-system/member-0",cluster="member-0"} 12
obsyk_hub_ingest_agent_outbox_depth{agent="obsyk-system/member-1",cluster="member-1"} 3
`
	v, ok := metricValue(text, "go_memstats_heap_inuse_bytes", nil)
	g.Expect(ok).To(BeTrue())
	g.Expect(v).To(Equal(1.2345e7), "a longer metric name is not a match")
	v, ok = metricValue(text, "obsyk_hub_ingest_agent_outbox_depth", map[string]string{"agent": "obsyk-system/member-1"})
	g.Expect(ok).To(BeTrue())
	g.Expect(v).To(Equal(3.0))
	v, ok = metricValue(text, "obsyk_hub_ingest_agent_outbox_depth", nil)
	g.Expect(ok).To(BeTrue())
	g.Expect(v).To(Equal(15.0), "several matches are summed")
	_, ok = metricValue(text, "obsyk_hub_ingest_agent_outbox_depth", map[string]string{"agent": "nope"})
	g.Expect(ok).To(BeFalse())
}

func TestPercentileIsNearestRank(t *testing.T) {
	g := NewWithT(t)
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(100 - i) // 100 … 1, unsorted
	}
	s := sortedCopy(v)
	g.Expect(percentile(s, 50)).To(Equal(50.0))
	g.Expect(percentile(s, 99)).To(Equal(99.0))
	g.Expect(percentile(s, 100)).To(Equal(100.0))
	g.Expect(percentile([]float64{7}, 99.9)).To(Equal(7.0))
	g.Expect(math.IsNaN(percentile(nil, 50))).To(BeTrue())
}

func TestLagQuantileReadsTheBucketsBetweenTwoReadings(t *testing.T) {
	g := NewWithT(t)
	before := map[string]float64{}
	after := map[string]float64{}
	for _, le := range lagBounds {
		before[le] = 10 // earlier observations, all fast
		after[le] = 10
	}
	// 100 new observations: 60 within 10 ms, 30 more within 25 ms, 9 more within 50 ms,
	// one within 1 s.
	for i, le := range lagBounds {
		switch {
		case i == 0:
			after[le] += 60
		case i == 1:
			after[le] += 90
		case i == 2:
			after[le] += 99
		default:
			after[le] += 100
		}
	}
	g.Expect(lagQuantile(before, after, 0.5)).To(Equal("≤ 10.0 ms"))
	g.Expect(lagQuantile(before, after, 0.99)).To(Equal("≤ 50.0 ms"))
	g.Expect(lagQuantile(before, before, 0.5)).To(Equal("?"))
}

func TestNiceTicksAreRoundAndCoverTheRange(t *testing.T) {
	g := NewWithT(t)
	g.Expect(niceTicks(0, 100, 5)).To(Equal([]float64{0, 20, 40, 60, 80, 100}))
	g.Expect(niceTicks(0, 7, 6)).To(Equal([]float64{0, 2, 4, 6}))
}

func TestChartDrawsAxesLinesAndText(t *testing.T) {
	g := NewWithT(t)
	c := chart{title: "Latency (CDF)", xLabel: "ms", yLabel: "%", xMin: 0, xMax: math.NaN(), yMin: 0, yMax: 100,
		series: []series{{name: "50/s", xs: []float64{0, 5, 10}, ys: []float64{0, 50, 100}, color: palette[0]}}}
	img := c.render(400, 300)
	var black, blue int
	for y := range 300 {
		for x := range 400 {
			switch img.RGBAAt(x, y) {
			case colBlack:
				black++
			case palette[0]:
				blue++
			}
		}
	}
	g.Expect(black).To(BeNumerically(">", 500), "axes and text")
	g.Expect(blue).To(BeNumerically(">", 300), "the series and its legend")
	g.Expect(c.writePNG(filepath.Join(t.TempDir(), "c.png"), 400, 300)).To(Succeed())
}

func TestEveryCharacterOfTheLabelsHasAGlyph(t *testing.T) {
	g := NewWithT(t)
	for _, s := range []string{"Latency: create acknowledged -> event accepted (CDF), x cut at 25 ms", "% of changes",
		"50/s offered: p50 1.8 ms, p99 302 ms", "pods (thousands)", "target: idle RSS + 1 KiB/pod", "Go heap peak"} {
		for _, r := range s {
			if r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			_, ok := glyphs[r]
			g.Expect(ok).To(BeTrue(), "%q in %q", r, s)
		}
	}
}

func TestSectionsAndRowsAreReportedByMeasurementNumber(t *testing.T) {
	g := NewWithT(t)
	r := &report{}
	for _, title := range []string{"4. Memory", "1. Delivery rate", "3. Bursts"} {
		r.sections = append(r.sections, &section{title: title})
	}
	r.add(4, "memory", "", "x", nil)
	r.add(1, "delivery", "", "y", verdict(true))
	path := filepath.Join(t.TempDir(), "REPORT.md")
	g.Expect(r.write(path)).To(Succeed())
	g.Expect(r.sections[0].title).To(Equal("1. Delivery rate"))
	g.Expect(r.sections[2].title).To(Equal("4. Memory"))
	g.Expect(r.rows[0].num).To(Equal(1))
}

func TestTopEntriesReadsAHeapProfile(t *testing.T) {
	g := NewWithT(t)
	keep := make([][]byte, 0, 64)
	for range 64 {
		keep = append(keep, make([]byte, 1<<20)) // 64 MiB, well above the sampling rate
	}
	goruntime.GC()
	path := filepath.Join(t.TempDir(), "heap.pb.gz")
	f, err := os.Create(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pprof.Lookup("heap").WriteTo(f, 0)).To(Succeed())
	g.Expect(f.Close()).To(Succeed())
	goruntime.KeepAlive(keep)

	entries := topEntries(os.Args[0], path, 3, "-sample_index=inuse_space")
	g.Expect(entries).To(HaveLen(3))
	g.Expect(entries[0]).To(MatchRegexp("^`.+` [0-9.]+[kMG]?B \\([0-9.]+%\\)$"))
	g.Expect(entries[0]).To(ContainSubstring("TestTopEntriesReadsAHeapProfile"))
}

func TestLongestGapIgnoresOrder(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Unix(100, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	g.Expect(longestGap([]time.Time{at(30), at(0), at(250), at(10)})).To(Equal(220 * time.Millisecond))
	g.Expect(longestGap([]time.Time{at(5)})).To(BeZero())
}
