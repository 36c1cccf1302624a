package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"
	"strings"
)

// A minimal line chart in PNG, drawn with the standard library and a 5x7 bitmap font, so
// the benchmark needs no plotting dependency.

// series is one line of a chart.
type series struct {
	name   string
	xs, ys []float64
	color  color.RGBA
	points bool // mark each point
}

// chart is a line chart with linear axes.
type chart struct {
	title, xLabel, yLabel string
	series                []series
	// xMin..yMax bound the axes; NaN means "from the data" (y starts at 0 unless data is
	// negative).
	xMin, xMax, yMin, yMax float64
}

var (
	colBlack = color.RGBA{0, 0, 0, 255}
	colGrid  = color.RGBA{225, 225, 225, 255}
	palette  = []color.RGBA{
		{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}, {148, 103, 189, 255},
	}
)

const fontScale = 2

// glyphs is a 5x7 font: 7 rows of 5 bits each, most significant bit leftmost.
var glyphs = map[rune][7]uint8{
	'0': {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, '1': {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
	'2': {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, '3': {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
	'4': {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, '5': {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
	'6': {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, '7': {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	'8': {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, '9': {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
	'A': {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}, 'B': {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},
	'C': {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, 'D': {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},
	'E': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, 'F': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
	'G': {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, 'H': {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
	'I': {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, 'J': {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},
	'K': {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, 'L': {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
	'M': {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, 'N': {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
	'O': {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, 'P': {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
	'Q': {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, 'R': {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},
	'S': {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, 'T': {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
	'U': {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, 'V': {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},
	'W': {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, 'X': {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},
	'Y': {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, 'Z': {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},
	' ': {}, '.': {0, 0, 0, 0, 0, 0x0C, 0x0C}, ',': {0, 0, 0, 0, 0x0C, 0x04, 0x08},
	'-': {0, 0, 0, 0x1F, 0, 0, 0}, '+': {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0},
	'/': {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}, '%': {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},
	':': {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}, '(': {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},
	')': {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, '=': {0, 0, 0x1F, 0, 0x1F, 0, 0},
	'_': {0, 0, 0, 0, 0, 0, 0x1F}, '<': {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02},
	'>': {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, '*': {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0},
	'\'': {0x0C, 0x04, 0x08, 0, 0, 0, 0},
}

// textWidth is the width of s in pixels.
func textWidth(s string) int { return len([]rune(s)) * 6 * fontScale }

// drawText writes s with its top-left corner at (x, y); lower case is drawn as upper case
// and unknown characters as '*'.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if !ok {
			g = glyphs['*']
		}
		for row := range 7 {
			for col := range 5 {
				if g[row]&(0x10>>col) == 0 {
					continue
				}
				for dy := range fontScale {
					for dx := range fontScale {
						img.SetRGBA(x+col*fontScale+dx, y+row*fontScale+dy, c)
					}
				}
			}
		}
		x += 6 * fontScale
	}
}

// drawLine draws a line of the given thickness (Bresenham, thickened by a square pen).
func drawLine(img *image.RGBA, x0, y0, x1, y1, thick int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		for ox := -thick / 2; ox <= (thick-1)/2; ox++ {
			for oy := -thick / 2; oy <= (thick-1)/2; oy++ {
				if image.Pt(x0+ox, y0+oy).In(img.Rect) {
					img.SetRGBA(x0+ox, y0+oy, c)
				}
			}
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

func tickLabel(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e7 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// render draws the chart into a w x h image.
func (c chart) render(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{255, 255, 255, 255}}, image.Point{}, draw.Src)
	left, right, top, bottom := 100, 30, 70, 70
	pw, ph := w-left-right, h-top-bottom

	xMin, xMax, yMin, yMax := c.xMin, c.xMax, c.yMin, c.yMax
	dxMin, dxMax, dyMin, dyMax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for i := range s.xs {
			dxMin, dxMax = math.Min(dxMin, s.xs[i]), math.Max(dxMax, s.xs[i])
			dyMin, dyMax = math.Min(dyMin, s.ys[i]), math.Max(dyMax, s.ys[i])
		}
	}
	if math.IsNaN(xMin) {
		xMin = math.Min(0, dxMin)
	}
	if math.IsNaN(xMax) {
		xMax = dxMax
	}
	if math.IsNaN(yMin) {
		yMin = math.Min(0, dyMin)
	}
	if math.IsNaN(yMax) {
		yMax = dyMax * 1.08
	}
	if xMax <= xMin {
		xMax = xMin + 1
	}
	if yMax <= yMin {
		yMax = yMin + 1
	}
	px := func(x float64) int { return left + int(math.Round((x-xMin)/(xMax-xMin)*float64(pw))) }
	py := func(y float64) int { return top + ph - int(math.Round((y-yMin)/(yMax-yMin)*float64(ph))) }

	for _, t := range niceTicks(yMin, yMax, 6) {
		if t < yMin || t > yMax {
			continue
		}
		y := py(t)
		drawLine(img, left, y, left+pw, y, 1, colGrid)
		drawLine(img, left-6, y, left, y, 1, colBlack)
		l := tickLabel(t)
		drawText(img, left-10-textWidth(l), y-7, l, colBlack)
	}
	for _, t := range niceTicks(xMin, xMax, 8) {
		if t < xMin || t > xMax {
			continue
		}
		x := px(t)
		drawLine(img, x, top, x, top+ph, 1, colGrid)
		drawLine(img, x, top+ph, x, top+ph+6, 1, colBlack)
		l := tickLabel(t)
		drawText(img, x-textWidth(l)/2, top+ph+12, l, colBlack)
	}
	drawLine(img, left, top, left, top+ph, 2, colBlack)
	drawLine(img, left, top+ph, left+pw, top+ph, 2, colBlack)

	for _, s := range c.series {
		for i := range s.xs {
			x, y := px(s.xs[i]), py(s.ys[i])
			if i > 0 {
				drawLine(img, px(s.xs[i-1]), py(s.ys[i-1]), x, y, 2, s.color)
			}
			if s.points {
				for ox := -3; ox <= 3; ox++ {
					for oy := -3; oy <= 3; oy++ {
						if image.Pt(x+ox, y+oy).In(img.Rect) {
							img.SetRGBA(x+ox, y+oy, s.color)
						}
					}
				}
			}
		}
	}

	drawText(img, (w-textWidth(c.title))/2, 14, c.title, colBlack)
	drawText(img, 10, top-30, c.yLabel, colBlack)
	drawText(img, left+(pw-textWidth(c.xLabel))/2, h-28, c.xLabel, colBlack)
	// Legend, top left inside the plot.
	ly := top + 10
	for _, s := range c.series {
		draw.Draw(img, image.Rect(left+14, ly+2, left+34, ly+12), &image.Uniform{s.color}, image.Point{}, draw.Src)
		drawText(img, left+42, ly, s.name, colBlack)
		ly += 22
	}
	return img
}

// writePNG renders the chart to path.
func (c chart) writePNG(path string, w, h int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, c.render(w, h)); err != nil {
		_ = f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}
