//! `fence_hb`: hb's drivers as a Pacemaker fence agent. It speaks the fence-agent protocol
//! that `pacemaker-fenced` uses: `key=value` lines on standard input (or `-o ACTION`,
//! `-n PLUG` and `--key=value` on the command line), the actions `on`, `off`, `reboot`,
//! `status`, `monitor`, `list`, `list-status`, `metadata` and `validate-all`, and
//! `fencing.py`'s exit codes: 0 done, 1 failed, 2 bad arguments — and for `status`, 0 for
//! on and 2 for off.
//!
//! Which driver: `devtype=TYPE` (e.g. `devtype=lcus`); its own parameters are keys of the same
//! names (`ttydev=…`, `hostmap=…`). The target is `plug=` (or `port=`, or `nodename=`).

use crate::stonith_cli::xml_escape;
use hb_stonith_hw::{registry, Action, Code, Info, Params, StonithError};
use std::time::{Duration, Instant};

/// `fencing.py`'s exit codes used here.
const EC_OK: u8 = 0;
const EC_GENERIC: u8 = 1;
const EC_BAD_ARGS: u8 = 2;
const EC_TIMED_OUT: u8 = 5;
const EC_STATUS: u8 = 8;

/// Keys every invocation may carry besides the driver's own.
const COMMON: &[&str] = &["action", "devtype", "plug", "port", "nodename", "timeout", "agent", "delay", "verbose", "debug"];

/// Parses `key=value` lines (blank lines and `#` comments skipped) and command-line options
/// into one list; the command line wins.
fn collect(stdin: &str, args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut kv: Vec<(String, String)> = Vec::new();
    for line in stdin.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (k, v) = line.split_once('=').ok_or(format!("stdin line {line:?} is not key=value"))?;
        kv.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{a} needs a value ({name})"));
        match a.as_str() {
            "-o" | "--action" => kv.push(("action".into(), value("action")?)),
            "-n" | "--plug" => kv.push(("plug".into(), value("plug")?)),
            s if s.starts_with("--") && s.contains('=') => {
                let (k, v) = s[2..].split_once('=').unwrap_or_default();
                kv.push((k.replace('-', "_"), v.to_string()));
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(kv)
}

fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Runs the agent: (stdout, stderr, exit status).
pub fn run(stdin: &str, args: &[String]) -> (String, String, u8) {
    let kv = match collect(stdin, args) {
        Ok(kv) => kv,
        Err(e) => return (String::new(), format!("fence_hb: {e}\n"), EC_BAD_ARGS),
    };
    let action = get(&kv, "action").unwrap_or("reboot");
    if action == "metadata" {
        return (metadata(), String::new(), EC_OK);
    }
    let Some(info) = get(&kv, "devtype").and_then(registry::info) else {
        let types: Vec<&str> = registry::types().iter().map(|i| i.name).collect();
        return (String::new(), format!("fence_hb: devtype= must name one of: {}\n", types.join(", ")), EC_BAD_ARGS);
    };
    let params = Params::from_pairs(kv.iter().filter(|(k, _)| !COMMON.contains(&k.as_str())).cloned());
    let timeout = get(&kv, "timeout").and_then(|t| t.parse::<f64>().ok()).and_then(|t| Duration::try_from_secs_f64(t).ok());
    let deadline = Instant::now() + timeout.unwrap_or(Duration::from_secs(60));
    let mut d = match registry::open(info.name, &params) {
        Ok(d) => d,
        Err(e) => return (String::new(), format!("fence_hb: {e}\n"), EC_BAD_ARGS),
    };
    let plug = get(&kv, "plug").or_else(|| get(&kv, "port")).or_else(|| get(&kv, "nodename"));
    let fail = |e: StonithError| {
        let code = match e.code {
            Code::BadConfig | Code::Inval | Code::BadHost => EC_BAD_ARGS,
            Code::Timeout => EC_TIMED_OUT,
            _ => EC_GENERIC,
        };
        (String::new(), format!("fence_hb: {e}\n"), code)
    };
    match action {
        "validate-all" => (String::new(), String::new(), EC_OK),
        "monitor" => d.status(deadline).map_or_else(fail, |()| (String::new(), String::new(), EC_OK)),
        "list" | "list-status" => {
            let suffix = if action == "list-status" { ",unknown" } else { "" };
            (d.hosts().iter().map(|h| format!("{h},{h}{suffix}\n")).collect(), String::new(), EC_OK)
        }
        "status" => status(info),
        "on" | "off" | "reboot" => {
            let Some(plug) = plug else {
                return (String::new(), "fence_hb: plug= (or port=, nodename=) names no target\n".into(), EC_BAD_ARGS);
            };
            let a = Action::parse(action).unwrap_or(Action::Reset);
            d.act(a, &plug.to_lowercase(), deadline).map_or_else(fail, |()| (format!("Success: {}\n", past(action)), String::new(), EC_OK))
        }
        other => (String::new(), format!("fence_hb: unknown action {other:?}\n"), EC_BAD_ARGS),
    }
}

/// `status` needs a read-back, which none of the drivers built so far can do: say so rather
/// than guess on or off.
fn status(info: &Info) -> (String, String, u8) {
    (String::new(), format!("fence_hb: a {} device cannot read a host's power state back ({})\n", info.name, info.description), EC_STATUS)
}

fn past(action: &str) -> &'static str {
    match action {
        "on" => "Powered ON",
        "off" => "Powered OFF",
        _ => "Rebooted",
    }
}

/// The agent's metadata in the fence-agent format `stonith_admin --metadata` reads.
fn metadata() -> String {
    let types: Vec<&str> = registry::types().iter().map(|i| i.name).collect();
    let mut o = String::from(
        "<?xml version=\"1.0\" ?>\n<resource-agent name=\"fence_hb\" shortdesc=\"Fence agent for hb's compiled-in STONITH drivers\">\n",
    );
    o.push_str(&format!(
        "<longdesc>fence_hb runs one of hb's STONITH drivers ({}) as a Pacemaker fence agent. devtype names the driver; its parameters are passed under their own names.</longdesc>\n<vendor-url>https://github.com/ClusterLabs/cluster-glue</vendor-url>\n<parameters>\n",
        xml_escape(&types.join(", "))
    ));
    let param = |o: &mut String, name: &str, required: bool, getopt: &str, desc: &str| {
        o.push_str(&format!(
            "\t<parameter name=\"{}\" unique=\"0\" required=\"{}\">\n\t\t<getopt mixed=\"{}\" />\n\t\t<content type=\"string\" />\n\t\t<shortdesc lang=\"en\">{}</shortdesc>\n\t</parameter>\n",
            xml_escape(name),
            u8::from(required),
            xml_escape(getopt),
            xml_escape(desc)
        ));
    };
    param(
        &mut o,
        "action",
        false,
        "-o, --action=[action]",
        "Fencing action: on, off, reboot, status, monitor, list, list-status, metadata, validate-all",
    );
    param(&mut o, "devtype", true, "--devtype=[type]", &format!("The hb STONITH driver: {}", types.join(", ")));
    param(&mut o, "plug", false, "-n, --plug=[node]", "The node to fence");
    let mut seen: Vec<&str> = Vec::new();
    for i in registry::types() {
        for p in i.params {
            if seen.contains(p) {
                continue;
            }
            seen.push(p);
            param(
                &mut o,
                p,
                false,
                &format!("--{p}=[value]"),
                &format!("A parameter of the {} driver (and others that share its name)", i.name),
            );
        }
    }
    o.push_str("</parameters>\n<actions>\n");
    for a in ["on", "off", "reboot", "status", "monitor", "list", "list-status", "metadata", "validate-all"] {
        o.push_str(&format!("\t<action name=\"{a}\" />\n"));
    }
    o.push_str("</actions>\n</resource-agent>\n");
    o
}
