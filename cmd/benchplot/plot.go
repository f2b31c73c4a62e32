package main

import (
	"image/color"
	"io"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/switchboardhq/switchboard/hub/bench"
)

// The size of the PNG, in pixels at dpi.
const (
	widthPx  = 1200
	heightPx = 900
	dpi      = 96
)

var (
	dashed = []vg.Length{vg.Points(6), vg.Points(3)}
	gray   = color.Gray{Y: 90}
)

// render draws the series as a PNG of widthPx × heightPx to w: throughput,
// p99 latency and (when any series has it) hub RSS, stacked over one time
// axis.
func render(ss []series, title string, w io.Writer) error {
	ps, err := panels(ss, title)
	if err != nil {
		return err
	}
	rows := make([][]*plot.Plot, len(ps))
	for i, p := range ps {
		rows[i] = []*plot.Plot{p}
	}
	img := vgimg.NewWith(
		vgimg.UseWH(widthPx*vg.Inch/dpi, heightPx*vg.Inch/dpi),
		vgimg.UseDPI(dpi),
	)
	pad := 4 * vg.Millimeter
	tiles := draw.Tiles{
		Rows: len(ps), Cols: 1,
		PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad, PadY: pad,
	}
	// Align gives every panel the same data-area width, so their x axes
	// line up even when the y tick labels differ in width.
	canvases := plot.Align(rows, tiles, draw.New(img))
	for i, p := range ps {
		p.Draw(canvases[i][0])
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// panels builds the plots render stacks, top to bottom. The RSS panel is
// left out when no series has an RSS sample.
func panels(ss []series, title string) ([]*plot.Plot, error) {
	tput := plot.New()
	tput.Title.Text = title
	tput.Title.TextStyle.Font.Size = vg.Points(14)
	tput.Y.Label.Text = "per second"
	lat := plot.New()
	lat.Y.Label.Text = "p99 latency (ms)"
	rss := plot.New()
	rss.Y.Label.Text = "hub RSS (MB)"

	var tmax float64 // last second of the longest series
	var ymax float64 // highest throughput, to leave room for the legend
	haveRSS := false
	for i, s := range ss {
		c := plotutil.DarkColors[i%len(plotutil.DarkColors)]
		solid := draw.LineStyle{Color: c, Width: vg.Points(1.5)}
		delivered, accepted := make(plotter.XYs, len(s.seconds)), make(plotter.XYs, len(s.seconds))
		for j, sec := range s.seconds {
			t := float64(sec.T)
			delivered[j] = plotter.XY{X: t, Y: float64(sec.DeliveredPerSec)}
			accepted[j] = plotter.XY{X: t, Y: float64(sec.AcceptedPerSec)}
			tmax = max(tmax, t)
			ymax = max(ymax, delivered[j].Y, accepted[j].Y)
			haveRSS = haveRSS || sec.RSSMB != nil
		}
		dl := &plotter.Line{XYs: delivered, LineStyle: solid}
		al := &plotter.Line{XYs: accepted, LineStyle: solid}
		al.Dashes = dashed
		tput.Add(al, dl)
		tput.Legend.Add(s.label, dl)

		if err := addGaps(lat, s.seconds, func(s bench.Second) *float64 { return s.P99MS }, solid); err != nil {
			return nil, err
		}
		if err := addGaps(rss, s.seconds, func(s bench.Second) *float64 { return s.RSSMB }, solid); err != nil {
			return nil, err
		}
	}
	// Line styles, explained once in gray after the series' colors.
	key := draw.LineStyle{Color: gray, Width: vg.Points(1.5)}
	tput.Legend.Add("delivered/s", &plotter.Line{LineStyle: key})
	key.Dashes = dashed
	tput.Legend.Add("accepted/s", &plotter.Line{LineStyle: key})
	tput.Legend.Top = true
	// Headroom above the data so the legend (top right) does not hide it.
	tput.Y.Max = ymax * (1 + 0.1*float64(len(ss)+2))

	ps := []*plot.Plot{tput, lat}
	if haveRSS {
		ps = append(ps, rss)
	}
	for _, p := range ps {
		p.X.Min, p.X.Max = 0, tmax // one time axis for all panels
		p.Y.Min = 0
		if !(p.Y.Max > 0) { // no data, or all zero
			p.Y.Max = 1
		}
		p.X.Tick.Marker, p.Y.Tick.Marker = plainTicks{}, plainTicks{}
		p.Add(plotter.NewGrid())
	}
	ps[len(ps)-1].X.Label.Text = "seconds since first send"
	return ps, nil
}

// addGaps plots the non-null values of one field of a timeline as lines
// that break where the value is null; a value with null on both sides is
// drawn as a dot, since a one-point line would be invisible.
func addGaps(p *plot.Plot, seconds []bench.Second, field func(bench.Second) *float64, style draw.LineStyle) error {
	var run plotter.XYs
	flush := func() error {
		switch len(run) {
		case 0:
			return nil
		case 1:
			dot, err := plotter.NewScatter(run)
			if err != nil {
				return err
			}
			dot.GlyphStyle = draw.GlyphStyle{Color: style.Color, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
			p.Add(dot)
		default:
			p.Add(&plotter.Line{XYs: run, LineStyle: style})
		}
		run = nil
		return nil
	}
	for _, s := range seconds {
		v := field(s)
		if v == nil {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		run = append(run, plotter.XY{X: float64(s.T), Y: *v})
	}
	return flush()
}

// plainTicks are plot.DefaultTicks labelled "25" rather than "25.00".
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i, t := range ts {
		if t.Label != "" {
			ts[i].Label = strconv.FormatFloat(t.Value, 'g', 6, 64)
		}
	}
	return ts
}
