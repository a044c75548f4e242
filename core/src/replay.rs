//! Anti-replay for each peer's current generation: the highest sequence number seen and a
//! bitmap of the 128 below it (sans-I/O, allocation-free).

/// Anti-replay: the highest sequence seen and a bitmap of the 128 below it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    top: u64,
    bits: u128,
}

impl ReplayWindow {
    /// Width of the window: packets reordered by more than this are refused as replays.
    pub const WIDTH: u64 = 128;

    /// Accepts `seq` once; refuses repeats and anything older than the window.
    pub fn accept(&mut self, seq: u64) -> bool {
        if seq > self.top {
            let shift = seq - self.top;
            self.bits = if shift >= Self::WIDTH { 0 } else { self.bits << shift };
            self.bits |= 1;
            self.top = seq;
            return true;
        }
        let back = self.top - seq;
        if back >= Self::WIDTH || self.bits & (1u128 << back) != 0 {
            return false;
        }
        self.bits |= 1u128 << back;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(1));
        assert!(!w.accept(1));
        assert!(w.accept(5));
        assert!(w.accept(3));
        assert!(!w.accept(3));
        assert!(w.accept(200));
        assert!(!w.accept(72));
        assert!(w.accept(73));
        assert!(w.accept(1000));
    }
}
