//! SNMP v1 and v2c messages in BER, sans-I/O: what the APC driver sends (GetRequest and
//! SetRequest of INTEGER values) and the GetResponse it reads back. The decoder checks every
//! length against what is left before it reads, limits nesting to the message's own shape,
//! and answers anything else with an error: it never panics and never allocates more than
//! the message's size.

/// An object identifier, as its arcs.
pub type Oid = Vec<u32>;

/// Parses `.1.3.6.1…` or `1.3.6.1…`.
pub fn oid(text: &str) -> Option<Oid> {
    let arcs: Option<Oid> = text.trim_start_matches('.').split('.').map(|a| a.parse().ok()).collect();
    arcs.filter(|a| a.len() >= 2 && a[0] <= 2 && (a[0] == 2 || a[1] < 40))
}

/// A value in a variable binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// INTEGER.
    Integer(i64),
    /// OCTET STRING.
    Octets(Vec<u8>),
    /// NULL (what a GetRequest carries).
    Null,
    /// OBJECT IDENTIFIER.
    Oid(Oid),
    /// Counter32, Gauge32, TimeTicks, Counter64 (application types 1, 2, 3, 6).
    Unsigned(u64),
    /// v2c: noSuchObject, noSuchInstance or endOfMibView.
    Missing(u8),
    /// Any other type, by its tag (IpAddress, Opaque…): read past, not interpreted.
    Other(u8),
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The request id it answers.
    pub request_id: i32,
    /// SNMP error-status (0 noError, 2 noSuchName, 3 badValue, 4 readOnly, 5 genErr, …).
    pub error_status: i64,
    /// Which binding the error concerns (1-based; 0 none).
    pub error_index: i64,
    /// The bindings.
    pub bindings: Vec<(Oid, Value)>,
}

/// Why bytes are not an SNMP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// A length runs past the data.
    #[error("truncated BER")]
    Truncated,
    /// A tag other than the one the message's shape needs there.
    #[error("unexpected BER tag 0x{0:02x}")]
    Tag(u8),
    /// A length or value this codec does not take (indefinite, over 4 bytes, too large).
    #[error("BER value out of range")]
    Range,
}

/// SNMP versions this codec speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// SNMPv1.
    V1 = 0,
    /// SNMPv2c.
    V2c = 1,
}

/// PDU tags.
pub const GET: u8 = 0xA0;
/// SetRequest.
pub const SET: u8 = 0xA3;
/// GetResponse (Response-PDU).
pub const RESPONSE: u8 = 0xA2;

fn push_len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let b = (n as u32).to_be_bytes();
        let skip = b.iter().take_while(|x| **x == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&b[skip..]);
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    push_len(&mut v, body.len());
    v.extend_from_slice(body);
    v
}

fn int_body(n: i64) -> Vec<u8> {
    let b = n.to_be_bytes();
    let mut i = 0;
    // Drop leading bytes that only repeat the sign.
    while i < 7 && ((b[i] == 0 && b[i + 1] & 0x80 == 0) || (b[i] == 0xFF && b[i + 1] & 0x80 != 0)) {
        i += 1;
    }
    b[i..].to_vec()
}

fn oid_body(o: &[u32]) -> Vec<u8> {
    let mut v = Vec::new();
    let first = o.first().copied().unwrap_or(0) * 40 + o.get(1).copied().unwrap_or(0);
    for arc in std::iter::once(first).chain(o.iter().skip(2).copied()) {
        let mut tmp = [0u8; 5];
        let mut n = 0;
        let mut a = arc;
        loop {
            tmp[n] = (a & 0x7F) as u8;
            n += 1;
            a >>= 7;
            if a == 0 {
                break;
            }
        }
        for k in (0..n).rev() {
            v.push(tmp[k] | if k > 0 { 0x80 } else { 0 });
        }
    }
    v
}

fn value_tlv(v: &Value) -> Vec<u8> {
    match v {
        Value::Integer(n) => tlv(0x02, &int_body(*n)),
        Value::Octets(b) => tlv(0x04, b),
        Value::Null | Value::Missing(_) | Value::Other(_) => tlv(0x05, &[]),
        Value::Oid(o) => tlv(0x06, &oid_body(o)),
        Value::Unsigned(n) => tlv(0x42, &int_body(*n as i64)),
    }
}

/// A GetRequest or SetRequest message.
pub fn request(version: Version, community: &[u8], pdu: u8, request_id: i32, bindings: &[(Oid, Value)]) -> Vec<u8> {
    let mut m = tlv(0x02, &[version as u8]);
    m.extend_from_slice(&tlv(0x04, community));
    m.extend_from_slice(&encode_pdu(pdu, request_id, bindings));
    tlv(0x30, &m)
}

/// A PDU (`pdu` is its tag) with error-status and error-index 0.
pub fn encode_pdu(pdu: u8, request_id: i32, bindings: &[(Oid, Value)]) -> Vec<u8> {
    let mut vbs = Vec::new();
    for (o, v) in bindings {
        let mut b = tlv(0x06, &oid_body(o));
        b.extend_from_slice(&value_tlv(v));
        vbs.extend_from_slice(&tlv(0x30, &b));
    }
    let mut p = tlv(0x02, &int_body(i64::from(request_id)));
    p.extend_from_slice(&tlv(0x02, &[0]));
    p.extend_from_slice(&tlv(0x02, &[0]));
    p.extend_from_slice(&tlv(0x30, &vbs));
    tlv(pdu, &p)
}

/// A TLV of `tag` around `body` (for the v3 message's own fields).
pub fn wrap(tag: u8, body: &[u8]) -> Vec<u8> {
    tlv(tag, body)
}

/// An INTEGER TLV.
pub fn integer(n: i64) -> Vec<u8> {
    tlv(0x02, &int_body(n))
}

/// A cursor over BER bytes.
pub struct Reader<'a> {
    /// What is left.
    pub b: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }
    /// The next element: its tag and contents.
    pub fn element(&mut self) -> Result<(u8, &'a [u8]), BerError> {
        let (&tag, rest) = self.b.split_first().ok_or(BerError::Truncated)?;
        let (&l0, rest) = rest.split_first().ok_or(BerError::Truncated)?;
        let (len, rest) = if l0 < 0x80 {
            (usize::from(l0), rest)
        } else {
            let n = usize::from(l0 & 0x7F);
            if n == 0 || n > 4 {
                return Err(BerError::Range);
            }
            let bytes = rest.get(..n).ok_or(BerError::Truncated)?;
            (bytes.iter().fold(0usize, |a, b| a << 8 | usize::from(*b)), &rest[n..])
        };
        let body = rest.get(..len).ok_or(BerError::Truncated)?;
        self.b = &rest[len..];
        Ok((tag, body))
    }

    /// The next element, which must have `tag`: its contents.
    pub fn expect(&mut self, tag: u8) -> Result<&'a [u8], BerError> {
        match self.element()? {
            (t, body) if t == tag => Ok(body),
            (t, _) => Err(BerError::Tag(t)),
        }
    }

    /// The next element, an INTEGER.
    pub fn integer(&mut self) -> Result<i64, BerError> {
        int_value(self.expect(0x02)?)
    }
}

fn int_value(body: &[u8]) -> Result<i64, BerError> {
    if body.is_empty() || body.len() > 8 {
        return Err(BerError::Range);
    }
    let neg = body[0] & 0x80 != 0;
    Ok(body.iter().fold(if neg { -1i64 } else { 0 }, |a, b| (a << 8) | i64::from(*b)))
}

fn unsigned_value(body: &[u8]) -> Result<u64, BerError> {
    let body = if body.len() == 9 && body[0] == 0 { &body[1..] } else { body };
    if body.is_empty() || body.len() > 8 {
        return Err(BerError::Range);
    }
    Ok(body.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
}

fn oid_value(body: &[u8]) -> Result<Oid, BerError> {
    let mut arcs = Vec::new();
    let mut acc: u64 = 0;
    for (i, b) in body.iter().enumerate() {
        acc = (acc << 7) | u64::from(b & 0x7F);
        if acc > u64::from(u32::MAX) {
            return Err(BerError::Range);
        }
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first as u32);
                arcs.push((acc - first * 40) as u32);
            } else {
                arcs.push(acc as u32);
            }
            acc = 0;
        } else if i + 1 == body.len() {
            return Err(BerError::Truncated);
        }
    }
    if arcs.is_empty() {
        return Err(BerError::Truncated);
    }
    Ok(arcs)
}

/// Decodes a GetResponse message of `version` (the community is not checked: a v1/v2c
/// response proves nothing about its sender either way).
pub fn response(bytes: &[u8], version: Version) -> Result<Response, BerError> {
    let mut top = Reader { b: bytes };
    let mut msg = Reader { b: top.expect(0x30)? };
    if msg.integer()? != version as i64 {
        return Err(BerError::Range);
    }
    msg.expect(0x04)?;
    parse_pdu(msg.expect(RESPONSE)?)
}

/// The contents of a Response or Report PDU.
pub fn parse_pdu(body: &[u8]) -> Result<Response, BerError> {
    let mut pdu = Reader { b: body };
    let request_id = i32::try_from(pdu.integer()?).map_err(|_| BerError::Range)?;
    let error_status = pdu.integer()?;
    let error_index = pdu.integer()?;
    let mut list = Reader { b: pdu.expect(0x30)? };
    let mut bindings = Vec::new();
    while !list.b.is_empty() {
        let mut vb = Reader { b: list.expect(0x30)? };
        let o = oid_value(vb.expect(0x06)?)?;
        let (tag, body) = vb.element()?;
        let v = match tag {
            0x02 => Value::Integer(int_value(body)?),
            0x04 => Value::Octets(body.to_vec()),
            0x05 => Value::Null,
            0x06 => Value::Oid(oid_value(body)?),
            0x41 | 0x42 | 0x43 | 0x46 => Value::Unsigned(unsigned_value(body)?),
            0x80..=0x82 => Value::Missing(tag),
            t => Value::Other(t),
        };
        bindings.push((o, v));
    }
    Ok(Response { request_id, error_status, error_index, bindings })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GetResponse as an agent builds it, from the same pieces.
    fn answer(version: Version, id: i32, status: i64, bindings: &[(Oid, Value)]) -> Vec<u8> {
        let mut r = request(version, b"private", RESPONSE, id, bindings);
        // Patch the error-status in place: it is the second INTEGER of the PDU, and 0 here.
        if status != 0 {
            let pos = r.windows(3).position(|w| w == [0x02, 0x01, 0x00]).unwrap();
            r[pos + 2] = status as u8;
        }
        r
    }

    #[test]
    fn requests_encode_as_net_snmp_does_and_responses_decode() {
        let o = oid(".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.2").unwrap();
        let req = request(Version::V1, b"private", SET, 7, &[(o.clone(), Value::Integer(2))]);
        // As `snmpset -d -v1 -c private HOST OID i 2` sends it, request-id aside (7 here).
        let want = [
            "3030",
            "020100",
            "0407707269766174 65",
            "a322",
            "020107",
            "020100",
            "020100",
            "3017",
            "3015",
            "0610 2b06010401823e01010c03030101 0402",
            "020102",
        ]
        .concat();
        let hex: String = req.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want.replace(' ', ""));
        let a = answer(Version::V1, 7, 0, &[(o.clone(), Value::Integer(2)), (oid("1.3.6.1.2.1.1.3.0").unwrap(), Value::Unsigned(300))]);
        let r = response(&a, Version::V1).unwrap();
        assert_eq!(r.request_id, 7);
        assert_eq!(r.bindings[0], (o, Value::Integer(2)));
        assert_eq!(r.bindings[1].1, Value::Unsigned(300));
        assert_eq!(response(&a, Version::V2c), Err(BerError::Range), "another version");
        for cut in 0..a.len() {
            assert!(response(&a[..cut], Version::V1).is_err());
        }
    }

    #[test]
    fn integers_and_oids_round_trip_at_their_edges() {
        for n in [0i64, 1, 127, 128, 255, 256, -1, -128, -129, i64::from(i32::MAX), i64::from(i32::MIN)] {
            assert_eq!(int_value(&int_body(n)).unwrap(), n, "{n}");
        }
        for o in ["1.3.6.1.4.1.318", "2.999.1", "1.3.4294967295"] {
            let arcs = oid(o).unwrap();
            assert_eq!(oid_value(&oid_body(&arcs)).unwrap(), arcs, "{o}");
        }
        assert_eq!(oid("1.3.x"), None);
        assert_eq!(oid_value(&[0x81]), Err(BerError::Truncated));
        assert_eq!(oid_value(&[0xff, 0xff, 0xff, 0xff, 0x7f]), Err(BerError::Range));
    }
}
