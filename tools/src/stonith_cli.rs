//! `hb-stonith`: cluster-glue's `stonith` command line over hb's drivers — the same options,
//! output and exit statuses (the `S_*` codes), so scripts written for `stonith` work
//! unchanged with the drivers `hbd` preloads.

use hb_stonith_hw::{registry, Action, Code, Info, Params, StonithError};
use std::time::{Duration, Instant};

/// The help text (`--help`; `-h` adds every driver's description, as cluster-glue's does).
pub const USAGE: &str = "\
hb-stonith - cluster-glue's stonith command line over hb's STONITH drivers

USAGE
    hb-stonith [-svh] -L
    hb-stonith [-svh] -t TYPE -n
    hb-stonith [-svh] -t TYPE -m
    hb-stonith [-svh] -t TYPE {-p PARAMETERS | -F FILE | -E | name=value...} [-c COUNT] -lS
    hb-stonith [-svh] -t TYPE {-p PARAMETERS | -F FILE | -E | name=value...} [-c COUNT]
               -T {reset|on|off} NODE

OPTIONS
    -L             list the device types: hb's compiled-in drivers, then every installed
                   cluster-glue external plugin as external/NAME
    -t TYPE        the device type
    -n             its parameter names, in -p order
    -m             its metadata (resource-agent XML)
    -p PARAMETERS  the parameters' values in -n order, separated by white space; the last
                   takes the rest of the string
    -F FILE        the same, from a file (lines starting with # are comments)
    -E             the parameters from environment variables of the same names
    name=value     the parameters by name
    -l             list the hosts the device controls
    -S             report the device's status
    -T ACTION NODE reset, on or off NODE (lower-cased)
    -c COUNT       do it COUNT times
    -s             silent: no error message
    -v             verbose
    -h             this text and every device type's description; --help: this text
    --timeout S    (hb's) the deadline of each operation, seconds        [default: 60]

EXIT STATUS
    cluster-glue's codes: 0 S_OK, 1 S_BADCONFIG (and a bad command line), 2 S_ACCESS,
    3 S_INVAL, 4 S_BADHOST, 5 S_RESETFAIL, 6 S_TIMEOUT, 7 S_ISOFF, 8 S_OOPS (also an unknown
    device type, as cluster-glue's stonith).

SEE ALSO
    stonith(8), fence_hb(8), hbd(8)
";

/// Where the parameters come from.
#[derive(Debug, Default)]
enum Source {
    #[default]
    Pairs,
    Positional(String),
    File(String),
    Env,
}

#[derive(Debug, Default)]
struct Cli {
    list_types: bool,
    kind: Option<String>,
    names: bool,
    meta: bool,
    list_hosts: bool,
    status: bool,
    silent: bool,
    verbose: bool,
    help: bool,
    long_help: bool,
    count: u32,
    source: Source,
    pairs: Vec<String>,
    action: Option<(Action, String)>,
    timeout: Duration,
}

fn parse(args: Vec<String>) -> Result<Cli, String> {
    use lexopt::prelude::*;
    let mut c = Cli { count: 1, timeout: Duration::from_secs(60), ..Cli::default() };
    let mut p = lexopt::Parser::from_args(args);
    let text = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "not UTF-8".to_string())
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('L') => c.list_types = true,
            Short('t') => c.kind = Some(text(&mut p)?),
            Short('n') => c.names = true,
            Short('m') => c.meta = true,
            Short('l') => c.list_hosts = true,
            Short('S') => c.status = true,
            Short('s') => c.silent = true,
            Short('v') => c.verbose = true,
            Short('d') => {}
            Short('h') => c.help = true,
            Long("help") => c.long_help = true,
            Short('c') => c.count = text(&mut p)?.parse().map_err(|_| "-c needs a count")?,
            Short('p') => c.source = Source::Positional(text(&mut p)?),
            Short('F') => c.source = Source::File(text(&mut p)?),
            Short('E') => c.source = Source::Env,
            Short('T') => {
                let a = text(&mut p)?;
                let action = Action::parse(&a).ok_or(format!("-T {a:?}: reset, on or off"))?;
                let node = text(&mut p).map_err(|_| "-T needs a node name".to_string())?;
                c.action = Some((action, node.to_lowercase()));
            }
            Long("timeout") => {
                let s: f64 = text(&mut p)?.parse().map_err(|_| "--timeout needs seconds")?;
                c.timeout = Duration::try_from_secs_f64(s).map_err(|_| "--timeout needs positive seconds")?;
            }
            Value(v) => c.pairs.push(v.into_string().map_err(|_| "not UTF-8")?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(c)
}

/// Runs the command line; returns the output for stdout, the message for stderr and the exit
/// status.
pub fn run(args: Vec<String>, env: &dyn Fn(&str) -> Option<String>) -> (String, String, u8) {
    let c = match parse(args) {
        Ok(c) => c,
        Err(e) => return (String::new(), format!("hb-stonith: {e}\n{USAGE}"), 1),
    };
    if c.long_help {
        return (USAGE.into(), String::new(), 0);
    }
    if c.help {
        return (help_text(), String::new(), 0);
    }
    if c.list_types {
        return (registry::names().iter().map(|n| format!("{n}\n")).collect(), String::new(), 0);
    }
    let Some(kind) = c.kind.as_deref() else { return (String::new(), USAGE.into(), 1) };
    let Some(info) = registry::info(kind) else {
        let e = registry::open(kind, &Params::default()).err().map(|e| e.to_string()).unwrap_or_default();
        return (String::new(), format!("hb-stonith: {e}\n"), Code::Oops as u8);
    };
    let names = match registry::param_names(kind) {
        Ok(n) => n,
        Err(e) => return (String::new(), format!("hb-stonith: {e}\n"), e.code as u8),
    };
    if c.names {
        return (names.iter().map(|n| format!("{n}  ")).collect::<String>() + "\n", String::new(), 0);
    }
    if c.meta {
        return (metadata(kind, info, &names), String::new(), 0);
    }
    if !c.list_hosts && !c.status && c.action.is_none() {
        return (String::new(), USAGE.into(), 1);
    }
    match act(&c, kind, info, &names, env) {
        Ok(out) => (out, String::new(), 0),
        Err(e) if c.silent => (String::new(), String::new(), e.code as u8),
        Err(e) => (String::new(), format!("hb-stonith: {e}\n"), e.code as u8),
    }
}

/// Configures the device and does what was asked, `count` times.
fn act(c: &Cli, kind: &str, info: &Info, names: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<String, StonithError> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let params = match &c.source {
        Source::Pairs => Params::parse_pairs(&c.pairs.iter().map(String::as_str).collect::<Vec<_>>())?,
        Source::Positional(text) => Params::parse_positional(text, &names)?,
        Source::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| StonithError::new(Code::BadConfig, format!("{path}: {e}")))?;
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
            Params::parse_positional(&lines.join(" "), &names)?
        }
        Source::Env => Params::from_pairs(names.iter().filter_map(|n| env(n).map(|v| (*n, v)))),
    };
    let mut d = registry::open(kind, &params)?;
    let mut out = String::new();
    for _ in 0..c.count.max(1) {
        let deadline = Instant::now() + c.timeout;
        if c.list_hosts {
            for h in d.hosts() {
                out.push_str(&h);
                out.push('\n');
            }
        }
        if c.status {
            d.status(deadline)?;
            if c.verbose {
                out.push_str(&format!("{kind} device OK.\n"));
            }
        }
        if let Some((action, node)) = &c.action {
            d.act(*action, node, deadline)?;
            if c.verbose {
                out.push_str(&format!(
                    "{} {node}: done{}.\n",
                    action.name(),
                    if info.confirms { ", confirmed" } else { " (this device cannot confirm)" }
                ));
            }
        }
    }
    Ok(out)
}

fn help_text() -> String {
    let mut o = String::from(USAGE);
    o.push_str("\nSTONITH -t device types and associated configuration details:\n");
    for i in registry::types() {
        o.push_str(&format!("\n\nSTONITH Device: {} - {}\n", i.name, i.description));
        o.push_str(&format!("List of valid parameter names for {} STONITH device:\n", i.name));
        for p in i.params {
            o.push_str(&format!("\t{p}\n"));
        }
        o.push_str("For Config info [-p] syntax, give each of the above parameters in order as\nthe -p value.\nArguments are separated by white space.\nConfig file [-F] syntax is the same as -p, except # at the start of a line\ndenotes a comment\n");
    }
    o
}

/// XML text with `&`, `<`, `>` and `"` escaped (also for `fence_hb`'s metadata).
pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The device type's metadata in the resource-agent format cluster-glue's `stonith -m` prints.
fn metadata(kind: &str, i: &Info, names: &[String]) -> String {
    let mut o = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n<resource-agent name=\"{}\">\n<version>1.0</version>\n<longdesc lang=\"en\">\n{}\n</longdesc>\n<shortdesc lang=\"en\">{}</shortdesc>\n<parameters>",
        xml_escape(kind),
        xml_escape(i.description),
        xml_escape(i.description)
    );
    for p in names {
        o.push_str(&format!(
            "<parameter name=\"{0}\" unique=\"0\" required=\"1\"><content type=\"string\" />\n<shortdesc lang=\"en\">{0}</shortdesc>\n<longdesc lang=\"en\">{0}</longdesc>\n</parameter>\n",
            xml_escape(p)
        ));
    }
    o.push_str("</parameters>\n<actions>\n<action name=\"start\"   timeout=\"20\" />\n<action name=\"stop\"    timeout=\"15\" />\n<action name=\"status\"  timeout=\"20\" />\n<action name=\"monitor\" timeout=\"20\" interval=\"3600\" />\n<action name=\"meta-data\"  timeout=\"15\" />\n</actions>\n<special tag=\"heartbeat\">\n<version>2.0</version>\n</special>\n</resource-agent>\n");
    o
}
