//! The charts: pure functions from data to inline SVG text.
//!
//! Ours rather than a crate's: the charts are a handful of rectangles, paths and text, and a
//! plotting crate (plotters and the like) brings fonts, rasterizers and dozens of dependencies
//! into a PostgreSQL extension to draw what is about 400 lines here; its SVG output would still
//! have to be checked for escaping and external references. Every label goes through
//! [`esc`]; nothing here names a URL, a font file or a script (the SVG needs no `xmlns` inline
//! in HTML).
//!
//! Every drawn mark that stands for a number has `class="mark"` and `data-*` attributes holding
//! the SQL's text of that number, so a test (or a reader's tool) can check the chart against the
//! SQL without reading pixels.

use super::fmt::{esc, fit, text_width};

/// Categorical colours (tiers, segments): a colour-blind-friendly ten.
pub const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
/// The two bars of a share chart: customers, revenue.
pub const SHARE_COLOURS: [&str; 2] = ["#4e79a7", "#f28e2b"];
/// P(alive) bands, from likely gone to likely active.
pub const BAND_COLOURS: [&str; 5] = ["#c0392b", "#e67e22", "#f1c40f", "#7fb77e", "#2e8b57"];
/// A suppressed group.
pub const HIDDEN: &str = "#c8c8c8";
pub const INK: &str = "#333333";
pub const MUTED: &str = "#777777";

/// The colour ramp of a heat map, from its lowest to its highest value.
#[derive(Clone, Copy)]
pub struct Ramp(pub [u8; 3], pub [u8; 3]);
pub const BLUES: Ramp = Ramp([0xea, 0xf1, 0xf8], [0x1f, 0x4e, 0x79]);
pub const GREENS: Ramp = Ramp([0xed, 0xf7, 0xee], [0x1b, 0x6b, 0x3a]);

impl Ramp {
    /// The colour at `t` in [0, 1].
    pub fn at(self, t: f64) -> String {
        let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
        let c = |i: usize| (self.0[i] as f64 + (self.1[i] as f64 - self.0[i] as f64) * t).round() as u8;
        format!("#{:02x}{:02x}{:02x}", c(0), c(1), c(2))
    }
}

/// `data-*` attributes of a mark: (name after `data-`, the SQL's text).
pub type Data = Vec<(&'static str, String)>;

fn n(x: f64) -> String {
    let x = if x.is_finite() { x } else { 0.0 };
    let s = format!("{:.1}", x);
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// An SVG document being written.
pub struct Svg {
    out: String,
}

impl Svg {
    pub fn new(width: f64, height: f64, label: &str) -> Svg {
        let mut out = String::with_capacity(4096);
        out.push_str(&format!(
            "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
            esc(label),
            w = n(width),
            h = n(height)
        ));
        Svg { out }
    }

    fn attrs(&mut self, data: &Data, title: Option<&str>, close: &str) {
        if !data.is_empty() || title.is_some() {
            if !data.is_empty() {
                self.out.push_str(" class=\"mark\"");
            }
            for (k, v) in data {
                self.out.push_str(&format!(" data-{k}=\"{}\"", esc(v)));
            }
        }
        match title {
            Some(t) => self.out.push_str(&format!("><title>{}</title></{close}>", esc(t))),
            None => self.out.push_str("/>"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, data: &Data, title: Option<&str>) {
        self.out.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"",
            n(x),
            n(y),
            n(w.max(0.0)),
            n(h.max(0.0)),
            esc(fill)
        ));
        self.attrs(data, title, "rect");
    }

    /// Text at (x, y); `anchor` start, middle or end; `weight` 400 or 700.
    #[allow(clippy::too_many_arguments)]
    pub fn text(&mut self, x: f64, y: f64, s: &str, size: f64, anchor: &str, fill: &str, weight: u16) {
        self.out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{anchor}\" fill=\"{}\"{}>{}</text>",
            n(x),
            n(y),
            n(size),
            esc(fill),
            if weight >= 700 { " font-weight=\"700\"" } else { "" },
            esc(s)
        ));
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64, dash: bool) {
        self.out.push_str(&format!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>",
            n(x1),
            n(y1),
            n(x2),
            n(y2),
            esc(stroke),
            n(width),
            if dash { " stroke-dasharray=\"4 3\"" } else { "" }
        ));
    }

    /// A path: `d` is built here from numbers only; `fill` and `stroke` are colours or "none".
    #[allow(clippy::too_many_arguments)]
    pub fn path(&mut self, d: &str, fill: &str, opacity: f64, stroke: &str, width: f64, data: &Data, title: Option<&str>) {
        self.out.push_str(&format!(
            "<path d=\"{}\" fill=\"{}\" fill-opacity=\"{}\" stroke=\"{}\" stroke-width=\"{}\"",
            esc(d),
            esc(fill),
            n(opacity),
            esc(stroke),
            n(width)
        ));
        self.attrs(data, title, "path");
    }

    pub fn circle(&mut self, cx: f64, cy: f64, r: f64, fill: &str, data: &Data, title: Option<&str>) {
        self.out.push_str(&format!("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"", n(cx), n(cy), n(r), esc(fill)));
        self.attrs(data, title, "circle");
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

// ---------------------------------------------------------------------------------------------
// Heat map (R x F grid, lifecycle x cadence)
// ---------------------------------------------------------------------------------------------

/// One cell of a heat map: its row and column, the value that colours it (None: suppressed),
/// its two lines of text, its data and tooltip.
pub struct Cell {
    pub row: usize,
    pub col: usize,
    pub value: Option<f64>,
    pub main: String,
    pub sub: String,
    pub data: Data,
    pub title: String,
}

/// A heat map: `rows` top to bottom, `cols` left to right, axis titles beside and below.
pub fn heatmap(rows: &[String], cols: &[String], cells: &[Cell], axes: (&str, &str), ramp: Ramp, label: &str) -> String {
    let left = rows.iter().map(|r| text_width(r, 12.0)).fold(24.0, f64::max).min(130.0) + 30.0;
    let cw = ((540.0 - left) / cols.len().max(1) as f64).clamp(46.0, 96.0);
    let ch = 46.0;
    let (top, bottom) = (8.0, 50.0);
    let width = left + cw * cols.len() as f64 + 8.0;
    let height = top + ch * rows.len() as f64 + bottom;
    let mut s = Svg::new(width, height, label);
    // every cell of the grid, under the groups the SQL returned (a missing one has no customers)
    for i in 0..rows.len() {
        for j in 0..cols.len() {
            s.rect(left + cw * j as f64 + 1.0, top + ch * i as f64 + 1.0, cw - 2.0, ch - 2.0, "#f7f7f7", &Vec::new(), None);
        }
    }
    let max = cells.iter().filter_map(|c| c.value).fold(0.0, f64::max);
    for c in cells {
        let (x, y) = (left + cw * c.col as f64, top + ch * c.row as f64);
        let t = c.value.map(|v| if max > 0.0 { (v / max).sqrt() } else { 0.0 });
        let fill = t.map(|t| ramp.at(t)).unwrap_or_else(|| HIDDEN.to_string());
        s.rect(x + 1.0, y + 1.0, cw - 2.0, ch - 2.0, &fill, &c.data, Some(&c.title));
        let ink = if t.unwrap_or(0.0) > 0.6 { "#ffffff" } else { INK };
        s.text(x + cw / 2.0, y + ch / 2.0 - 1.0, &fit(&c.main, cw - 6.0, 13.0), 13.0, "middle", ink, 700);
        s.text(x + cw / 2.0, y + ch / 2.0 + 14.0, &fit(&c.sub, cw - 6.0, 10.0), 10.0, "middle", ink, 400);
    }
    for (i, r) in rows.iter().enumerate() {
        s.text(left - 6.0, top + ch * i as f64 + ch / 2.0 + 4.0, &fit(r, left - 30.0, 12.0), 12.0, "end", INK, 400);
    }
    for (j, c) in cols.iter().enumerate() {
        s.text(left + cw * j as f64 + cw / 2.0, top + ch * rows.len() as f64 + 16.0, &fit(c, cw - 2.0, 11.0), 11.0, "middle", INK, 400);
    }
    s.text(left + cw * cols.len() as f64 / 2.0, height - 8.0, axes.1, 12.0, "middle", MUTED, 700);
    s.text(12.0, top + ch * rows.len() as f64 / 2.0, axes.0, 12.0, "middle", MUTED, 700);
    s.finish()
}

// ---------------------------------------------------------------------------------------------
// Paired share bars (segments, tiers)
// ---------------------------------------------------------------------------------------------

/// One group of a share chart: its label line and its two shares (None: suppressed).
pub struct ShareRow {
    pub label: String,
    pub caption: String,
    pub shares: [Option<f64>; 2],
    pub texts: [String; 2],
    pub data: Data,
    pub title: String,
}

/// Two bars per group (share of customers, share of revenue), on one scale.
pub fn share_bars(rows: &[ShareRow], legend: [&str; 2], width: f64, label: &str) -> String {
    let (left, bar, gap) = (10.0, 13.0, 14.0);
    let value_w = 64.0;
    let row_h = 18.0 + 2.0 * bar + gap;
    let height = 26.0 + row_h * rows.len() as f64;
    let mut s = Svg::new(width, height, label);
    for (i, l) in legend.iter().enumerate() {
        let x = left + i as f64 * 180.0;
        s.rect(x, 6.0, 12.0, 12.0, SHARE_COLOURS[i], &Vec::new(), None);
        s.text(x + 17.0, 16.0, l, 12.0, "start", INK, 400);
    }
    let max = rows.iter().flat_map(|r| r.shares.iter().flatten()).fold(0.0f64, |a, &b| a.max(b.abs())).max(1e-9);
    let span = width - left - value_w - 8.0;
    for (i, r) in rows.iter().enumerate() {
        let y = 26.0 + row_h * i as f64;
        let line = if r.caption.is_empty() { r.label.clone() } else { format!("{} · {}", r.label, r.caption) };
        s.text(left, y + 13.0, &fit(&line, width - left, 12.0), 12.0, "start", INK, 700);
        for k in 0..2 {
            let by = y + 18.0 + k as f64 * bar;
            let (fill, w) = match r.shares[k] {
                Some(v) => (SHARE_COLOURS[k], (v.max(0.0) / max * span).max(if v > 0.0 { 1.0 } else { 0.0 })),
                None => (HIDDEN, span * 0.04),
            };
            // the data and tooltip sit on the customers bar, one mark per group
            let (data, title) = if k == 0 { (r.data.clone(), Some(r.title.as_str())) } else { (Vec::new(), None) };
            s.rect(left, by, w, bar - 2.0, fill, &data, title);
            s.text(left + w + 5.0, by + bar - 3.0, &r.texts[k], 11.0, "start", INK, 400);
        }
    }
    s.finish()
}

// ---------------------------------------------------------------------------------------------
// Lorenz curve
// ---------------------------------------------------------------------------------------------

/// A point of the curve: (share of customers, share of revenue), its data.
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub data: Data,
}

/// The Lorenz curve against the line of equality, the area between shaded, a mark at 80% of
/// customers; `notes` are written in the plot's upper left.
pub fn lorenz(points: &[Point], notes: &[String], axes: (&str, &str), label: &str) -> String {
    let (left, top, size) = (48.0, 12.0, 300.0);
    let width = left + size + 190.0;
    let height = top + size + 44.0;
    let lo = points.iter().map(|p| p.y).fold(0.0f64, f64::min).max(-1.0);
    let px = |x: f64| left + x.clamp(0.0, 1.0) * size;
    let py = |y: f64| top + (1.0 - (y.clamp(lo, 1.0) - lo) / (1.0 - lo)) * size;
    let mut s = Svg::new(width, height, label);
    s.rect(left, top, size, size, "#fafafa", &Vec::new(), None);
    for k in 1..5 {
        let t = k as f64 / 5.0;
        s.line(px(t), top, px(t), top + size, "#e6e6e6", 1.0, false);
        s.line(left, py(lo + t * (1.0 - lo)), left + size, py(lo + t * (1.0 - lo)), "#e6e6e6", 1.0, false);
    }
    s.line(px(0.0), py(0.0), px(1.0), py(1.0), MUTED, 1.0, true);
    if points.len() >= 2 {
        let mut area = format!("M{} {}", n(px(0.0)), n(py(0.0)));
        let mut curve = String::new();
        for (i, p) in points.iter().enumerate() {
            area.push_str(&format!(" L{} {}", n(px(p.x)), n(py(p.y))));
            curve.push_str(&format!("{}{} {}", if i == 0 { "M" } else { " L" }, n(px(p.x)), n(py(p.y))));
        }
        area.push_str(&format!(" L{} {} Z", n(px(1.0)), n(py(1.0))));
        s.path(&area, "#e15759", 0.18, "none", 0.0, &Vec::new(), None);
        s.path(&curve, "none", 0.0, "#c0392b", 2.0, &Vec::new(), None);
    }
    for p in points {
        s.circle(px(p.x), py(p.y), 2.2, "#c0392b", &p.data, None);
    }
    s.line(px(0.8), top, px(0.8), top + size, "#4e79a7", 1.2, true);
    for (k, t) in [0.0, 0.2, 0.4, 0.6, 0.8, 1.0].iter().enumerate() {
        s.text(px(*t), top + size + 15.0, &format!("{}%", k * 20), 10.0, "middle", MUTED, 400);
    }
    s.text(left - 5.0, py(1.0) + 4.0, "100%", 10.0, "end", MUTED, 400);
    s.text(left - 5.0, py(0.0) + 4.0, "0%", 10.0, "end", MUTED, 400);
    s.text(left + size / 2.0, height - 6.0, axes.0, 11.0, "middle", MUTED, 700);
    s.text(left + size + 12.0, top + 14.0, axes.1, 11.0, "start", MUTED, 700);
    for (i, note) in notes.iter().enumerate() {
        s.text(left + size + 12.0, top + 48.0 + 22.0 * i as f64, note, 12.0, "start", INK, if i == 0 { 700 } else { 400 });
    }
    s.finish()
}

// ---------------------------------------------------------------------------------------------
// Sankey diagram (tier migration)
// ---------------------------------------------------------------------------------------------

/// A flow from node `from` (left) to node `to` (right) of `customers` customers.
pub struct Flow {
    pub from: usize,
    pub to: usize,
    pub customers: f64,
    pub data: Data,
    pub title: String,
}

/// Nodes on two columns, flows as bands between them, coloured by their source. Node heights
/// are the sums of their (shown) flows; nodes keep the order given.
pub fn sankey(left_nodes: &[String], right_nodes: &[String], flows: &[Flow], titles: (&str, &str), label: &str) -> String {
    let (width, top, inner) = (560.0, 26.0, 330.0);
    let (x0, x1, nw) = (150.0, 400.0, 12.0);
    let height = top + inner + 10.0;
    let mut s = Svg::new(width, height, label);
    s.text(x0 + nw / 2.0, 14.0, titles.0, 12.0, "middle", MUTED, 700);
    s.text(x1 + nw / 2.0, 14.0, titles.1, 12.0, "middle", MUTED, 700);
    let total: f64 = flows.iter().map(|f| f.customers.max(0.0)).sum();
    if total <= 0.0 {
        return s.finish();
    }
    let sums = |count: usize, side: &dyn Fn(&Flow) -> usize| {
        let mut v = vec![0.0; count];
        for f in flows {
            v[side(f)] += f.customers.max(0.0);
        }
        v
    };
    let (ls, rs) = (sums(left_nodes.len(), &|f| f.from), sums(right_nodes.len(), &|f| f.to));
    let gap = 8.0;
    let slots = left_nodes.len().max(right_nodes.len()).max(1) as f64;
    let scale = (inner - gap * (slots - 1.0)) / total;
    let place = |v: &[f64]| {
        let mut y = top;
        v.iter()
            .map(|&h| {
                let at = y;
                if h > 0.0 {
                    y += h * scale + gap;
                }
                at
            })
            .collect::<Vec<f64>>()
    };
    let (ly, ry) = (place(&ls), place(&rs));
    // within a node, bands are stacked in the order of the other side's nodes
    let mut order: Vec<usize> = (0..flows.len()).collect();
    order.sort_by_key(|&i| (flows[i].from, flows[i].to));
    let mut lcur = ly.clone();
    let mut starts = vec![0.0; flows.len()];
    for &i in &order {
        starts[i] = lcur[flows[i].from];
        lcur[flows[i].from] += flows[i].customers.max(0.0) * scale;
    }
    order.sort_by_key(|&i| (flows[i].to, flows[i].from));
    let mut rcur = ry.clone();
    let mut ends = vec![0.0; flows.len()];
    for &i in &order {
        ends[i] = rcur[flows[i].to];
        rcur[flows[i].to] += flows[i].customers.max(0.0) * scale;
    }
    let xm = (x0 + nw + x1) / 2.0;
    for (i, f) in flows.iter().enumerate() {
        let h = f.customers.max(0.0) * scale;
        let (a, b) = (starts[i], ends[i]);
        let d = format!(
            "M{} {} C{} {} {} {} {} {} L{} {} C{} {} {} {} {} {} Z",
            n(x0 + nw),
            n(a),
            n(xm),
            n(a),
            n(xm),
            n(b),
            n(x1),
            n(b),
            n(x1),
            n(b + h),
            n(xm),
            n(b + h),
            n(xm),
            n(a + h),
            n(x0 + nw),
            n(a + h)
        );
        s.path(&d, PALETTE[f.from % PALETTE.len()], 0.45, "none", 0.0, &f.data, Some(&f.title));
    }
    for (i, name) in left_nodes.iter().enumerate() {
        if ls[i] > 0.0 {
            s.rect(x0, ly[i], nw, ls[i] * scale, PALETTE[i % PALETTE.len()], &Vec::new(), None);
            s.text(x0 - 6.0, ly[i] + ls[i] * scale / 2.0 + 4.0, &fit(name, x0 - 10.0, 12.0), 12.0, "end", INK, 400);
        }
    }
    for (i, name) in right_nodes.iter().enumerate() {
        if rs[i] > 0.0 {
            s.rect(x1, ry[i], nw, rs[i] * scale, "#8a8a8a", &Vec::new(), None);
            s.text(x1 + nw + 6.0, ry[i] + rs[i] * scale / 2.0 + 4.0, &fit(name, width - x1 - nw - 10.0, 12.0), 12.0, "start", INK, 400);
        }
    }
    s.finish()
}

// ---------------------------------------------------------------------------------------------
// 100% stacked bars (P(alive) bands) and box plots (predicted CLV)
// ---------------------------------------------------------------------------------------------

/// One part of a stacked bar: its share of the row, its colour (None: suppressed), data, tooltip.
pub struct Part {
    pub share: f64,
    pub colour: Option<&'static str>,
    pub data: Data,
    pub title: String,
}

pub struct StackRow {
    pub label: String,
    pub parts: Vec<Part>,
    pub right: String,
}

/// One 100% bar per row, with a legend of the bands.
pub fn stacked(rows: &[StackRow], legend: &[(String, &str)], label: &str) -> String {
    let (left, width, bar) = (150.0, 540.0, 18.0);
    let span = width - left - 70.0;
    let row_h = bar + 8.0;
    let height = 30.0 + row_h * rows.len() as f64;
    let mut s = Svg::new(width, height, label);
    let mut x = 4.0;
    for (name, colour) in legend {
        s.rect(x, 6.0, 11.0, 11.0, colour, &Vec::new(), None);
        s.text(x + 15.0, 15.5, name, 10.0, "start", INK, 400);
        x += 20.0 + text_width(name, 10.0);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = 28.0 + row_h * i as f64;
        s.text(left - 6.0, y + 13.0, &fit(&r.label, left - 10.0, 12.0), 12.0, "end", INK, 400);
        let mut x = left;
        for p in &r.parts {
            let w = p.share.clamp(0.0, 1.0) * span;
            s.rect(x, y, w, bar, p.colour.unwrap_or(HIDDEN), &p.data, Some(&p.title));
            x += w;
        }
        s.text(left + span + 6.0, y + 13.0, &r.right, 11.0, "start", INK, 400);
    }
    s.finish()
}

/// One box of a box plot: p10, p25, median, p75, p90 and the mean (None: suppressed).
pub struct BoxRow {
    pub label: String,
    pub q: Option<[f64; 5]>,
    pub mean: Option<f64>,
    pub right: String,
    pub data: Data,
    pub title: String,
}

/// Horizontal box plots on one linear scale, with ticks.
pub fn boxes(rows: &[BoxRow], ticks: &dyn Fn(f64) -> String, label: &str) -> String {
    let (left, width, bar) = (150.0, 540.0, 16.0);
    let span = width - left - 90.0;
    let row_h = bar + 10.0;
    let height = 24.0 + row_h * rows.len() as f64;
    let lo = rows.iter().filter_map(|r| r.q).map(|q| q[0]).fold(0.0f64, f64::min);
    let hi = rows.iter().filter_map(|r| r.q).map(|q| q[4]).fold(0.0f64, f64::max).max(lo + 1e-9);
    let px = |v: f64| left + (v - lo) / (hi - lo) * span;
    let mut s = Svg::new(width, height, label);
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        s.line(px(v), 18.0, px(v), height - 4.0, "#e6e6e6", 1.0, false);
        s.text(px(v), 12.0, &ticks(v), 10.0, "middle", MUTED, 400);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = 22.0 + row_h * i as f64;
        let mid = y + bar / 2.0;
        s.text(left - 6.0, mid + 4.0, &fit(&r.label, left - 10.0, 12.0), 12.0, "end", INK, 400);
        match r.q {
            Some(q) => {
                s.line(px(q[0]), mid, px(q[4]), mid, "#6a5acd", 1.5, false);
                s.rect(px(q[1]), y, px(q[3]) - px(q[1]), bar, "#b9b0f0", &r.data, Some(&r.title));
                s.line(px(q[2]), y, px(q[2]), y + bar, "#3b2f9e", 2.5, false);
                if let Some(m) = r.mean {
                    let (cx, d) = (px(m.clamp(lo, hi)), 4.5);
                    let dia = format!(
                        "M{} {} L{} {} L{} {} L{} {} Z",
                        n(cx),
                        n(mid - d),
                        n(cx + d),
                        n(mid),
                        n(cx),
                        n(mid + d),
                        n(cx - d),
                        n(mid)
                    );
                    s.path(&dia, "#e15759", 1.0, "none", 0.0, &Vec::new(), None);
                }
            }
            None => s.rect(left, y, span * 0.04, bar, HIDDEN, &r.data, Some(&r.title)),
        }
        s.text(left + span + 6.0, mid + 4.0, &r.right, 11.0, "start", INK, 400);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn ramp_ends_and_middle() {
        assert_eq!(BLUES.at(0.0), "#eaf1f8");
        assert_eq!(BLUES.at(1.0), "#1f4e79");
        assert_eq!(BLUES.at(f64::NAN), "#eaf1f8");
        assert_eq!(BLUES.at(7.0), "#1f4e79");
    }

    #[test]
    fn heatmap_draws_one_mark_per_cell_with_its_data() {
        let cells: Vec<Cell> = (0..4)
            .map(|i| Cell {
                row: i / 2,
                col: i % 2,
                value: if i == 3 { None } else { Some(i as f64 * 10.0) },
                main: format!("{}", i * 10),
                sub: "x".into(),
                data: vec![("customers", format!("{}", i * 10))],
                title: format!("cell {i}"),
            })
            .collect();
        let svg = heatmap(&["a".into(), "b".into()], &["1".into(), "2".into()], &cells, ("R", "F"), BLUES, "grid");
        assert_eq!(count(&svg, "class=\"mark\""), 4);
        assert!(svg.contains("data-customers=\"20\""));
        assert!(svg.contains(&format!("fill=\"{HIDDEN}\"")), "the suppressed cell is grey");
        assert!(svg.contains(&format!("fill=\"{}\"", BLUES.at(1.0))), "the largest cell is the darkest");
        assert!(!svg.contains("http") && !svg.contains("href"));
    }

    #[test]
    fn labels_are_escaped_in_text_data_and_titles() {
        let evil = "<script>alert(1)</script>\"'&";
        let rows = [ShareRow {
            label: evil.into(),
            caption: String::new(),
            shares: [Some(0.5), Some(0.25)],
            texts: ["50%".into(), "25%".into()],
            data: vec![("label", evil.into())],
            title: evil.into(),
        }];
        let svg = share_bars(&rows, ["c", "r"], 540.0, evil);
        assert!(!svg.contains("<script") && !svg.contains("\"'&\""), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    }

    #[test]
    fn share_bars_are_proportional() {
        let row = |a: f64, b: f64| ShareRow {
            label: "g".into(),
            caption: String::new(),
            shares: [Some(a), Some(b)],
            texts: [String::new(), String::new()],
            data: vec![("customer-share", a.to_string())],
            title: String::new(),
        };
        let svg = share_bars(&[row(0.5, 0.25), row(0.25, 0.1)], ["c", "r"], 540.0, "bars");
        let widths: Vec<f64> = svg
            .split("<rect ")
            .skip(3) // the two legend swatches
            .filter_map(|r| r.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(widths.len(), 4);
        assert!((widths[0] / widths[2] - 2.0).abs() < 0.02, "{widths:?}");
        assert!((widths[0] / widths[1] - 2.0).abs() < 0.02, "{widths:?}");
    }

    #[test]
    fn sankey_band_heights_follow_customers() {
        let flow = |from, to, c: f64| Flow { from, to, customers: c, data: vec![("customers", c.to_string())], title: String::new() };
        let flows = [flow(0, 0, 30.0), flow(0, 1, 10.0), flow(1, 1, 60.0)];
        let svg = sankey(&["A".into(), "B".into()], &["A".into(), "B".into()], &flows, ("from", "to"), "m");
        assert_eq!(count(&svg, "class=\"mark\""), 3);
        // node rectangles: left A holds 40 of 100 customers, left B 60
        let heights: Vec<f64> =
            svg.split("<rect ").skip(1).filter_map(|r| r.split("height=\"").nth(1)?.split('"').next()?.parse().ok()).collect();
        assert!((heights[0] / heights[1] - 40.0 / 60.0).abs() < 0.01, "{heights:?}");
        // no flows: an empty frame, no panic
        let empty = sankey(&[], &[], &[], ("from", "to"), "m");
        assert!(empty.ends_with("</svg>"));
    }

    #[test]
    fn lorenz_and_boxes_survive_degenerate_input() {
        let svg = lorenz(&[], &[], ("x", "y"), "l");
        assert!(svg.ends_with("</svg>"));
        let p = |x: f64, y: f64| Point { x, y, data: vec![("customer-share", x.to_string())] };
        let svg = lorenz(&[p(0.0, 0.0), p(0.5, -0.1), p(1.0, 1.0)], &["G".into()], ("x", "y"), "l");
        assert_eq!(count(&svg, "<circle"), 3);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let b = BoxRow { label: "s".into(), q: Some([0.0; 5]), mean: Some(0.0), right: String::new(), data: vec![], title: String::new() };
        let svg = boxes(&[b], &|v| format!("{v}"), "b");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}
