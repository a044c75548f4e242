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
}
