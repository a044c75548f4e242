//! Latency by percentile as SVG, in HdrHistogram's usual layout: the x axis is the percentile
//! on a log scale of 1/(1-p) (0 %, 90 %, 99 %, 99.9 % … evenly spaced), the y axis the latency.
//! Several series share one chart (`compare` puts hb, heartbeat and corosync on one); when
//! they differ by more than 30x the latency axis is logarithmic.

use crate::hist::{Hist, Unit};

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 45.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The chart for `series` (name, histogram), values shown in `unit`.
pub fn percentile_svg(title: &str, series: &[(&str, &Hist)], unit: Unit) -> String {
    // x = log10(1/(1-q)), capped at 6 (99.9999 %).
    let xmax = series
        .iter()
        .flat_map(|(_, h)| h.points())
        .map(|(q, _)| if q >= 1.0 { 0.0 } else { (1.0 / (1.0 - q)).log10() })
        .fold(2.0_f64, f64::max)
        .min(6.0)
        .ceil();
    let ytop = series.iter().map(|(_, h)| h.at(100.0) as f64 / unit.scale()).fold(0.0_f64, f64::max).max(1e-9);
    let ybottom = series.iter().filter(|(_, h)| !h.is_empty()).map(|(_, h)| h.at(0.0) as f64 / unit.scale()).fold(f64::INFINITY, f64::min);
    // Series that differ by more than 30x (hb next to corosync) get a log latency axis, so
    // the fast one is not a flat line on the floor; otherwise a linear one from zero.
    let medians: Vec<f64> = series.iter().filter(|(_, h)| !h.is_empty()).map(|(_, h)| h.at(50.0) as f64).collect();
    let spread = medians.iter().fold(0.0_f64, |a, &b| a.max(b)) / medians.iter().fold(f64::INFINITY, |a, &b| a.min(b));
    let log = ybottom.is_finite() && ybottom > 0.0 && spread > 30.0;
    let (ylo, yhi) = if log { (10f64.powf(ybottom.log10().floor()), 10f64.powf(ytop.log10().ceil())) } else { (0.0, ytop * 1.1) };
    let frac = |y: f64| if log { (y.max(ylo).log10() - ylo.log10()) / (yhi.log10() - ylo.log10()) } else { y / yhi };
    let px = |x: f64| LEFT + x / xmax * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - frac(y) * (H - TOP - BOTTOM);
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        W / 2.0,
        esc(title)
    );
    // Axes and grid.
    o.push_str(&format!("<line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", H - BOTTOM, W - RIGHT, H - BOTTOM));
    o.push_str(&format!("<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"black\"/>\n", H - BOTTOM));
    for k in 0..=(xmax as i32) {
        let label = match k {
            0 => "0%".to_string(),
            k => format!("{}%", 100.0 - 100.0 / 10f64.powi(k)),
        };
        let x = px(f64::from(k));
        o.push_str(&format!("<line x1=\"{x}\" y1=\"{TOP}\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/>\n", H - BOTTOM));
        o.push_str(&format!("<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{label}</text>\n", H - BOTTOM + 18.0));
    }
    let ticks: Vec<f64> = if log {
        let decades = (yhi.log10() - ylo.log10()).round() as i32;
        (0..=decades).flat_map(|d| [1.0, 2.0, 5.0].map(|m| m * ylo * 10f64.powi(d))).filter(|&v| v <= yhi * 1.0001).collect()
    } else {
        (0..=5).map(|k| yhi / 5.0 * f64::from(k)).collect()
    };
    for v in ticks {
        let decimals = if v >= 100.0 || (v - v.round()).abs() < 1e-9 {
            0
        } else if v >= 10.0 {
            1
        } else {
            3
        };
        let y = py(v);
        o.push_str(&format!("<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\n", W - RIGHT));
        o.push_str(&format!("<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.decimals$}</text>\n", LEFT - 6.0, y + 4.0));
    }
    o.push_str(&format!("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">percentile</text>\n", (LEFT + W - RIGHT) / 2.0, H - 12.0));
    o.push_str(&format!(
        "<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">latency ({}{})</text>\n",
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0,
        unit.name(),
        if log { ", log scale" } else { "" }
    ));
    for (i, (name, h)) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let pts: Vec<String> = h
            .points()
            .iter()
            .map(|&(q, v)| {
                let x = if q >= 1.0 { xmax } else { (1.0 / (1.0 - q)).log10().min(xmax) };
                format!("{:.1},{:.1}", px(x), py(v as f64 / unit.scale()))
            })
            .collect();
        o.push_str(&format!("<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n", pts.join(" ")));
        let ly = TOP + 8.0 + 16.0 * i as f64;
        o.push_str(&format!("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"4\" fill=\"{c}\"/>\n", LEFT + 12.0, ly - 4.0));
        o.push_str(&format!("<text x=\"{}\" y=\"{ly}\">{} (n={})</text>\n", LEFT + 30.0, esc(name), h.len()));
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_with_axes_a_line_per_series_and_a_legend() {
        let mut a = Hist::new();
        let mut b = Hist::new();
        for i in 1..=1000u64 {
            a.record(i * 1000);
            b.record(i * 2000);
        }
        let svg = percentile_svg("detect <test>", &[("hb", &a), ("heartbeat", &b)], Unit::Micros);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("detect &lt;test&gt;") && svg.contains("hb (n=1000)") && svg.contains("heartbeat (n=1000)"));
        assert!(svg.contains(">99.9%<"), "a log percentile axis");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("log scale"), "a 2x spread keeps a linear axis");
    }

    #[test]
    fn a_wide_spread_gets_a_log_latency_axis() {
        let mut fast = Hist::new();
        let mut slow = Hist::new();
        for i in 0..100u64 {
            fast.record(45_000_000 + i * 50_000);
            slow.record(2_000_000_000 + i * 3_000_000);
        }
        let svg = percentile_svg("compare", &[("hb", &fast), ("corosync", &slow)], Unit::Millis);
        assert!(svg.contains("log scale"), "{svg}");
        assert!(svg.contains(">10<") && svg.contains(">100<") && svg.contains(">1000<"), "decade ticks: {svg}");
    }
}
