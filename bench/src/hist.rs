//! Latency histograms and their renderings: a percentile table for the terminal,
//! HdrHistogram's percentile-distribution text (`.hgrm`, read by its standard plotter), its
//! interval log (`.hlog`: one compressed histogram per interval, read by
//! HistogramLogAnalyzer and `HistogramLogProcessor`), and a JSON summary for scripts.
//!
//! Values are recorded in nanoseconds; every rendering takes a [`Unit`] to display in.

use hdrhistogram::Histogram;

/// Display unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds.
    Micros,
    /// Milliseconds.
    Millis,
}

impl Unit {
    /// Nanoseconds per unit.
    pub fn scale(self) -> f64 {
        match self {
            Unit::Micros => 1e3,
            Unit::Millis => 1e6,
        }
    }
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Micros => "us",
            Unit::Millis => "ms",
        }
    }
}

/// The percentiles every report shows.
pub const TABLE: [(&str, f64); 8] =
    [("min", 0.0), ("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9), ("p99.99", 99.99), ("max", 100.0), ("count", -1.0)];

/// A latency histogram (1 ns to 1 hour, 3 significant digits).
#[derive(Clone)]
pub struct Hist {
    h: Histogram<u64>,
    /// Samples recorded with [`Hist::record_at`]: (when, CLOCK_MONOTONIC ns; value, ns).
    timeline: Vec<(u64, u64)>,
}

impl Default for Hist {
    fn default() -> Hist {
        Hist::new()
    }
}

impl Hist {
    /// An empty histogram.
    pub fn new() -> Hist {
        Hist::with_capacity(0)
    }

    /// An empty histogram with room for `n` timed samples (so a measuring loop that records
    /// with [`Hist::record_at`] does not allocate as it goes).
    pub fn with_capacity(n: usize) -> Hist {
        Hist { h: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds"), timeline: Vec::with_capacity(n) }
    }

    /// Records one value in ns taken at `at` (CLOCK_MONOTONIC ns), for the interval log too.
    pub fn record_at(&mut self, ns: u64, at: u64) {
        self.record(ns);
        self.timeline.push((at, ns.clamp(1, 3_600_000_000_000)));
    }

    /// HdrHistogram's interval log of the timed samples: one histogram per `interval` from the
    /// first sample, tagged `tag`, values in ns with `unit` as the max-value divisor (so the
    /// log's max column reads in `unit`). `None` when nothing was recorded with a time.
    pub fn interval_log(&self, interval: std::time::Duration, unit: Unit, tag: &str) -> Option<String> {
        use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
        use hdrhistogram::serialization::V2DeflateSerializer;
        let first = self.timeline.iter().map(|&(t, _)| t).min()?;
        let step = (interval.as_nanos() as u64).max(1);
        let wall_now = std::time::SystemTime::now();
        let mono_now = hb_core::time::now().0;
        // The first sample's wall-clock time, for the log's StartTime.
        let start_wall = wall_now.checked_sub(std::time::Duration::from_nanos(mono_now.saturating_sub(first))).unwrap_or(wall_now);
        let mut out: Vec<u8> = Vec::new();
        let mut ser = V2DeflateSerializer::new();
        let mut w = IntervalLogWriterBuilder::new()
            .add_comment(&format!("hb-bench {tag}: values in ns; max column in {}", unit.name()))
            .with_start_time(start_wall)
            .with_base_time(start_wall)
            .with_max_value_divisor(unit.scale())
            .begin_log_with(&mut out, &mut ser)
            .ok()?;
        let slots = (self.timeline.iter().map(|&(t, _)| t).max()? - first) / step + 1;
        let tag = Tag::new(tag);
        for k in 0..slots {
            let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
            for &(t, v) in &self.timeline {
                if (t - first) / step == k {
                    let _ = h.record(v);
                }
            }
            let start = std::time::Duration::from_nanos(k * step);
            w.write_histogram(&h, start, std::time::Duration::from_nanos(step), tag).ok()?;
        }
        drop(w);
        String::from_utf8(out).ok()
    }

    /// Records one value in ns (clamped into range).
    pub fn record(&mut self, ns: u64) {
        let _ = self.h.record(ns.clamp(1, 3_600_000_000_000));
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        self.h.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The value at percentile `p` (0–100), in ns; `p` = 0 is the minimum, 100 the maximum.
    pub fn at(&self, p: f64) -> u64 {
        if p <= 0.0 {
            self.h.min()
        } else if p >= 100.0 {
            self.h.max()
        } else {
            self.h.value_at_quantile(p / 100.0)
        }
    }

    /// `(label, value in unit)` for [`TABLE`].
    pub fn summary(&self, unit: Unit) -> Vec<(&'static str, f64)> {
        TABLE.iter().map(|(l, p)| (*l, if *p < 0.0 { self.len() as f64 } else { self.at(*p) as f64 / unit.scale() })).collect()
    }

    /// A two-line table for the terminal.
    pub fn table(&self, unit: Unit) -> String {
        let s = self.summary(unit);
        let mut head = String::new();
        let mut row = String::new();
        for (l, v) in &s {
            head.push_str(&format!("{:>10}", l));
            if *l == "count" {
                row.push_str(&format!("{:>10}", *v as u64));
            } else {
                row.push_str(&format!("{:>10.3}", v));
            }
        }
        format!("{head}   ({})\n{row}\n", unit.name())
    }

    /// HdrHistogram's percentile distribution, as `outputPercentileDistribution` writes it
    /// (5 ticks per half distance), values in `unit`.
    pub fn hgrm(&self, unit: Unit) -> String {
        let scale = unit.scale();
        let mut o = format!("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
        let mut total = 0u64;
        for v in self.h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64 / scale;
            if q < 1.0 {
                o.push_str(&format!("{value:12.3} {q:2.12} {total:10} {:14.2}\n", 1.0 / (1.0 - q)));
            } else {
                o.push_str(&format!("{value:12.3} {q:2.12} {total:10}\n"));
            }
        }
        let sub_buckets = 1u64 << (2.0 * 10f64.powi(i32::from(self.h.sigfig()))).log2().ceil() as u32;
        o.push_str(&format!("#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n", self.h.mean() / scale, self.h.stdev() / scale));
        o.push_str(&format!("#[Max     = {:12.3}, Total count    = {:12}]\n", self.h.max() as f64 / scale, self.h.len()));
        o.push_str(&format!("#[Buckets = {:12}, SubBuckets     = {:12}]\n", self.h.buckets(), sub_buckets));
        o
    }

    /// `(quantile, value ns)` points of the percentile distribution (5 ticks per half
    /// distance), as the `.hgrm` lists them.
    pub fn points(&self) -> Vec<(f64, u64)> {
        self.h.iter_quantiles(5).map(|v| (v.quantile_iterated_to(), v.value_iterated_to())).collect()
    }

    /// A JSON object with the table's values (to the thousandth of `unit`) and the unit.
    pub fn json(&self, unit: Unit) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("unit".into(), unit.name().into());
        for (l, v) in self.summary(unit) {
            m.insert(l.into(), if l == "count" { (v as u64).into() } else { round3(v).into() });
        }
        m.insert("mean".into(), round3(self.h.mean() / unit.scale()).into());
        serde_json::Value::Object(m)
    }
}

/// `x` to three decimals, as the reports print numbers.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn interval_log_has_one_histogram_per_interval_that_reads_back() {
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        use hdrhistogram::serialization::Deserializer;
        let mut h = Hist::with_capacity(300);
        // 3 s of samples, 100 a second, the third second twice as slow.
        for i in 0..300u64 {
            let v = if i >= 200 { 2_000_000 } else { 1_000_000 };
            h.record_at(v, 5_000_000_000 + i * 10_000_000);
        }
        assert!(Hist::new().interval_log(std::time::Duration::from_secs(1), Unit::Millis, "x").is_none());
        let log = h.interval_log(std::time::Duration::from_secs(1), Unit::Millis, "detect").unwrap();
        assert!(log.contains("#[StartTime: ") && log.contains("#[MaxValueDivisor: 1000000.000]"), "{log}");
        let mut counts = Vec::new();
        for e in IntervalLogIterator::new(log.as_bytes()) {
            if let Ok(LogEntry::Interval(ilh)) = e {
                assert_eq!(ilh.tag().map(|t| t.as_str()), Some("detect"));
                let bytes = base64_decode(ilh.encoded_histogram());
                let back: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
                counts.push((back.len(), back.max()));
            }
        }
        assert_eq!(counts.len(), 3, "{log}");
        assert_eq!(counts[0].0, 100);
        assert!(counts[2].1 >= 2_000_000 && counts[0].1 < 1_100_000, "{counts:?}");
    }

    /// Standard base64 (the interval log's encoding of each histogram), for the test only.
    fn base64_decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let b: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(val).collect();
        b.chunks(4)
            .flat_map(|c| {
                let n = c.iter().enumerate().fold(0u32, |n, (i, &v)| n | (u32::from(v) << (18 - 6 * i)));
                let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
                bytes.into_iter().take(c.len().saturating_sub(1))
            })
            .collect()
    }

    use super::*;

    fn one_to_hundred_ms() -> Hist {
        let mut h = Hist::new();
        for i in 1..=100u64 {
            h.record(i * 1_000_000);
        }
        h
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let h = one_to_hundred_ms();
        let s: std::collections::HashMap<_, _> = h.summary(Unit::Millis).into_iter().collect();
        assert_eq!(s["count"], 100.0);
        // 3 significant digits: values within 0.1 %.
        for (k, want) in [("min", 1.0), ("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
            assert!((s[k] - want).abs() <= want * 0.001, "{k}: {} vs {want}", s[k]);
        }
        assert!(s["p99.99"] >= 99.9);
    }

    #[test]
    fn hgrm_follows_hdrhistograms_format() {
        let text = one_to_hundred_ms().hgrm(Unit::Millis);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "       Value     Percentile TotalCount 1/(1-Percentile)");
        assert_eq!(lines[1], "");
        // Rows: value, percentile, cumulative count, 1/(1-p) — increasing; the last row (100 %)
        // has no fourth column and counts everything.
        let rows: Vec<Vec<&str>> = lines[2..].iter().take_while(|l| !l.starts_with('#')).map(|l| l.split_whitespace().collect()).collect();
        assert!(rows.len() > 10);
        let last = rows.last().unwrap();
        assert_eq!(last.len(), 3, "{last:?}");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "100");
        let mut prev = 0.0;
        for r in &rows {
            let v: f64 = r[0].parse().unwrap();
            assert!(v >= prev);
            prev = v;
        }
        // Like Java's getMax, max is the highest value equivalent to its bucket: 100.008.
        assert!(text.contains("#[Max     =      100.008, Total count    =          100]"), "{text}");
        assert!(text.contains("SubBuckets     =         2048]"), "{text}");
    }

    #[test]
    fn json_and_table() {
        let h = one_to_hundred_ms();
        let j = h.json(Unit::Millis);
        assert_eq!((j["unit"].as_str(), j["min"].as_f64(), j["count"].as_u64()), (Some("ms"), Some(1.0), Some(100)), "{j}");
        let t = h.table(Unit::Millis);
        assert!(t.contains("p99.99") && t.contains("(ms)") && t.lines().count() == 2, "{t}");
    }
}
