//! Serial framing: COBS-encoded frames with a CRC-32, delimited by zero bytes.
//!
//! A serial line is a byte stream with no packet boundaries, and noise can flip, drop or add
//! bytes anywhere. Each packet (the same authenticated datagram every medium carries) is sent
//! as `COBS(packet ‖ CRC-32(packet), little-endian) 0x00`. COBS removes every zero from the
//! encoded bytes, so a zero always ends a frame: after any corruption the receiver is back in
//! step at the next zero, losing at most the frames the noise touched. The CRC-32 (IEEE, as
//! zlib) catches what noise does inside a frame before the packet's own MAC is checked.
//!
//! [`encode`] and [`Decoder`] work in fixed buffers and never allocate; the decoder is
//! bounds-checked on every byte and answers garbage with a [`FrameError`], never a panic
//! (`fuzz/fuzz_targets/serial_frame.rs`).

/// The largest packet a frame carries (the wire format's datagram limit).
pub const MAX_PAYLOAD: usize = 512;
/// CRC bytes after the packet.
const CRC_LEN: usize = 4;
/// The largest encoded frame, delimiter included: COBS adds one byte per 254 and one more.
pub const MAX_FRAME: usize = MAX_PAYLOAD + CRC_LEN + (MAX_PAYLOAD + CRC_LEN) / 254 + 2;

/// The most bytes on the line for a packet of `len` bytes, delimiter included (exact when
/// the packet and its CRC hold no zero and are shorter than 254 bytes).
pub const fn framed_len(len: usize) -> usize {
    len + CRC_LEN + (len + CRC_LEN) / 254 + 2
}

/// Why received bytes did not make a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The COBS encoding is invalid (a code byte pointing past the frame's end).
    BadEncoding,
    /// Shorter than a CRC.
    TooShort,
    /// The CRC does not match.
    BadCrc,
    /// More bytes than the largest frame arrived without a delimiter (noise, or a stuck
    /// line); they were discarded up to the next delimiter.
    Overrun,
}

impl FrameError {
    /// Short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            FrameError::BadEncoding => "bad-encoding",
            FrameError::TooShort => "too-short",
            FrameError::BadCrc => "bad-crc",
            FrameError::Overrun => "overrun",
        }
    }
}

/// Encodes `packet` as one frame into `out`; returns the frame's length. `None` when the packet
/// is larger than [`MAX_PAYLOAD`] or `out` is too small for it.
pub fn encode(packet: &[u8], out: &mut [u8]) -> Option<usize> {
    if packet.len() > MAX_PAYLOAD || out.len() < framed_len(packet.len()) {
        return None;
    }
    let crc = crc32fast::hash(packet).to_le_bytes();
    // COBS: each block starts with a code byte = 1 + the number of non-zero bytes that follow
    // it (at most 254), and stands for those bytes plus an implied zero (none when the code
    // is 0xFF or the block ends the data).
    let mut code_at = 0;
    let mut code = 1u8;
    let mut w = 1;
    for &b in packet.iter().chain(crc.iter()) {
        if b == 0 {
            out[code_at] = code;
            code_at = w;
            w += 1;
            code = 1;
        } else {
            out[w] = b;
            w += 1;
            code += 1;
            if code == 0xFF {
                out[code_at] = code;
                code_at = w;
                w += 1;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out[w] = 0;
    Some(w + 1)
}

/// Decodes COBS in place: `buf` holds one frame without its delimiter; returns the decoded
/// length (always shorter than the input).
fn cobs_decode_in_place(buf: &mut [u8]) -> Result<usize, FrameError> {
    let (mut r, mut w) = (0, 0);
    while r < buf.len() {
        let code = buf[r];
        if code == 0 {
            return Err(FrameError::BadEncoding);
        }
        let n = usize::from(code) - 1;
        if r + 1 + n > buf.len() {
            return Err(FrameError::BadEncoding);
        }
        buf.copy_within(r + 1..r + 1 + n, w);
        w += n;
        r += 1 + n;
        if code != 0xFF && r < buf.len() {
            buf[w] = 0;
            w += 1;
        }
    }
    Ok(w)
}

/// Reassembles frames from a byte stream. Allocation-free; see the module docs.
pub struct Decoder {
    buf: [u8; MAX_FRAME],
    len: usize,
    overrun: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// An empty decoder, waiting for the first delimiter or frame.
    pub const fn new() -> Decoder {
        Decoder { buf: [0; MAX_FRAME], len: 0, overrun: false }
    }

    /// Forgets a partial frame (after the port was reopened).
    pub fn reset(&mut self) {
        self.len = 0;
        self.overrun = false;
    }

    /// Feeds received bytes; calls `on_frame` with each complete packet or the reason a frame
    /// was dropped. Empty frames (back-to-back delimiters, idle fill) are skipped silently.
    pub fn push(&mut self, bytes: &[u8], mut on_frame: impl FnMut(Result<&[u8], FrameError>)) {
        for &b in bytes {
            if b != 0 {
                if self.len < MAX_FRAME {
                    self.buf[self.len] = b;
                    self.len += 1;
                } else if !self.overrun {
                    self.overrun = true;
                    on_frame(Err(FrameError::Overrun));
                }
                continue;
            }
            let (len, overrun) = (self.len, self.overrun);
            self.len = 0;
            self.overrun = false;
            if len == 0 || overrun {
                continue;
            }
            match cobs_decode_in_place(&mut self.buf[..len]) {
                Err(e) => on_frame(Err(e)),
                Ok(n) if n < CRC_LEN => on_frame(Err(FrameError::TooShort)),
                Ok(n) => {
                    let (packet, crc) = self.buf[..n].split_at(n - CRC_LEN);
                    if crc32fast::hash(packet).to_le_bytes() == crc {
                        on_frame(Ok(packet));
                    } else {
                        on_frame(Err(FrameError::BadCrc));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(dec: &mut Decoder, bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = Vec::new();
        dec.push(bytes, |r| out.push(r.map(|p| p.to_vec())));
        out
    }

    fn enc(p: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_FRAME];
        let n = encode(p, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn round_trips_every_length_and_zero_pattern() {
        let mut dec = Decoder::new();
        for len in [0usize, 1, 2, 100, 250, 253, 254, 255, 300, 508, 511, 512] {
            for pattern in 0..4u8 {
                let p: Vec<u8> = (0..len)
                    .map(|i| match pattern {
                        0 => 0,
                        1 => 0x55,
                        2 => (i % 7) as u8,
                        _ => (i * 31 % 256) as u8,
                    })
                    .collect();
                let f = enc(&p);
                assert!(f.len() <= framed_len(len), "len {len} pattern {pattern}");
                assert_eq!(f.iter().filter(|&&b| b == 0).count(), 1, "only the delimiter is zero");
                assert_eq!(*f.last().unwrap(), 0);
                assert_eq!(frames(&mut dec, &f), vec![Ok(p)], "len {len} pattern {pattern}");
            }
        }
    }

    #[test]
    fn cobs_decodes_the_classic_example() {
        // 11 22 00 33 encodes as 03 11 22 02 33 (Cheshire and Baker's paper).
        let mut b = [0x03, 0x11, 0x22, 0x02, 0x33];
        assert_eq!(cobs_decode_in_place(&mut b), Ok(4));
        assert_eq!(&b[..4], &[0x11, 0x22, 0x00, 0x33]);
    }

    #[test]
    fn resynchronises_after_garbage_and_counts_it() {
        let mut dec = Decoder::new();
        let mut stream = vec![0x41, 0x42, 0x43, 0x00]; // noise ending in a delimiter
        stream.extend(enc(b"first"));
        let mut bad = enc(b"second");
        bad[3] ^= 0x10; // a flipped bit inside a frame
        stream.extend(&bad);
        stream.extend([0, 0, 0]); // idle fill
        stream.extend(enc(b"third"));
        let got = frames(&mut dec, &stream);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].is_err());
        assert_eq!(got[1], Ok(b"first".to_vec()));
        assert_eq!(got[2], Err(FrameError::BadCrc));
        assert_eq!(got[3], Ok(b"third".to_vec()));
    }

    #[test]
    fn frames_split_across_reads_reassemble() {
        let mut dec = Decoder::new();
        let f = enc(b"split me");
        let mut got = Vec::new();
        for b in &f {
            got.extend(frames(&mut dec, std::slice::from_ref(b)));
        }
        assert_eq!(got, vec![Ok(b"split me".to_vec())]);
    }

    #[test]
    fn an_endless_frame_overruns_once_then_resyncs() {
        let mut dec = Decoder::new();
        let noise = vec![0x7Fu8; MAX_FRAME * 3];
        assert_eq!(frames(&mut dec, &noise), vec![Err(FrameError::Overrun)]);
        assert_eq!(frames(&mut dec, &[0]), vec![]);
        assert_eq!(frames(&mut dec, &enc(b"ok")), vec![Ok(b"ok".to_vec())]);
    }

    #[test]
    fn short_and_invalid_frames_are_named() {
        let mut dec = Decoder::new();
        assert_eq!(frames(&mut dec, &[0x02, 0x01, 0x00]), vec![Err(FrameError::TooShort)]);
        assert_eq!(frames(&mut dec, &[0x09, 0x01, 0x00]), vec![Err(FrameError::BadEncoding)]);
        assert!(encode(&[1u8; MAX_PAYLOAD + 1], &mut [0u8; MAX_FRAME + 8]).is_none());
        assert!(encode(&[1u8; 10], &mut [0u8; 10]).is_none());
    }

    #[test]
    fn a_heartbeat_fits_the_line_budget() {
        // 100 bytes (sha256 + echo) take 106 bytes on the line: 9.2 ms at 115200 baud.
        assert_eq!(framed_len(100), 106);
        assert_eq!(framed_len(72), 78);
    }
}
