//! Time for the sans-I/O core: [`Nanos`] on CLOCK_MONOTONIC and heartbeat's duration syntax.
//!
//! The protocol code never reads a clock: the loop calls [`now`] once per wake-up and passes
//! the value in. Durations in `ha.cf` follow heartbeat: a bare number is seconds (`2`, `1.5`),
//! or a number with `ms`, `us` or `s`.

use std::fmt;

/// Nanoseconds on CLOCK_MONOTONIC (an instant) or a duration, depending on use.
/// Serialized as a plain number of nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Nanos(pub u64);

impl Nanos {
    /// Zero.
    pub const ZERO: Nanos = Nanos(0);
    /// The far future, for "no deadline".
    pub const MAX: Nanos = Nanos(u64::MAX);

    /// From milliseconds, saturating (an absurd input becomes "forever", which range checks
    /// then refuse, rather than wrapping to a small value).
    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms.saturating_mul(1_000_000))
    }
    /// From microseconds, saturating.
    pub const fn from_micros(us: u64) -> Nanos {
        Nanos(us.saturating_mul(1_000))
    }
    /// Whole milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    /// Milliseconds as a float, for display.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// `self + d`, saturating.
    pub const fn add(self, d: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(d.0))
    }
    /// `self - d`, saturating at zero.
    pub const fn sub(self, d: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(d.0))
    }
}

impl From<Nanos> for std::time::Duration {
    fn from(n: Nanos) -> Self {
        std::time::Duration::from_nanos(n.0)
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1_000_000) {
            write!(f, "{}ms", self.0 / 1_000_000)
        } else {
            write!(f, "{:.3}ms", self.as_millis_f64())
        }
    }
}

/// The current CLOCK_MONOTONIC time. Only the loop and the log thread call this.
pub fn now() -> Nanos {
    Nanos(crate::sys::clock::monotonic())
}

/// Parses heartbeat's time syntax: `2`, `1.5` (seconds), `250ms`, `500us`, `3s`.
pub fn parse_duration(s: &str) -> Result<Nanos, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e9)
    } else {
        (s, 1e9)
    };
    let bad = || format!("{s:?} is not a time (use e.g. 2, 1.5, 250ms)");
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    let ns = (v * scale).round();
    if !(0.0..=1e15).contains(&ns) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Nanos(ns as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_time_syntax() {
        assert_eq!(parse_duration("2"), Ok(Nanos::from_millis(2000)));
        assert_eq!(parse_duration("1.5"), Ok(Nanos::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Nanos::from_millis(250)));
        assert_eq!(parse_duration("500us"), Ok(Nanos::from_micros(500)));
        assert_eq!(parse_duration("3s"), Ok(Nanos::from_millis(3000)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("1e3").is_err());
    }

    #[test]
    fn conversions_saturate() {
        assert_eq!(Nanos::from_millis(u64::MAX / 1000), Nanos::MAX);
        assert_eq!(Nanos::from_micros(u64::MAX), Nanos::MAX);
    }

    #[test]
    fn display_is_milliseconds() {
        assert_eq!(Nanos::from_millis(50).to_string(), "50ms");
        assert_eq!(Nanos(1_500_000).to_string(), "1.500ms");
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = now();
        let b = now();
        assert!(b >= a && a.0 > 0);
    }
}
