//! Any text as authkeys: a ConfigError or keys, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(k) = hb_core::auth::parse_authkeys(text, std::path::Path::new("authkeys")) {
            let _ = hb_core::auth::Keyring::new(&k);
        }
    }
});
