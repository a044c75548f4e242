//! `external/NAME`: cluster-glue's external STONITH plugins — executables in
//! `/usr/lib/stonith/plugins/external` (or the directory `HB_STONITH_EXTERNAL_DIR` names) that
//! take the action as arguments (`gethosts`, `status`, `reset HOST`, `on HOST`, `off HOST`,
//! `getconfignames`, `getinfo-*`) and their parameters as environment variables of the same
//! names. One of the two kinds of driver allowed to fork. As cluster-glue does, a plugin
//! decides itself which hosts it can fence, a failed `status` is `S_BADCONFIG` and a failed
//! power action `S_RESETFAIL`.
//!
//! Unlike cluster-glue, which asks the plugin for its parameter names and hosts on every
//! call, both are asked once, when the device is configured.

use crate::child::{self, Finished};
use crate::{Action, Code, Driver, Info, Params, StonithError};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// This driver family's description (the parameter names are each plugin's own).
pub const INFO: Info = Info {
    name: "external",
    description: "cluster-glue external/* plugin scripts (forks)",
    params: &[],
    forks: true,
    confirms: false,
    operator: false,
};

/// Where cluster-glue installs external plugins.
pub const DEFAULT_DIR: &str = "/usr/lib/stonith/plugins/external";
/// How long configuration may spend asking a plugin for its names and hosts.
const ASK_TIMEOUT: Duration = Duration::from_secs(30);

/// The plugin directory in use.
pub fn dir() -> PathBuf {
    std::env::var_os("HB_STONITH_EXTERNAL_DIR").map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

/// Every plugin in [`dir`], as `external/NAME`, sorted.
pub fn plugins() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .map(|rd| {
            rd.flatten().filter(|e| e.path().is_file()).filter_map(|e| e.file_name().to_str().map(|n| format!("external/{n}"))).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The plugin file for type `external/NAME`.
fn plugin_path(kind: &str) -> Result<PathBuf, StonithError> {
    let name = kind.strip_prefix("external/").unwrap_or(kind);
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(StonithError::new(Code::BadConfig, format!("{kind:?} is not external/NAME")));
    }
    let p = dir().join(name);
    if !p.is_file() {
        return Err(StonithError::new(Code::BadConfig, format!("no external plugin at {}", p.display())));
    }
    Ok(p)
}

/// Runs plugin `path` with `args` and `params` in its environment.
fn call(path: &PathBuf, args: &[&str], params: &Params, deadline: Instant) -> Result<Finished, StonithError> {
    let mut cmd = Command::new(path);
    cmd.args(args).env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (k, v) in params.pairs() {
        cmd.env(k, v);
    }
    child::run(cmd, "", deadline)
}

/// The plugin's parameter names (`getconfignames`).
pub fn param_names(kind: &str) -> Result<Vec<String>, StonithError> {
    let path = plugin_path(kind)?;
    let f = call(&path, &["getconfignames"], &Params::default(), Instant::now() + ASK_TIMEOUT)?;
    if f.status != Some(0) {
        return Err(StonithError::new(Code::BadConfig, format!("{} getconfignames failed", path.display())));
    }
    Ok(f.stdout.split_whitespace().map(str::to_string).collect())
}

/// A configured plugin.
pub struct External {
    path: PathBuf,
    params: Params,
    hosts: Vec<String>,
}

impl External {
    /// Configures plugin `kind` (`external/NAME`) with `params`; asks for its hosts once.
    pub fn open(kind: &str, params: &Params) -> Result<External, StonithError> {
        let path = plugin_path(kind)?;
        let f = call(&path, &["gethosts"], params, Instant::now() + ASK_TIMEOUT)?;
        if f.status != Some(0) {
            let said = f.stderr.lines().next().unwrap_or("no message");
            return Err(StonithError::new(Code::BadConfig, format!("{} gethosts failed: {said}", path.display())));
        }
        let hosts = f.stdout.split_whitespace().map(str::to_string).collect();
        Ok(External { path, params: params.clone(), hosts })
    }
}

impl Driver for External {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn status(&mut self, deadline: Instant) -> Result<(), StonithError> {
        let f = call(&self.path, &["status"], &self.params, deadline)?;
        match f.status {
            Some(0) => Ok(()),
            _ => Err(StonithError::new(
                Code::BadConfig,
                format!("{} status failed: {}", self.path.display(), f.stderr.lines().next().unwrap_or("no message")),
            )),
        }
    }

    fn act(&mut self, action: Action, host: &str, deadline: Instant) -> Result<(), StonithError> {
        let f = call(&self.path, &[action.name(), host], &self.params, deadline)?;
        match f.status {
            Some(0) => Ok(()),
            _ => Err(StonithError::new(
                Code::ResetFail,
                format!("{} {} {host} failed: {}", self.path.display(), action.name(), f.stderr.lines().next().unwrap_or("no message")),
            )),
        }
    }
}
