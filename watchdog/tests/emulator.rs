//! The watchdog API against the FUSE watchdog emulator, through real open/write/ioctl/close,
//! and against a real device when `HB_HWTEST_WATCHDOG` names one.

use hb_hwtest::watchdog::{Features, WatchdogEmulator};
use hb_hwtest::{require_root, wait_for};
use hb_watchdog::{OpenOptions, PetMethod, Watchdog, WatchdogError, WDIOF_KEEPALIVEPING, WDIOF_MAGICCLOSE, WDIOF_SETTIMEOUT};
use std::time::Duration;

fn test_mode(timeout: Option<u32>) -> OpenOptions {
    OpenOptions { timeout, pretimeout: None, allow_non_chardev: true }
}

#[test]
fn full_api_pets_and_magic_close_disarms() {
    if !require_root("full_api_pets_and_magic_close_disarms") {
        return;
    }
    let emu = WatchdogEmulator::start(Features::default()).unwrap();
    let mut wd = Watchdog::open(&emu.path(), &OpenOptions { timeout: Some(3), pretimeout: Some(1), allow_non_chardev: true }).unwrap();
    let s = wd.support().expect("GETSUPPORT").clone();
    assert_eq!(
        s.options & (WDIOF_KEEPALIVEPING | WDIOF_MAGICCLOSE | WDIOF_SETTIMEOUT),
        WDIOF_KEEPALIVEPING | WDIOF_MAGICCLOSE | WDIOF_SETTIMEOUT
    );
    assert_eq!(s.identity, "hb-hwtest fuse watchdog");
    assert_eq!(wd.timeout(), Some(3));
    assert_eq!(wd.pretimeout(), Some(1));
    assert_eq!(wd.status(), (Some(0), Some(0)), "GETSTATUS and GETBOOTSTATUS");
    assert_eq!(wd.method(), PetMethod::Ioctl);
    let before = emu.state().pets.len();
    for _ in 0..5 {
        wd.pet().unwrap();
    }
    assert_eq!(emu.state().pets.len(), before + 5);
    assert!(matches!(wd.time_left().unwrap(), Some(2..=3)));
    // Only one opener.
    match Watchdog::open(&emu.path(), &test_mode(None)) {
        Err(e @ WatchdogError::Busy { .. }) => assert!(e.to_string().contains("is already open"), "{e}"),
        other => panic!("second open: {other:?}"),
    }
    assert!(wd.disarm().unwrap(), "magic close promised");
    // FUSE delivers RELEASE asynchronously after close(2) returns.
    let st = wait_for(Duration::from_secs(5), || Some(emu.state()).filter(|s| !s.open)).unwrap();
    assert!(!st.armed && st.disarmed_at.is_some(), "{st:?}");
    std::thread::sleep(Duration::from_millis(3200));
    assert_eq!(emu.state().expired_at, None, "a disarmed watchdog never expires");
}

#[test]
fn close_without_magic_leaves_it_armed_and_it_expires() {
    if !require_root("close_without_magic_leaves_it_armed_and_it_expires") {
        return;
    }
    let emu = WatchdogEmulator::start(Features::default()).unwrap();
    let wd = Watchdog::open(&emu.path(), &test_mode(Some(1))).unwrap();
    drop(wd); // a crash: no 'V'
    let st = wait_for(Duration::from_secs(5), || Some(emu.state()).filter(|s| !s.open)).unwrap();
    assert!(st.armed && st.closed_armed_at.is_some(), "{st:?}");
    let expired = wait_for(Duration::from_secs(5), || emu.state().expired_at);
    let at = expired.expect("the timer expires");
    let last = *emu.state().pets.last().unwrap();
    assert_eq!(at - last, 1_000_000_000, "expiry is one timeout after the last pet");
}

#[test]
fn a_driver_without_keepalive_or_settimeout_is_handled() {
    if !require_root("a_driver_without_keepalive_or_settimeout_is_handled") {
        return;
    }
    let f = Features { keepalive_ioctl: false, settimeout: false, magic_close: true, timeout_s: 7 };
    let emu = WatchdogEmulator::start(f).unwrap();
    let mut wd = Watchdog::open(&emu.path(), &test_mode(Some(2))).unwrap();
    assert_eq!(wd.timeout(), Some(7), "the driver's timeout is used");
    assert!(wd.notes().iter().any(|n| n.contains("cannot be set")), "{:?}", wd.notes());
    assert_eq!(wd.method(), PetMethod::Write);
    let before = emu.state().pets.len();
    wd.pet().unwrap();
    wd.pet().unwrap();
    assert_eq!(emu.state().pets.len(), before + 2);
    assert!(wd.disarm().unwrap());
    assert!(wait_for(Duration::from_secs(5), || (!emu.state().armed).then_some(())).is_some());
}

#[test]
fn a_regular_file_is_refused_outside_test_mode() {
    if !require_root("a_regular_file_is_refused_outside_test_mode") {
        return;
    }
    let emu = WatchdogEmulator::start(Features::default()).unwrap();
    match Watchdog::open(&emu.path(), &OpenOptions::default()) {
        Err(e @ WatchdogError::NotCharDevice { .. }) => {
            assert!(e.to_string().ends_with("is not a character device (a watchdog driver's node is one)"))
        }
        other => panic!("{other:?}"),
    }
    // That open armed the emulator and closed it without 'V': exactly what a real driver
    // would see; nothing else to check.
}

/// With `HB_HWTEST_WATCHDOG=/dev/watchdogN` (a real driver, or softdog loaded with
/// `soft_noboot=1`), the API runs against it: open, support, timeout, pets, time left, and a
/// disarm so the machine is not reset. Without it the emulator tests above stand in.
#[test]
fn a_real_device_when_configured() {
    let Some(dev) = std::env::var_os("HB_HWTEST_WATCHDOG") else {
        eprintln!("HB_HWTEST_WATCHDOG not set: no real watchdog to test (the emulator tests ran)");
        return;
    };
    let mut wd =
        Watchdog::open(std::path::Path::new(&dev), &OpenOptions { timeout: Some(30), pretimeout: None, allow_non_chardev: false }).unwrap();
    eprintln!("{:?} timeout {:?} method {:?} notes {:?}", wd.support(), wd.timeout(), wd.method(), wd.notes());
    for _ in 0..3 {
        wd.pet().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = wd.time_left().unwrap();
    assert!(wd.disarm().unwrap(), "the driver must support magic close, or this test would leave it armed");
}
