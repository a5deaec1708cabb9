package templates

import (
	"fmt"
	"strings"
	"time"
)

// A chart is drawn on the server as SVG: bars or a polyline in a fixed
// viewBox the CSS scales to the panel's width.
const chartW, chartH, chartTop = 560.0, 150.0, 10.0

// chartPoint is one day's value of a chart.
type chartPoint struct {
	Day   time.Time
	Value float64
	Title string // the tooltip: the value in words
}

// barsOf lays out one bar per point, scaled to the largest value.
func barsOf(pts []chartPoint) []bar {
	top := 0.0
	for _, p := range pts {
		top = max(top, p.Value)
	}
	bw := chartW / float64(max(len(pts), 1))
	out := make([]bar, len(pts))
	for i, p := range pts {
		bh := 0.0
		if top > 0 {
			bh = chartH * p.Value / top
		}
		if p.Value > 0 && bh < 2 {
			bh = 2
		}
		out[i] = bar{X: float64(i)*bw + 1, Y: chartTop + chartH - bh, W: max(bw-2, 1), H: bh,
			Label: p.Day.Format("02 Jan"), Title: p.Title}
	}
	return out
}

// showTick thins the day labels under a chart to about eight.
func showTick(i, n int) bool {
	step := max(1, (n+7)/8)
	return (n-1-i)%step == 0
}

// lineOf is the SVG points of a line through the values, with extra
// values (a forecast) continuing it to the right; top is the scale.
func lineOf(values []float64, slots int, top float64) string {
	if top <= 0 {
		top = 1
	}
	step := chartW / float64(max(slots-1, 1))
	var b strings.Builder
	for i, v := range values {
		fmt.Fprintf(&b, "%.1f,%.1f ", float64(i)*step, chartTop+chartH-chartH*v/top)
	}
	return strings.TrimSpace(b.String())
}

func pctOf(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

// rateClass colours a success rate or compliance: neutral when unknown.
func rateClass(v *float64) string {
	switch {
	case v == nil:
		return ""
	case *v >= 0.99:
		return "ok"
	case *v >= 0.9:
		return "warn"
	}
	return "bad"
}
