//! Which outlets power which host, for the devices with numbered outlets (PDUs, network power
//! switches): from a `hostmap=` parameter, or from the outlet names the device reports (a host
//! is every outlet named after it; unnamed outlets are nobody's). Host names compare without
//! regard to case.

use crate::{Action, Code, Power, StonithError};

/// Hosts in first-seen order, each with its outlets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Outlets(Vec<(String, Vec<u32>)>);

impl Outlets {
    /// Adds outlet `n` to `host`.
    fn add(&mut self, host: &str, n: u32) {
        match self.0.iter_mut().find(|(h, _)| h.eq_ignore_ascii_case(host)) {
            Some((_, o)) => o.push(n),
            None => self.0.push((host.to_string(), vec![n])),
        }
    }

    /// `node1:1,node2:2,4` (spaces also separate entries; a host may be named more than once).
    pub(crate) fn parse(text: &str) -> Result<Outlets, StonithError> {
        let mut out = Outlets::default();
        for item in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
            let bad = || StonithError::new(Code::BadConfig, format!("hostmap entry {item:?} is not host:outlet (outlet 1-256)"));
            let (h, n) = item.rsplit_once(':').ok_or_else(bad)?;
            let n: u32 = n.parse().ok().filter(|n| (1..=256).contains(n)).ok_or_else(bad)?;
            if h.is_empty() {
                return Err(bad());
            }
            out.add(h, n);
        }
        Ok(out)
    }

    /// From the device's (outlet, name) pairs: each name a host, empty names skipped.
    pub(crate) fn from_names(names: impl IntoIterator<Item = (u32, String)>) -> Outlets {
        let mut out = Outlets::default();
        for (n, name) in names {
            let name = name.trim();
            if !name.is_empty() {
                out.add(name, n);
            }
        }
        out
    }

    /// Whether no host is known.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The hosts, in order.
    pub(crate) fn hosts(&self) -> Vec<String> {
        self.0.iter().map(|(h, _)| h.clone()).collect()
    }

    /// `host`'s outlets, or `S_BADHOST` saying `device` (e.g. "outlet of the PDU at …") powers
    /// no such host.
    pub(crate) fn of(&self, host: &str, device: &str) -> Result<Vec<u32>, StonithError> {
        self.0
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(host))
            .map(|(_, o)| o.clone())
            .ok_or_else(|| StonithError::new(Code::BadHost, format!("no {device} powers {host}")))
    }
}

/// Does `action` to `outlets` through `switch(on)`, which turns them on or off and returns
/// every outlet's power as the device reads it afterwards (`None`: not shown). Each step must
/// read back as asked (`S_RESETFAIL` naming `device` and the outlet otherwise), and a reset is
/// an off read back as off, then an on: the host is known to have lost power, which a
/// switch's own reboot command cannot show.
pub(crate) fn act_read_back(
    device: &str,
    action: Action,
    outlets: &[u32],
    mut switch: impl FnMut(bool) -> Result<Vec<(u32, Option<bool>)>, StonithError>,
) -> Result<(), StonithError> {
    for on in [false, true] {
        if (on && action == Action::Off) || (!on && action == Action::On) {
            continue;
        }
        let read = switch(on)?;
        if let Some(n) = outlets.iter().find(|n| !read.contains(&(**n, Some(on)))) {
            let state = if on { "on" } else { "off" };
            return Err(StonithError::new(Code::ResetFail, format!("{device}: outlet {n} does not read {state} after the command")));
        }
    }
    Ok(())
}

/// `host`'s power from every outlet's power as the device reads it: on if any of its
/// `outlets` is on; an error if the listing leaves one out.
pub(crate) fn power_of(device: &str, host: &str, outlets: &[u32], read: &[(u32, Option<bool>)]) -> Result<Power, StonithError> {
    let mine: Vec<Option<bool>> = outlets.iter().map(|n| read.iter().find(|(m, _)| m == n).and_then(|(_, on)| *on)).collect();
    if mine.iter().any(Option::is_none) {
        return Err(StonithError::new(Code::Oops, format!("{device}: the listing does not show every outlet of {host}")));
    }
    Ok(if mine.contains(&Some(true)) { Power::On } else { Power::Off })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostmaps_and_names_group_outlets_by_host() {
        let m = Outlets::parse("node1:1, node2:2,NODE2:3").unwrap();
        assert_eq!(m.hosts(), ["node1", "node2"]);
        assert_eq!(m.of("Node2", "plug").unwrap(), [2, 3]);
        assert_eq!(m.of("x", "plug of the switch").unwrap_err().to_string(), "S_BADHOST: no plug of the switch powers x");
        for bad in ["a", "a:0", "a:257", ":1"] {
            assert_eq!(Outlets::parse(bad).unwrap_err().code, Code::BadConfig, "{bad:?}");
        }
        let n = Outlets::from_names([(1, "a".into()), (2, " ".into()), (3, "A".into())]);
        assert_eq!((n.hosts(), n.of("a", "o").unwrap()), (vec!["a".to_string()], vec![1, 3]));
        assert!(Outlets::from_names([]).is_empty());
    }

    #[test]
    fn a_reset_is_an_off_read_back_then_an_on() {
        let mut asked = Vec::new();
        let all = |on| vec![(1, Some(on)), (2, Some(on))];
        act_read_back("d", Action::Reset, &[1, 2], |on| {
            asked.push(on);
            Ok(all(on))
        })
        .unwrap();
        assert_eq!(asked, [false, true]);
        let e = act_read_back("d", Action::Off, &[2], |_| Ok(vec![(1, Some(false)), (2, Some(true))])).unwrap_err();
        assert_eq!(e.to_string(), "S_RESETFAIL: d: outlet 2 does not read off after the command");
        assert_eq!(power_of("d", "h", &[1, 2], &all(false)).unwrap(), Power::Off);
        assert_eq!(power_of("d", "h", &[1, 2], &[(1, Some(false)), (2, Some(true))]).unwrap(), Power::On);
        assert_eq!(power_of("d", "h", &[3], &all(true)).unwrap_err().code, Code::Oops);
    }
}
