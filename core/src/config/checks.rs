//! What `ha.cf` can only be judged on as a whole, after its last line: heartbeat 3.0's derived
//! defaults and cross-checks of the timing, the ping nodes against the nodes, and the
//! watchdog's interval against its timeout. Each error names the line that set the value.

use super::directives::{Parser, Seen};
use super::{HaCf, MAX_NODES, MAX_PING_ADDRS, RX_WAKEUP_AUTO_MAX};
use crate::error::ConfigError;
use crate::time::Nanos;

/// Applies the derived defaults and cross-checks; returns the finished configuration.
pub(super) fn finish(p: Parser) -> Result<HaCf, ConfigError> {
    let Parser { mut cfg, seen } = p;
    timing(&mut cfg, &seen)?;
    pings(&mut cfg, &seen)?;
    watchdog(&mut cfg, &seen)?;
    super::stonith::finish(&cfg)?;
    Ok(cfg)
}

fn err(cfg: &HaCf, line: usize, what: String) -> ConfigError {
    ConfigError { file: cfg.file.clone(), line, what }
}

/// keepalive, deadtime, warntime, initdead, rx_wakeup and stall_threshold, as heartbeat 3.0
/// derives and checks them.
fn timing(cfg: &mut HaCf, seen: &Seen) -> Result<(), ConfigError> {
    if cfg.deadtime.0 <= 2 * cfg.keepalive.0 {
        let what = format!("deadtime {} must be more than 2 x keepalive {}", cfg.deadtime, cfg.keepalive);
        return Err(err(cfg, seen.deadtime.max(seen.keepalive), what));
    }
    if seen.warntime == 0 {
        cfg.warntime = Nanos(cfg.deadtime.0 / 2);
    } else if cfg.warntime >= cfg.deadtime {
        return Err(err(cfg, seen.warntime, format!("warntime {} must be less than deadtime {}", cfg.warntime, cfg.deadtime)));
    } else if cfg.warntime < cfg.keepalive {
        return Err(err(cfg, seen.warntime, format!("warntime {} must be at least keepalive {}", cfg.warntime, cfg.keepalive)));
    }
    if seen.initdead == 0 {
        cfg.initdead = if cfg.deadtime > Nanos::from_millis(10_000) {
            cfg.deadtime
        } else if cfg.deadtime < Nanos::from_millis(6_000) {
            Nanos::from_millis(12_000)
        } else {
            Nanos(cfg.deadtime.0 * 2)
        };
    } else if cfg.initdead < cfg.deadtime {
        return Err(err(cfg, seen.initdead, format!("initdead {} must be at least deadtime {}", cfg.initdead, cfg.deadtime)));
    }
    cfg.rx_wakeup = seen.rx_wakeup.unwrap_or(cfg.keepalive > RX_WAKEUP_AUTO_MAX);
    if seen.stall_threshold == 0 {
        cfg.stall_threshold = Nanos((cfg.keepalive.0 / 2).clamp(1_000_000, 100_000_000));
    }
    Ok(())
}

/// deadping, and the ping nodes against each other, the nodes and the tables' sizes.
fn pings(cfg: &mut HaCf, seen: &Seen) -> Result<(), ConfigError> {
    if seen.deadping == 0 {
        cfg.deadping = cfg.deadtime;
    } else if cfg.deadping.0 <= 2 * cfg.keepalive.0 {
        let what = format!("deadping {} must be more than 2 x keepalive {} (pings go out every keepalive)", cfg.deadping, cfg.keepalive);
        return Err(err(cfg, seen.deadping, what));
    }
    for (i, p) in cfg.pings.iter().enumerate() {
        if let Some(q) = cfg.pings[..i].iter().find(|q| q.name == p.name) {
            return Err(err(cfg, p.line, format!("ping node {} is already configured on line {}", p.name, q.line)));
        }
        if cfg.nodes.contains(&p.name) {
            return Err(err(cfg, p.line, format!("ping node {} has the name of a cluster node", p.name)));
        }
    }
    if cfg.nodes.len() + cfg.pings.len() > MAX_NODES {
        return Err(err(cfg, 0, format!("more than {MAX_NODES} nodes and ping nodes together")));
    }
    for v6 in [false, true] {
        let n_addrs = cfg.pings.iter().flat_map(|p| &p.addrs).filter(|a| a.is_ipv6() == v6).count();
        if n_addrs > MAX_PING_ADDRS {
            return Err(err(cfg, 0, format!("more than {MAX_PING_ADDRS} IPv{} ping addresses", if v6 { 6 } else { 4 })));
        }
    }
    Ok(())
}

/// watchdog_interval: a third of the timeout by default, at most half of it.
fn watchdog(cfg: &mut HaCf, seen: &Seen) -> Result<(), ConfigError> {
    let wd_timeout = Nanos(u64::from(cfg.watchdog_timeout) * 1_000_000_000);
    if cfg.watchdog_interval == Nanos::ZERO {
        cfg.watchdog_interval = Nanos(wd_timeout.0 / 3);
    } else if cfg.watchdog_interval.0 * 2 > wd_timeout.0 {
        let what =
            format!("watchdog_interval {} must be at most half of watchdog_timeout {}s", cfg.watchdog_interval, cfg.watchdog_timeout);
        return Err(err(cfg, seen.watchdog_interval, what));
    }
    Ok(())
}
