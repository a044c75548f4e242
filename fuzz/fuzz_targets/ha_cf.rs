//! Any text as ha.cf: a ConfigError or a config, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cfg) = hb_core::config::parse_ha_cf(text, std::path::Path::new("ha.cf")) {
            let _ = cfg.validate_for("a");
            let _ = cfg.udp_links(&[]);
        }
    }
});
