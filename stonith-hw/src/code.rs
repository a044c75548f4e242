//! cluster-glue's STONITH result codes (`include/stonith/stonith.h`), which the `stonith`
//! command line also uses as exit statuses, and the error every driver returns.

/// A STONITH result, numbered as cluster-glue numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    /// `S_OK`: done (and confirmed, where the device can confirm).
    Ok = 0,
    /// `S_BADCONFIG`: a parameter is missing or wrong.
    BadConfig = 1,
    /// `S_ACCESS`: the device refused us (wrong password, no permission).
    Access = 2,
    /// `S_INVAL`: an invalid argument (an unknown action).
    Inval = 3,
    /// `S_BADHOST`: the device does not control that host.
    BadHost = 4,
    /// `S_RESETFAIL`: the device did not do it.
    ResetFail = 5,
    /// `S_TIMEOUT`: no answer within the deadline.
    Timeout = 6,
    /// `S_ISOFF`: the host is off (a reset of a host that stays off).
    IsOff = 7,
    /// `S_OOPS`: anything else (an I/O error, a reply that makes no sense).
    Oops = 8,
}

impl Code {
    /// cluster-glue's name, e.g. `S_BADHOST`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "S_OK",
            Code::BadConfig => "S_BADCONFIG",
            Code::Access => "S_ACCESS",
            Code::Inval => "S_INVAL",
            Code::BadHost => "S_BADHOST",
            Code::ResetFail => "S_RESETFAIL",
            Code::Timeout => "S_TIMEOUT",
            Code::IsOff => "S_ISOFF",
            Code::Oops => "S_OOPS",
        }
    }
}

/// A failed STONITH operation: its code and what happened, for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {what}", code.name())]
pub struct StonithError {
    /// The result code.
    pub code: Code,
    /// What failed.
    pub what: String,
}

impl StonithError {
    /// An error with code `code`.
    pub fn new(code: Code, what: impl Into<String>) -> StonithError {
        StonithError { code, what: what.into() }
    }
}

/// The most characters of a device's reply an error quotes.
const QUOTED: usize = 160;

/// The end of a device's reply, escaped and bounded, for an error message: what it said last
/// is what tells the operator most, and garbage must not make a log line of kilobytes.
pub(crate) fn quote_tail(reply: &str) -> String {
    let escaped: Vec<char> = reply.trim().escape_debug().collect();
    match escaped.len().checked_sub(QUOTED) {
        Some(cut) if cut > 0 => format!("\"…{}\"", escaped[cut..].iter().collect::<String>()),
        _ => format!("\"{}\"", escaped.iter().collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_cluster_glues() {
        let all =
            [Code::Ok, Code::BadConfig, Code::Access, Code::Inval, Code::BadHost, Code::ResetFail, Code::Timeout, Code::IsOff, Code::Oops];
        for (i, c) in all.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
        assert_eq!(StonithError::new(Code::BadHost, "no outlet for node c").to_string(), "S_BADHOST: no outlet for node c");
    }

    #[test]
    fn replies_are_quoted_escaped_and_bounded() {
        assert_eq!(quote_tail(" Enter Password: \r\n"), "\"Enter Password:\"");
        assert_eq!(quote_tail("a\u{1b}b"), "\"a\\u{1b}b\"");
        let long = quote_tail(&"\u{14}".repeat(1000));
        assert!(long.starts_with("\"…") && long.chars().count() == QUOTED + 3, "{long}");
    }
}
