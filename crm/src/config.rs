//! The CRM's configuration: `ha.cf` (the nodes, `auto_failback`), `haresources` (the groups),
//! each resource resolved to the agent that runs it, and the CRM's own settings. Everything
//! that can be wrong is found here, at start-up or with `hb-crmd --check-config`, and named
//! with its file and line.
//!
//! `crm.cf` (optional, in the same directory) holds the CRM's own settings, one per line:
//! `no_fencing refuse|r1`, `monitor_interval TIME`, `op_timeout TIME`, `migration_threshold N`
//! (times in heartbeat's syntax: `5`, `1.5`, `500ms`), which `hb-crmd`'s options override;
//! and native `resource` and `group` definitions ([`crate::native`]), after `haresources`'s
//! groups. Either file may be absent.
//!
//! A `haresources` resource `NAME[::ARG…]` is heartbeat's: the script `NAME` in the
//! `resource.d` directory (`/etc/ha.d/resource.d`), else the LSB init script
//! `/etc/init.d/NAME`, run as `SCRIPT ARG… start|stop|status`.

use crate::agent::Agent;
use crate::haresources::{self, Group};
use crate::policy::{Failback, GroupSpec, NoFencing, Policy};
use hb_core::config::{parse_ha_cf, AutoFailback};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where things are and how the CRM behaves, from its command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The directory of `ha.cf` and `haresources`.
    pub config_dir: PathBuf,
    /// heartbeat's resource scripts.
    pub resource_dir: PathBuf,
    /// LSB init scripts.
    pub init_dir: PathBuf,
    /// This node's name.
    pub node: String,
    /// Without fencing.
    pub no_fencing: NoFencing,
    /// How often running resources are monitored.
    pub monitor_interval: Duration,
    /// Each operation's deadline.
    pub op_timeout: Duration,
    /// Failures after which a group leaves this node (0: never).
    pub migration_threshold: u32,
    /// `crm.cf`'s `resource` and `group` lines, with their line numbers ([`crate::native`]).
    pub native: Vec<(usize, String)>,
    /// hbd's run directory, where process resources keep their pid files.
    pub run_dir: PathBuf,
}

impl Settings {
    /// The defaults, for `node` with its configuration in `config_dir`.
    pub fn defaults(config_dir: PathBuf, node: String) -> Settings {
        Settings {
            resource_dir: config_dir.join("resource.d"),
            config_dir,
            init_dir: PathBuf::from("/etc/init.d"),
            node,
            no_fencing: NoFencing::Refuse,
            monitor_interval: Duration::from_secs(5),
            op_timeout: Duration::from_secs(20),
            migration_threshold: 3,
            native: Vec::new(),
            run_dir: PathBuf::from("/run/hb"),
        }
    }

    /// Applies `crm.cf` from the configuration directory, if there is one.
    pub fn read_crm_cf(&mut self) -> Result<(), String> {
        let path = self.config_dir.join("crm.cf");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("{}: cannot read it: {e}", path.display())),
        };
        self.apply(&path, &text)
    }

    /// Applies the settings in `text` (the contents of `path`).
    pub fn apply(&mut self, path: &Path, text: &str) -> Result<(), String> {
        for (i, raw) in text.lines().enumerate() {
            let err = |what: String| format!("{}:{}: {what}", path.display(), i + 1);
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line.split_once(char::is_whitespace).map(|(k, v)| (k, v.trim())).unwrap_or((line, ""));
            let time = |v: &str| -> Result<Duration, String> {
                let t = hb_core::time::parse_duration(v).map_err(|e| err(format!("{key}: {e}")))?;
                Ok(Duration::from_nanos(t.0))
            };
            match key {
                "no_fencing" => {
                    self.no_fencing = match value {
                        "refuse" => NoFencing::Refuse,
                        "r1" => NoFencing::R1,
                        _ => return Err(err(format!("no_fencing {value:?}: refuse or r1"))),
                    }
                }
                "monitor_interval" => self.monitor_interval = time(value)?.max(Duration::from_millis(100)),
                "op_timeout" => self.op_timeout = time(value)?.max(Duration::from_secs(1)),
                "resource" | "group" => self.native.push((i + 1, line.to_string())),
                "migration_threshold" => {
                    self.migration_threshold = value.parse().map_err(|_| err(format!("migration_threshold {value:?} is not a number")))?
                }
                _ => {
                    return Err(err(format!(
                    "unknown setting {key:?} (crm.cf takes no_fencing, monitor_interval, op_timeout, migration_threshold, resource, group)"
                )))
                }
            }
        }
        Ok(())
    }
}

/// One resource, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its id (unique).
    pub id: String,
    /// Its group's key.
    pub group: String,
    /// How it is run.
    pub agent: Agent,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The policy's part.
    pub policy: Policy,
    /// Every resource.
    pub resources: Vec<Resource>,
    /// The cluster's nodes, in `ha.cf` order.
    pub nodes: Vec<String>,
    /// The settings it was read with.
    pub settings: Settings,
    /// A digest of the groups (FNV-1a of their keys, in order): peers with another
    /// `haresources` are told apart, since the groups are named by their index.
    pub digest: u32,
}

/// FNV-1a, 32 bits.
fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// The script that runs `name`: `resource.d/NAME` or `init.d/NAME`, executable.
fn script(s: &Settings, name: &str) -> Option<(PathBuf, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let hb = s.resource_dir.join(name);
    if runnable(&hb) {
        return Some((hb, true));
    }
    let lsb = s.init_dir.join(name);
    runnable(&lsb).then_some((lsb, false))
}

impl Config {
    /// Reads `ha.cf` and `haresources` from the settings' directory.
    pub fn load(settings: Settings) -> Result<Config, String> {
        let hacf_path = settings.config_dir.join("ha.cf");
        let text = std::fs::read_to_string(&hacf_path).map_err(|e| format!("{}: cannot read it: {e}", hacf_path.display()))?;
        let hacf = parse_ha_cf(&text, &hacf_path).map_err(|e| e.to_string())?;
        if !hacf.nodes.iter().any(|n| n == &settings.node) {
            return Err(format!(
                "{}: this node ({}) is not one of its nodes ({})",
                hacf_path.display(),
                settings.node,
                hacf.nodes.join(", ")
            ));
        }
        let hares_path = settings.config_dir.join("haresources");
        let groups = if hares_path.exists() { haresources::read(&hares_path, &hacf.nodes).map_err(|e| e.to_string())? } else { Vec::new() };
        let failback = match hacf.auto_failback {
            AutoFailback::On => Failback::On,
            AutoFailback::Off => Failback::Off,
            AutoFailback::Legacy => Failback::Legacy,
        };
        Config::build(settings, hacf.nodes, groups, failback, &hares_path)
    }

    /// Resolves each resource's agent and assembles the configuration.
    pub fn build(settings: Settings, nodes: Vec<String>, groups: Vec<Group>, failback: Failback, file: &Path) -> Result<Config, String> {
        let mut resources = Vec::new();
        let mut specs = Vec::new();
        for g in &groups {
            for r in &g.resources {
                let (path, heartbeat) = script(&settings, &r.script).ok_or_else(|| {
                    format!(
                        "{}:{}: no resource script {:?} (looked for an executable {} and {})",
                        file.display(),
                        g.line,
                        r.script,
                        settings.resource_dir.join(&r.script).display(),
                        settings.init_dir.join(&r.script).display()
                    )
                })?;
                let agent = if heartbeat {
                    Agent::Heartbeat { script: path, args: r.args.clone() }
                } else if r.args.is_empty() {
                    Agent::Lsb { script: path }
                } else {
                    return Err(format!("{}:{}: {:?} is an init script, which takes no ::arguments", file.display(), g.line, r.id));
                };
                resources.push(Resource { id: r.id.clone(), group: g.key().to_string(), agent });
            }
            specs.push(GroupSpec {
                key: g.key().to_string(),
                preferred: g.node.clone(),
                resources: g.resources.iter().map(|r| r.id.clone()).collect(),
            });
        }
        crate::native::add(&settings, &nodes, &mut resources, &mut specs)?;
        let keys: Vec<u8> = specs.iter().flat_map(|g| g.key.bytes().chain([0])).collect();
        let policy = Policy { groups: specs, failback, no_fencing: settings.no_fencing, migration_threshold: settings.migration_threshold };
        Ok(Config { policy, resources, nodes, digest: fnv1a(&keys), settings })
    }

    /// A resource by id.
    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn settings(dir: &Path) -> Settings {
        let mut s = Settings::defaults(dir.to_path_buf(), "a".into());
        s.init_dir = dir.join("init.d");
        s
    }

    #[test]
    fn crm_cf_sets_and_errors_name_the_line() {
        let mut s = Settings::defaults("/x".into(), "a".into());
        s.apply(Path::new("crm.cf"), "# mine\nno_fencing r1\nmonitor_interval 500ms # often\nop_timeout 30\nmigration_threshold 0\n")
            .unwrap();
        assert_eq!(
            (s.no_fencing, s.monitor_interval, s.op_timeout, s.migration_threshold),
            (NoFencing::R1, Duration::from_millis(500), Duration::from_secs(30), 0)
        );
        for (text, want) in [
            ("\nno_fencing maybe\n", "crm.cf:2: no_fencing \"maybe\": refuse or r1"),
            ("op_timeout soon\n", "crm.cf:1: op_timeout: \"soon\" is not a time (use e.g. 2, 1.5, 250ms)"),
            (
                "stickiness 5\n",
                "crm.cf:1: unknown setting \"stickiness\" (crm.cf takes no_fencing, monitor_interval, op_timeout, migration_threshold, resource, group)",
            ),
        ] {
            assert_eq!(s.apply(Path::new("crm.cf"), text).unwrap_err(), want);
        }
    }

    #[test]
    fn resources_resolve_to_resource_d_then_init_d_and_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("hb-crm-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (sub, name) in [("resource.d", "IPaddr"), ("init.d", "httpd"), ("init.d", "IPaddr")] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            let p = dir.join(sub).join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("ha.cf"), "ucast lo 127.0.0.1\nnode a b\nauto_failback off\n").unwrap();
        std::fs::write(dir.join("haresources"), "a 10.0.0.10/24 httpd\nb IPaddr::10.0.0.11\n").unwrap();
        let c = Config::load(settings(&dir)).unwrap();
        assert_eq!(c.policy.failback, Failback::Off);
        assert_eq!(c.policy.groups[0].resources, ["IPaddr::10.0.0.10/24", "httpd"]);
        assert_eq!(
            c.resource("IPaddr::10.0.0.10/24").unwrap().agent,
            Agent::Heartbeat { script: dir.join("resource.d/IPaddr"), args: vec!["10.0.0.10/24".into()] }
        );
        assert_eq!(c.resource("httpd").unwrap().agent, Agent::Lsb { script: dir.join("init.d/httpd") });
        std::fs::write(dir.join("haresources"), "a 10.0.0.10\n\nb nosuch::x\n").unwrap();
        let e = Config::load(settings(&dir)).unwrap_err();
        assert!(e.starts_with(&format!("{}:3: no resource script \"nosuch\"", dir.join("haresources").display())), "{e}");
        std::fs::write(dir.join("haresources"), "a httpd::x\n").unwrap();
        assert!(Config::load(settings(&dir)).unwrap_err().ends_with(":1: \"httpd::x\" is an init script, which takes no ::arguments"));
        let mut s = settings(&dir);
        s.node = "c".into();
        assert!(Config::load(s).unwrap_err().contains("this node (c) is not one of its nodes (a, b)"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
