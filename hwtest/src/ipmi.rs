//! A real BMC simulator for the IPMI tests: OpenIPMI's `ipmi_sim` (Debian `openipmi`) on a
//! free UDP port of 127.0.0.1, with users `admin`/`secret` (admin) and `oper`/`secret`
//! (operator), IPMI 1.5 auth none, straight and MD5, and RMCP+ cipher suites 0–8. Its
//! chassis is a `chassis_control` helper script that keeps the power state in a file and
//! appends every call to another, so a test sees exactly which command reached the
//! "hardware" ([`IpmiSim::calls`], [`IpmiSim::power`]). `ipmi_sim` answers chassis control
//! with an error unless such a helper exists. Stops on drop.

use crate::{Proc, TempDir};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The helper `ipmi_sim` runs for chassis control: `get power` prints `power:<0|1>`, `set
/// power "0"|"1"` and `set reset "1"` change the state; every call is logged.
const CHASSIS: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls"
case "$1 $2" in
  "get power") echo "power:$(cat "$dir/power")" ;;
  "set power") echo "$3" | tr -d '"' > "$dir/power" ;;
esac
exit 0
"#;

/// A running simulator.
pub struct IpmiSim {
    dir: TempDir,
    port: u16,
    _proc: Proc,
}

impl IpmiSim {
    /// Starts `ipmi_sim` with the chassis powered on; waits until it answers. `Err` names
    /// what is missing (the `openipmi` package) or what failed.
    pub fn start() -> Result<IpmiSim, String> {
        if Command::new("ipmi_sim").arg("--version").output().is_err() {
            return Err("ipmi_sim is not installed (Debian package openipmi)".into());
        }
        let dir = TempDir::new("hb-ipmi-sim");
        let port = crate::free_udp_port();
        let d = dir.path.display();
        let w = |name: &str, text: &str| std::fs::write(dir.path.join(name), text).map_err(|e| format!("{name}: {e}"));
        w("chassis", CHASSIS)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path.join("chassis"), std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        w("power", "1\n")?;
        w(
            "lan.conf",
            &format!(
                "name \"hbsim\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    priv_limit admin\n\
                 allowed_auths_callback none md5 straight\n    allowed_auths_user none md5 straight\n\
                 allowed_auths_operator none md5 straight\n    allowed_auths_admin none md5 straight\n\
                 guid a123456789abcdefa123456789abcdef\n  endlan\n  chassis_control \"{d}/chassis\"\n\
                 user 2 true \"admin\" \"secret\" admin 10 none md5 straight\n\
                 user 3 true \"oper\" \"secret\" operator 10 none md5 straight\n"
            ),
        )?;
        w("sim.emu", "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n")?;
        std::fs::create_dir_all(dir.path.join("state")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("ipmi_sim");
        cmd.args(["-n", "-p", "-c"])
            .arg(dir.path.join("lan.conf"))
            .arg("-f")
            .arg(dir.path.join("sim.emu"))
            .arg("-s")
            .arg(dir.path.join("state"));
        cmd.stdout(std::process::Stdio::null()).stderr(std::fs::File::create(dir.path.join("sim.log")).map_err(|e| e.to_string())?);
        let proc = Proc::spawn_checked(cmd).map_err(|e| format!("ipmi_sim: {e}"))?;
        let sim = IpmiSim { dir, port, _proc: proc };
        // Ready once it answers Get Channel Authentication Capabilities (a sessionless ping).
        crate::wait_for(Duration::from_secs(10), || sim.answers().then_some(()))
            .ok_or_else(|| format!("ipmi_sim did not answer on port {port}: {}", sim.log()))?;
        Ok(sim)
    }

    /// Whether the simulator answers a sessionless request.
    fn answers(&self) -> bool {
        let Ok(s) = std::net::UdpSocket::bind("127.0.0.1:0") else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        // RMCP, IPMI 1.5 auth none, Get Channel Authentication Capabilities (channel E, admin).
        let pkt = [6, 0, 0xff, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0x20, 0x18, 0xc8, 0x81, 0x04, 0x38, 0x0e, 0x04, 0x31];
        let mut buf = [0u8; 256];
        s.send_to(&pkt, ("127.0.0.1", self.port)).is_ok() && s.recv(&mut buf).is_ok()
    }

    /// The UDP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every call of the chassis helper so far, one per line (`get power`, `set power 0`, …).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path.join("calls")).unwrap_or_default().lines().map(|l| l.replace('"', "")).collect()
    }

    /// The chassis power now.
    pub fn power(&self) -> bool {
        std::fs::read_to_string(self.dir.path.join("power")).map(|s| s.trim() == "1").unwrap_or(false)
    }

    /// Sets the chassis power without IPMI (the host's own button).
    pub fn set_power(&self, on: bool) {
        std::fs::write(self.dir.path.join("power"), if on { "1\n" } else { "0\n" }).expect("the power file");
    }

    /// The simulator's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path.join("sim.log")).unwrap_or_default()
    }

    /// Where its files are (for a test that wants to look).
    pub fn dir(&self) -> PathBuf {
        self.dir.path.clone()
    }
}
