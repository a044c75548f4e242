//! `authkeys` and the message authentication codes that sign every packet.
//!
//! heartbeat's file: mode 0600, a first line `auth N` choosing the sending key, then lines
//! `N method [secret]` with N in 1..=15 and method `crc`, `md5` or `sha1`. hb adds `sha256`
//! (HMAC-SHA256), its recommended method. Every listed key verifies on receive, so keys rotate
//! without downtime: add the new key everywhere, then switch `auth N`, then remove the old one.
//!
//! A [`Keyring`] holds keyed MAC states built once at start-up; signing and verifying clone a
//! state on the stack and never allocate.

use crate::error::ConfigError;
use hmac::{Mac, SimpleHmac};
use std::path::Path;

/// The MAC method of a key; the discriminant is the wire's method byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Method {
    /// CRC-32 of the packet: detects corruption, gives no security (heartbeat's `crc`).
    Crc = 1,
    /// HMAC-MD5 (heartbeat's `md5`).
    Md5 = 2,
    /// HMAC-SHA1 (heartbeat's `sha1`).
    Sha1 = 3,
    /// HMAC-SHA256, hb's default.
    Sha256 = 4,
}

impl Method {
    /// The MAC length on the wire.
    pub const fn mac_len(self) -> usize {
        match self {
            Method::Crc => 4,
            Method::Md5 => 16,
            Method::Sha1 => 20,
            Method::Sha256 => 32,
        }
    }
    /// From the wire's method byte.
    pub fn from_wire(b: u8) -> Option<Method> {
        Some(match b {
            1 => Method::Crc,
            2 => Method::Md5,
            3 => Method::Sha1,
            4 => Method::Sha256,
            _ => return None,
        })
    }
    /// The authkeys name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Crc => "crc",
            Method::Md5 => "md5",
            Method::Sha1 => "sha1",
            Method::Sha256 => "sha256",
        }
    }
}

/// The longest MAC any method produces.
pub const MAX_MAC: usize = 32;

/// A parsed `authkeys`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKeys {
    /// The key index used to send (`auth N`).
    pub active: u8,
    /// Keys by index 1..=15 (index 0 unused).
    pub keys: [Option<(Method, Vec<u8>)>; 16],
}

/// The shortest secret that does not draw a warning.
pub const MIN_SECRET: usize = 16;

/// What makes an `authkeys` weaker than it looks. Heartbeat's `crc` and `md5` are accepted
/// for compatibility, and called what they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Weakness {
    /// A `crc` key: a checksum, no authentication at all.
    pub crc: bool,
    /// An `md5` key: a broken hash.
    pub md5: bool,
    /// A secret shorter than [`MIN_SECRET`] bytes.
    pub short_secret: bool,
}

impl Weakness {
    /// Whether anything is weak.
    pub fn any(self) -> bool {
        self.crc || self.md5 || self.short_secret
    }
    /// As bits (for the status page): 1 crc, 2 md5, 4 short secret.
    pub fn bits(self) -> u64 {
        u64::from(self.crc) | u64::from(self.md5) << 1 | u64::from(self.short_secret) << 2
    }
    /// From [`Weakness::bits`].
    pub fn from_bits(b: u64) -> Weakness {
        Weakness { crc: b & 1 != 0, md5: b & 2 != 0, short_secret: b & 4 != 0 }
    }
}

impl AuthKeys {
    /// What is weak about these keys (every key counts: any of them verifies packets).
    pub fn weakness(&self) -> Weakness {
        let mut w = Weakness::default();
        for (m, secret) in self.keys.iter().flatten() {
            match m {
                Method::Crc => w.crc = true,
                Method::Md5 => w.md5 = true,
                _ => {}
            }
            if *m != Method::Crc && secret.len() < MIN_SECRET {
                w.short_secret = true;
            }
        }
        w
    }

    /// One warning per weak key, for start-up and `--check-config`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (m, secret)) in self.keys.iter().enumerate().filter_map(|(i, k)| k.as_ref().map(|k| (i, k))) {
            match m {
                Method::Crc => out.push(format!(
                    "authkeys: key {i} is crc, a checksum and no authentication at all: anyone on the network can forge this cluster's heartbeats, fake a peer alive or lock it out (write a sha256 key with `hbctl keygen`)"
                )),
                Method::Md5 => out.push(format!("authkeys: key {i} is md5, a broken hash; use sha256 (`hbctl keygen`)")),
                _ => {}
            }
            if *m != Method::Crc && secret.len() < MIN_SECRET {
                out.push(format!(
                    "authkeys: key {i}'s secret is {} bytes; use at least {MIN_SECRET} (`hbctl keygen` writes 32 random bytes)",
                    secret.len()
                ));
            }
        }
        out
    }
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        let listed: Vec<String> =
            self.keys.iter().enumerate().filter_map(|(i, k)| k.as_ref().map(|(m, _)| format!("{i}:{}", m.name()))).collect();
        f.debug_struct("AuthKeys").field("active", &self.active).field("keys", &listed).finish()
    }
}

/// Reads `authkeys`, refusing a file that group or others can access.
pub fn load_authkeys(path: &Path) -> Result<AuthKeys, ConfigError> {
    let err = |what: String| ConfigError { file: path.to_path_buf(), line: 0, what };
    // Not a FIFO, owned by root or us, mode 0600: checked on the open file (crate::files).
    let text = crate::files::read_config(path, true).map_err(|e| err(format!("cannot read: {e}")))?;
    parse_authkeys(&text, path)
}

/// Parses `authkeys` text (no permission check).
pub fn parse_authkeys(text: &str, file: &Path) -> Result<AuthKeys, ConfigError> {
    let err = |line: usize, what: String| ConfigError { file: file.to_path_buf(), line, what };
    let mut keys: [Option<(Method, Vec<u8>)>; 16] = Default::default();
    let mut active: Option<(u8, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut w = line.split_whitespace();
        let first = w.next().unwrap_or_default();
        if first == "auth" {
            if active.is_some() {
                return Err(err(n, "a second `auth` line".into()));
            }
            let idx = w.next().and_then(|s| s.parse::<u8>().ok()).filter(|k| (1..=15).contains(k));
            let Some(idx) = idx else {
                return Err(err(n, "`auth` needs a key number 1-15".into()));
            };
            if w.next().is_some() {
                return Err(err(n, "`auth` takes one key number".into()));
            }
            active = Some((idx, n));
            continue;
        }
        if active.is_none() {
            return Err(err(n, "the first line must be `auth N`".into()));
        }
        let idx = first
            .parse::<u8>()
            .ok()
            .filter(|k| (1..=15).contains(k))
            .ok_or_else(|| err(n, format!("key number {first:?} must be 1-15")))?;
        let method = match w.next() {
            Some("crc") => Method::Crc,
            Some("md5") => Method::Md5,
            Some("sha1") => Method::Sha1,
            Some("sha256") => Method::Sha256,
            Some(m) => return Err(err(n, format!("unknown method {m:?} (crc, md5, sha1, sha256)"))),
            None => return Err(err(n, format!("key {idx} has no method"))),
        };
        // The secret is the rest of the line, as heartbeat reads it.
        let secret = w.collect::<Vec<_>>().join(" ");
        if method == Method::Crc && !secret.is_empty() {
            return Err(err(n, "crc takes no secret".into()));
        }
        if method != Method::Crc && secret.is_empty() {
            return Err(err(n, format!("key {idx} ({}) has no secret", method.name())));
        }
        if keys[usize::from(idx)].is_some() {
            return Err(err(n, format!("key {idx} is defined twice")));
        }
        keys[usize::from(idx)] = Some((method, secret.into_bytes()));
    }
    let Some((active, line)) = active else {
        return Err(err(0, "no `auth N` line".into()));
    };
    if keys[usize::from(active)].is_none() {
        return Err(err(line, format!("`auth {active}` names a key that is not defined")));
    }
    Ok(AuthKeys { active, keys })
}

/// A keyed MAC state, ready to clone per packet.
#[derive(Clone)]
enum KeyState {
    Crc,
    Md5(SimpleHmac<md5::Md5>),
    Sha1(SimpleHmac<sha1::Sha1>),
    Sha256(SimpleHmac<sha2::Sha256>),
}

/// Keyed MAC states for every configured key, built once.
#[derive(Clone)]
pub struct Keyring {
    active: u8,
    states: [Option<(Method, KeyState)>; 16],
}

impl Keyring {
    /// Builds the keyed states (allocates; call at start-up).
    pub fn new(keys: &AuthKeys) -> Keyring {
        let mut states: [Option<(Method, KeyState)>; 16] = Default::default();
        for (i, k) in keys.keys.iter().enumerate() {
            if let Some((m, secret)) = k {
                let st = match m {
                    Method::Crc => KeyState::Crc,
                    Method::Md5 => KeyState::Md5(SimpleHmac::new_from_slice(secret).expect("HMAC takes any key length")),
                    Method::Sha1 => KeyState::Sha1(SimpleHmac::new_from_slice(secret).expect("HMAC takes any key length")),
                    Method::Sha256 => KeyState::Sha256(SimpleHmac::new_from_slice(secret).expect("HMAC takes any key length")),
                };
                states[i] = Some((*m, st));
            }
        }
        Keyring { active: keys.active, states }
    }

    /// The sending key's index and method.
    pub fn active(&self) -> (u8, Method) {
        let (m, _) = self.states[usize::from(self.active)].as_ref().expect("active key exists (checked at parse)");
        (self.active, *m)
    }

    /// The method of key `idx`, if configured.
    pub fn method(&self, idx: u8) -> Option<Method> {
        self.states.get(usize::from(idx))?.as_ref().map(|(m, _)| *m)
    }

    /// Computes the MAC of `data` with key `idx` into `out` and returns its length.
    pub fn sign(&self, idx: u8, data: &[u8], out: &mut [u8; MAX_MAC]) -> Option<usize> {
        let (m, st) = self.states.get(usize::from(idx))?.as_ref()?;
        let len = m.mac_len();
        match st {
            KeyState::Crc => out[..4].copy_from_slice(&crc32fast::hash(data).to_be_bytes()),
            KeyState::Md5(h) => out[..len].copy_from_slice(mac_bytes(h.clone(), data).as_ref()),
            KeyState::Sha1(h) => out[..len].copy_from_slice(mac_bytes(h.clone(), data).as_ref()),
            KeyState::Sha256(h) => out[..len].copy_from_slice(mac_bytes(h.clone(), data).as_ref()),
        }
        Some(len)
    }

    /// Verifies `mac` over `data` with key `idx`, in constant time.
    pub fn verify(&self, idx: u8, data: &[u8], mac: &[u8]) -> bool {
        let mut out = [0u8; MAX_MAC];
        let Some(len) = self.sign(idx, data, &mut out) else {
            return false;
        };
        len == mac.len() && constant_time_eq(&out[..len], mac)
    }
}

fn mac_bytes<M: Mac>(mut h: M, data: &[u8]) -> impl AsRef<[u8]> {
    h.update(data);
    h.finalize().into_bytes()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut d = 0u8;
    for (x, y) in a.iter().zip(b) {
        d |= x ^ y;
    }
    d == 0 && a.len() == b.len()
}

/// A fresh random secret as `authkeys` text (`auth 1` / `1 sha256 <64 hex digits>`).
pub fn generate_authkeys() -> std::io::Result<String> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("# generated by hbctl keygen; keep mode 0600\nauth 1\n1 sha256 {hex}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AuthKeys, String> {
        parse_authkeys(text, Path::new("authkeys")).map_err(|e| e.to_string())
    }

    #[test]
    fn table_of_authkeys_files() {
        let ok = parse("auth 2\n1 crc\n2 sha1 secret with spaces\n3 md5 x\n4 sha256 y\n").unwrap();
        assert_eq!(ok.active, 2);
        assert_eq!(ok.keys[2], Some((Method::Sha1, b"secret with spaces".to_vec())));
        parse("# comment\nauth 1\n1 sha256 abc\n").unwrap();
        let bad: &[(&str, &str)] = &[
            ("1 sha1 x\n", "authkeys:1: the first line must be `auth N`"),
            ("auth 16\n", "authkeys:1: `auth` needs a key number 1-15"),
            ("auth 1\n", "authkeys:1: `auth 1` names a key that is not defined"),
            ("auth 1\n1 rot13 x\n", "authkeys:2: unknown method \"rot13\" (crc, md5, sha1, sha256)"),
            ("auth 1\n1 sha1\n", "authkeys:2: key 1 (sha1) has no secret"),
            ("auth 1\n1 crc x\n", "authkeys:2: crc takes no secret"),
            ("auth 1\n1 crc\n1 md5 x\n", "authkeys:3: key 1 is defined twice"),
            ("auth 1\n0 md5 x\n", "authkeys:2: key number \"0\" must be 1-15"),
            ("", "authkeys: no `auth N` line"),
            ("auth 1\nauth 2\n", "authkeys:2: a second `auth` line"),
        ];
        for (t, want) in bad {
            assert_eq!(parse(t).unwrap_err(), *want, "{t:?}");
        }
    }

    #[test]
    fn readable_authkeys_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hb-authkeys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("authkeys");
        std::fs::write(&p, "auth 1\n1 sha256 k\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_authkeys(&p).unwrap_err().to_string();
        assert!(e.ends_with("mode 0644 lets others read the keys; it must be 0600 (chmod 600)"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        load_authkeys(&p).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        let keys = parse("auth 1\n1 sha256 Jefe\n").unwrap();
        let ring = Keyring::new(&keys);
        let mut out = [0u8; MAX_MAC];
        let n = ring.sign(1, b"what do ya want for nothing?", &mut out).unwrap();
        let hex: String = out[..n].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn every_listed_key_verifies_and_others_do_not() {
        let keys = parse("auth 1\n1 sha256 new\n2 sha1 old\n3 md5 older\n4 crc\n").unwrap();
        let ring = Keyring::new(&keys);
        for idx in 1..=4 {
            let mut out = [0u8; MAX_MAC];
            let n = ring.sign(idx, b"data", &mut out).unwrap();
            assert_eq!(n, ring.method(idx).unwrap().mac_len());
            assert!(ring.verify(idx, b"data", &out[..n]));
            assert!(!ring.verify(idx, b"datb", &out[..n]));
        }
        assert!(!ring.verify(5, b"data", &[0; 4]));
        let other = Keyring::new(&parse("auth 1\n1 sha256 different\n").unwrap());
        let mut out = [0u8; MAX_MAC];
        let n = ring.sign(1, b"data", &mut out).unwrap();
        assert!(!other.verify(1, b"data", &out[..n]));
    }

    #[test]
    fn keygen_output_parses() {
        let t = generate_authkeys().unwrap();
        let k = parse(&t).unwrap();
        assert_eq!(k.keys[1].as_ref().unwrap().0, Method::Sha256);
        assert_eq!(k.keys[1].as_ref().unwrap().1.len(), 64);
    }

    /// Issue 14: weak keys are called what they are, once each.
    #[test]
    fn weak_keys_are_named() {
        let k = parse_authkeys("auth 3\n1 crc\n2 md5 x\n3 sha256 a-good-long-secret-of-32-bytes!\n", Path::new("authkeys")).unwrap();
        assert_eq!(k.weakness(), Weakness { crc: true, md5: true, short_secret: true });
        let w = k.warnings();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("key 1 is crc, a checksum and no authentication at all"), "{w:?}");
        assert!(w[1].contains("key 2 is md5") && w[2].contains("key 2's secret is 1 bytes"), "{w:?}");
        assert_eq!(Weakness::from_bits(k.weakness().bits()), k.weakness());
        let good = parse_authkeys(&generate_authkeys().unwrap(), Path::new("authkeys")).unwrap();
        assert!(!good.weakness().any() && good.warnings().is_empty());
    }
}
