//! SNMPv3 with the User-based Security Model (RFC 3414) and AES-128 privacy (RFC 3826),
//! sans-I/O: engine discovery, keys from passwords (localised to the agent's engine id),
//! HMAC-MD5-96 or HMAC-SHA-96 authentication, AES-128-CFB encryption, and the decoder of the
//! agent's answers, which verifies their authentication before it believes anything in them.

use super::ber::{self, BerError, Oid, Reader, Response, Value};
use aes::cipher::{BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

/// The authentication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProto {
    /// HMAC-MD5-96.
    Md5,
    /// HMAC-SHA-96.
    Sha,
}

impl AuthProto {
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            AuthProto::Md5 => {
                let mut h = Md5::new();
                parts.iter().for_each(|p| h.update(p));
                h.finalize().to_vec()
            }
            AuthProto::Sha => {
                let mut h = <sha1::Sha1 as sha1::Digest>::new();
                parts.iter().for_each(|p| sha1::Digest::update(&mut h, p));
                sha1::Digest::finalize(h).to_vec()
            }
        }
    }

    fn hmac96(self, key: &[u8], msg: &[u8]) -> [u8; 12] {
        let full = match self {
            AuthProto::Md5 => {
                let mut m = <Hmac<Md5> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }
            AuthProto::Sha => {
                let mut m = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }
        };
        let mut out = [0u8; 12];
        out.copy_from_slice(&full[..12]);
        out
    }

    /// The key a password makes (RFC 3414 A.2: the password repeated over 1 MB, hashed):
    /// computed once, at configuration.
    pub fn password_key(self, password: &[u8]) -> Vec<u8> {
        let mut stream = Vec::with_capacity(1_048_576);
        while !password.is_empty() && stream.len() < 1_048_576 {
            let n = (1_048_576 - stream.len()).min(password.len());
            stream.extend_from_slice(&password[..n]);
        }
        self.digest(&[&stream])
    }

    /// A password key localised to `engine_id` (after discovery).
    pub fn localize(self, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
        self.digest(&[ku, engine_id, ku])
    }

    /// [`Self::password_key`] localised to `engine_id`.
    pub fn localized_key(self, password: &[u8], engine_id: &[u8]) -> Vec<u8> {
        self.localize(&self.password_key(password), engine_id)
    }
}

/// What a user's session with one agent needs.
#[derive(Debug, Clone)]
pub struct Usm {
    /// The user name.
    pub user: Vec<u8>,
    /// Authentication.
    pub auth: AuthProto,
    /// The authentication key, localised (empty until discovery).
    pub auth_key: Vec<u8>,
    /// The privacy key (AES-128), localised; `None`: authNoPriv.
    pub priv_key: Option<[u8; 16]>,
    /// The agent's engine id, boots and time, as last learned.
    pub engine_id: Vec<u8>,
    /// snmpEngineBoots.
    pub boots: u32,
    /// snmpEngineTime.
    pub time: u32,
}

/// A v3 message: `flags` (auth 1, priv 2, reportable 4), security parameters and the scoped
/// PDU (already encrypted when `flags` has priv).
fn message(msg_id: i32, flags: u8, sec_params: &[u8], scoped: &[u8]) -> Vec<u8> {
    let mut global = ber::integer(i64::from(msg_id));
    global.extend_from_slice(&ber::integer(65507));
    global.extend_from_slice(&ber::wrap(0x04, &[flags]));
    global.extend_from_slice(&ber::integer(3));
    let mut m = ber::integer(3);
    m.extend_from_slice(&ber::wrap(0x30, &global));
    m.extend_from_slice(&ber::wrap(0x04, sec_params));
    m.extend_from_slice(scoped);
    ber::wrap(0x30, &m)
}

fn security_params(engine_id: &[u8], boots: u32, time: u32, user: &[u8], auth: &[u8], privacy: &[u8]) -> Vec<u8> {
    let mut s = ber::wrap(0x04, engine_id);
    s.extend_from_slice(&ber::integer(i64::from(boots)));
    s.extend_from_slice(&ber::integer(i64::from(time)));
    s.extend_from_slice(&ber::wrap(0x04, user));
    s.extend_from_slice(&ber::wrap(0x04, auth));
    s.extend_from_slice(&ber::wrap(0x04, privacy));
    ber::wrap(0x30, &s)
}

/// AES-128 in CFB mode with a 128-bit segment (RFC 3826): the same operation both ways but for
/// which bytes feed the next block.
fn aes_cfb(key: &[u8; 16], iv: [u8; 16], data: &mut [u8], decrypt: bool) {
    let cipher = aes::Aes128::new(key.into());
    let mut feedback = iv;
    for chunk in data.chunks_mut(16) {
        let mut block = aes::Block::from(feedback);
        cipher.encrypt_block(&mut block);
        let mut next = [0u8; 16];
        for (i, b) in chunk.iter_mut().enumerate() {
            let c = if decrypt { *b } else { *b ^ block[i] };
            *b ^= block[i];
            next[i] = if decrypt { c } else { *b };
        }
        feedback = next;
    }
}

fn iv(boots: u32, time: u32, salt: &[u8; 8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    iv
}

/// The discovery request: no user, no authentication, reportable, an empty GetRequest. The
/// agent answers with a Report carrying its engine id, boots and time.
pub fn discovery(msg_id: i32, request_id: i32) -> Vec<u8> {
    let pdu = ber::encode_pdu(ber::GET, request_id, &[]);
    let mut scoped = ber::wrap(0x04, &[]);
    scoped.extend_from_slice(&ber::wrap(0x04, &[]));
    scoped.extend_from_slice(&pdu);
    message(msg_id, 0x04, &security_params(&[], 0, 0, &[], &[], &[]), &ber::wrap(0x30, &scoped))
}

impl Usm {
    /// An authenticated (and, with a privacy key, encrypted) request. `salt` is fresh for
    /// every encrypted message.
    pub fn request(&self, msg_id: i32, pdu: u8, request_id: i32, bindings: &[(Oid, Value)], salt: [u8; 8]) -> Vec<u8> {
        let mut scoped = ber::wrap(0x04, &self.engine_id);
        scoped.extend_from_slice(&ber::wrap(0x04, &[]));
        scoped.extend_from_slice(&ber::encode_pdu(pdu, request_id, bindings));
        let scoped = ber::wrap(0x30, &scoped);
        let (flags, scoped, privacy) = match &self.priv_key {
            None => (0x05, scoped, Vec::new()),
            Some(k) => {
                let mut enc = scoped;
                aes_cfb(k, iv(self.boots, self.time, &salt), &mut enc, false);
                (0x07, ber::wrap(0x04, &enc), salt.to_vec())
            }
        };
        let params = security_params(&self.engine_id, self.boots, self.time, &self.user, &[0u8; 12], &privacy);
        let mut m = message(msg_id, flags, &params, &scoped);
        // The auth parameters are the only 12 zero bytes right after an OCTET STRING header of
        // length 12 that follows the user name; find them there and sign in place.
        let at = auth_offset(&m, &self.user).expect("the message has its auth parameters");
        let code = self.auth.hmac96(&self.auth_key, &m);
        m[at..at + 12].copy_from_slice(&code);
        m
    }
}

/// Where the 12 auth-parameter bytes are in a message this module built.
fn auth_offset(m: &[u8], user: &[u8]) -> Option<usize> {
    let mut needle = ber::wrap(0x04, user);
    needle.extend_from_slice(&[0x04, 12]);
    m.windows(needle.len()).position(|w| w == needle.as_slice()).map(|p| p + needle.len())
}

/// What an agent's v3 message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// msgID.
    pub msg_id: i32,
    /// The agent's engine id, boots and time.
    pub engine: (Vec<u8>, u32, u32),
    /// A Report (discovery, or a USM error such as unknown user or wrong digest): its
    /// first binding's OID names which.
    pub report: bool,
    /// The PDU.
    pub pdu: Response,
}

/// Decodes an agent's v3 message. With `usm` (keys known), an authenticated message must
/// verify and an encrypted one is decrypted; without it (discovery), only an unauthenticated
/// Report is taken.
pub fn answer(bytes: &[u8], usm: Option<&Usm>) -> Result<Answer, BerError> {
    let mut top = Reader::new(bytes);
    let whole = top.expect(0x30)?;
    let mut msg = Reader::new(whole);
    if msg.integer()? != 3 {
        return Err(BerError::Range);
    }
    let mut global = Reader::new(msg.expect(0x30)?);
    let msg_id = i32::try_from(global.integer()?).map_err(|_| BerError::Range)?;
    global.integer()?;
    let flags = *global.expect(0x04)?.first().ok_or(BerError::Truncated)?;
    if global.integer()? != 3 {
        return Err(BerError::Range);
    }
    let sec_bytes = msg.expect(0x04)?;
    let mut sec = Reader::new(Reader::new(sec_bytes).expect(0x30)?);
    let engine_id = sec.expect(0x04)?.to_vec();
    let boots = u32::try_from(sec.integer()?).map_err(|_| BerError::Range)?;
    let time = u32::try_from(sec.integer()?).map_err(|_| BerError::Range)?;
    let user = sec.expect(0x04)?;
    let auth_params = sec.expect(0x04)?;
    let priv_params = sec.expect(0x04)?;
    let authenticated = flags & 0x01 != 0;
    let scoped: Vec<u8> = match usm {
        Some(u) => {
            if !authenticated || user != u.user.as_slice() || auth_params.len() != 12 {
                return Err(BerError::Range);
            }
            // Verify over the message with the auth parameters zeroed.
            let offset = auth_params.as_ptr() as usize - bytes.as_ptr() as usize;
            let mut zeroed = bytes.to_vec();
            zeroed[offset..offset + 12].fill(0);
            let want = u.auth.hmac96(&u.auth_key, &zeroed);
            if want.iter().zip(auth_params).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
                return Err(BerError::Range);
            }
            if flags & 0x02 != 0 {
                let key = u.priv_key.ok_or(BerError::Range)?;
                let salt: [u8; 8] = priv_params.try_into().map_err(|_| BerError::Range)?;
                let mut data = msg.expect(0x04)?.to_vec();
                aes_cfb(&key, iv(boots, time, &salt), &mut data, true);
                data
            } else {
                msg.b.to_vec()
            }
        }
        None => {
            if authenticated {
                return Err(BerError::Range);
            }
            msg.b.to_vec()
        }
    };
    let mut s = Reader::new(Reader::new(&scoped).expect(0x30)?);
    s.expect(0x04)?;
    s.expect(0x04)?;
    let (tag, body) = s.element()?;
    let report = match tag {
        0xA8 => true,
        ber::RESPONSE => false,
        t => return Err(BerError::Tag(t)),
    };
    if usm.is_none() && !report {
        return Err(BerError::Range);
    }
    Ok(Answer { msg_id, engine: (engine_id, boots, time), report, pdu: ber::parse_pdu(body)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3414 A.3.1 and A.3.2: "maplesyrup", engine id 00..02.
    #[test]
    fn keys_localise_as_rfc_3414_says() {
        let engine = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(&AuthProto::Md5.localized_key(b"maplesyrup", &engine)), "526f5eed9fcce26f8964c2930787d82b");
        assert_eq!(hex(&AuthProto::Sha.localized_key(b"maplesyrup", &engine)), "6695febc9288e36282235fc7151f128497b38f3f");
    }

    #[test]
    fn aes_cfb_round_trips_partial_blocks() {
        let key = [7u8; 16];
        for len in [0usize, 1, 15, 16, 17, 40] {
            let plain: Vec<u8> = (0..len as u8).collect();
            let mut d = plain.clone();
            aes_cfb(&key, [3; 16], &mut d, false);
            if len > 0 {
                assert_ne!(d, plain);
            }
            aes_cfb(&key, [3; 16], &mut d, true);
            assert_eq!(d, plain);
        }
    }

    #[test]
    fn our_own_requests_decode_as_answers_would_and_tampering_fails() {
        let mut u = Usm {
            user: b"fenceuser".to_vec(),
            auth: AuthProto::Sha,
            auth_key: vec![1; 20],
            priv_key: Some([2; 16]),
            engine_id: vec![0x80, 0, 0x1f, 0x88, 4],
            boots: 3,
            time: 100,
        };
        for privacy in [true, false] {
            if !privacy {
                u.priv_key = None;
            }
            let m = u.request(9, ber::RESPONSE, 77, &[(ber::oid("1.3.6.1.2.1.1.3.0").unwrap(), Value::Integer(5))], [4; 8]);
            let a = answer(&m, Some(&u)).unwrap();
            assert_eq!((a.msg_id, a.pdu.request_id, a.report), (9, 77, false));
            assert_eq!(a.pdu.bindings[0].1, Value::Integer(5));
            let mut bad = m.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(answer(&bad, Some(&u)).is_err());
            for cut in 0..m.len() {
                assert!(answer(&m[..cut], Some(&u)).is_err());
            }
        }
    }
}
