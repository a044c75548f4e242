//! The drivers compiled in, by type name (`stonith -L`), and [`open`], which configures one.

use crate::{fence_agent, lcus, rcd_serial, Code, Driver, Info, Params, StonithError};

/// Every driver type this build has.
pub fn types() -> &'static [&'static Info] {
    &[&fence_agent::INFO, &lcus::INFO, &rcd_serial::INFO]
}

/// The description of type `name`.
pub fn info(name: &str) -> Option<&'static Info> {
    types().iter().copied().find(|i| i.name == name)
}

/// Configures a device of type `name` with `params`: everything that can fail before an
/// operation (parsing, opening the port, resolving addresses) fails here, with `S_BADCONFIG`
/// for an unknown type or a bad parameter.
pub fn open(name: &str, params: &Params) -> Result<Box<dyn Driver>, StonithError> {
    match name {
        "fence_agent" => Ok(Box::new(fence_agent::FenceAgent::open(params)?)),
        "lcus" => Ok(Box::new(lcus::Lcus::open(params)?)),
        "rcd_serial" => Ok(Box::new(rcd_serial::RcdSerial::open(params)?)),
        _ => {
            let known: Vec<&str> = types().iter().map(|i| i.name).collect();
            Err(StonithError::new(Code::BadConfig, format!("no STONITH driver {name:?} (this build has: {})", known.join(", "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_named() {
        let e = open("apcmaster", &Params::default()).err().expect("not built yet");
        assert_eq!(e.code, Code::BadConfig);
        assert!(e.what.contains("no STONITH driver \"apcmaster\" (this build has: fence_agent, lcus, rcd_serial)"), "{e}");
        assert_eq!(info("lcus").map(|i| i.params), Some(&["ttydev", "hostmap"][..]));
    }
}
