//! The drivers compiled in, by type name (`stonith -L`), and [`open`], which configures one.

use crate::{
    apcmaster, apcsmart, baytech, external, fence_agent, ipmi, lcus, meatware, nw_rpc100s, rcd_serial, rps10, snmp, wti_nps, Code, Driver,
    Info, Params, StonithError,
};

/// Every driver type this build has.
pub fn types() -> &'static [&'static Info] {
    &[
        &apcmaster::INFO,
        &snmp::INFO,
        &apcsmart::INFO,
        &baytech::INFO,
        &fence_agent::INFO,
        &ipmi::INFO,
        &lcus::INFO,
        &meatware::INFO,
        &nw_rpc100s::INFO,
        &rcd_serial::INFO,
        &rps10::INFO,
        &wti_nps::INFO,
    ]
}

/// Every type name `stonith -L` lists: the compiled-in drivers, then each installed
/// cluster-glue external plugin as `external/NAME`.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = types().iter().map(|i| i.name.to_string()).collect();
    v.extend(external::plugins());
    v
}

/// The description of type `name` (`external/NAME` for any installed external plugin).
pub fn info(name: &str) -> Option<&'static Info> {
    if name.starts_with("external/") {
        return external::plugins().iter().any(|p| p == name).then_some(&external::INFO);
    }
    types().iter().copied().find(|i| i.name == name)
}

/// Type `name`'s parameter names, in `-p` order: the driver's own, or what an external
/// plugin says (`getconfignames`).
pub fn param_names(name: &str) -> Result<Vec<String>, StonithError> {
    match info(name) {
        Some(i) if i.name == external::INFO.name => external::param_names(name),
        Some(i) => Ok(i.params.iter().map(|p| p.to_string()).collect()),
        None => Err(unknown(name)),
    }
}

fn unknown(name: &str) -> StonithError {
    StonithError::new(Code::BadConfig, format!("no STONITH driver {name:?} (this build has: {})", names().join(", ")))
}

/// Configures a device of type `name` with `params`: everything that can fail before an
/// operation (parsing, opening the port, resolving addresses) fails here, with `S_BADCONFIG`
/// for an unknown type or a bad parameter.
pub fn open(name: &str, params: &Params) -> Result<Box<dyn Driver>, StonithError> {
    match name {
        "fence_agent" => Ok(Box::new(fence_agent::FenceAgent::open(params)?)),
        "apcmaster" => Ok(Box::new(apcmaster::ApcMaster::open(params)?)),
        "apcsmart" => Ok(Box::new(apcsmart::ApcSmart::open(params)?)),
        "baytech" => Ok(Box::new(baytech::Baytech::open(params)?)),
        "apcmastersnmp" => Ok(Box::new(snmp::ApcSnmp::open(params)?)),
        "ipmilan" => Ok(Box::new(ipmi::Ipmilan::open(params)?)),
        "lcus" => Ok(Box::new(lcus::Lcus::open(params)?)),
        "meatware" => Ok(Box::new(meatware::Meatware::open(params)?)),
        "nw_rpc100s" => Ok(Box::new(nw_rpc100s::NwRpc100s::open(params)?)),
        "rps10" => Ok(Box::new(rps10::Rps10::open(params)?)),
        "wti_nps" => Ok(Box::new(wti_nps::WtiNps::open(params)?)),
        "rcd_serial" => Ok(Box::new(rcd_serial::RcdSerial::open(params)?)),
        n if n.starts_with("external/") && info(n).is_some() => Ok(Box::new(external::External::open(n, params)?)),
        _ => Err(unknown(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_named() {
        let e = open("apcsmartx", &Params::default()).err().expect("no such driver");
        assert_eq!(e.code, Code::BadConfig);
        assert!(
            e.what.contains(
                "no STONITH driver \"apcsmartx\" (this build has: apcmaster, apcmastersnmp, apcsmart, baytech, fence_agent, ipmilan, lcus, meatware, nw_rpc100s, rcd_serial, rps10"
            ),
            "{e}"
        );
        assert_eq!(info("lcus").map(|i| i.params), Some(&["ttydev", "hostmap"][..]));
    }
}
