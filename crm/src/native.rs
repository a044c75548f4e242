//! The native resource definitions in `crm.cf`, for what `haresources` cannot say: OCF
//! agents with named parameters, and groups named by the user.
//!
//! ```text
//! resource NAME ocf:PROVIDER:TYPE [PARAM=VALUE …]    # ocf:heartbeat:IPaddr2 ip=10.0.0.10 cidr_netmask=24
//! resource NAME lsb:SCRIPT                            # /etc/init.d/SCRIPT
//! resource NAME heartbeat:SCRIPT [ARG …]              # resource.d/SCRIPT ARG … start|stop|status
//! resource NAME process:/PATH [apphb=APP] [ARG …]     # a program the CRM runs itself
//! group NAME NODE RESOURCE [RESOURCE …]               # its preferred node, then its resources in start order
//! ```
//!
//! A resource belongs to one group; names are unique among resources (and `haresources`'s
//! resource ids), and among groups. Every error names `crm.cf` and the line.

use crate::agent::{Agent, OCF_ROOT};
use crate::config::{Resource, Settings};
use crate::policy::GroupSpec;
use std::path::Path;

/// Whether `s` is a name: letters, digits, `_`, `-`, `.`, not starting with `.`.
fn is_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The agent of a `resource` line's class and the words after it.
fn agent(s: &Settings, name: &str, class: &str, rest: &[&str]) -> Result<Agent, String> {
    if let Some(path) = class.strip_prefix("process:") {
        let path = Path::new(path);
        if !path.is_absolute() || !executable(path) {
            return Err(format!("process:{}: not an absolute path to an executable", path.display()));
        }
        let (apphb, args) = match rest.split_first() {
            Some((first, args)) if first.starts_with("apphb=") => (Some(first["apphb=".len()..].to_string()), args),
            _ => (None, rest),
        };
        return Ok(Agent::Process(crate::process::Process {
            path: path.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            pidfile: crate::process::pidfile(&s.run_dir, name),
            apphb,
        }));
    }
    let parts: Vec<&str> = class.split(':').collect();
    match parts.as_slice() {
        ["ocf", provider, kind] if is_name(provider) && is_name(kind) => {
            let path = Path::new(OCF_ROOT).join("resource.d").join(provider).join(kind);
            if !executable(&path) {
                return Err(format!("no OCF agent {} (is resource-agents installed?)", path.display()));
            }
            let params = rest
                .iter()
                .map(|w| match w.split_once('=') {
                    Some((k, v)) if is_name(k) => Ok((k.to_string(), v.to_string())),
                    _ => Err(format!("{w:?} is not PARAM=VALUE")),
                })
                .collect::<Result<_, _>>()?;
            Ok(Agent::Ocf { provider: provider.to_string(), kind: kind.to_string(), params })
        }
        ["lsb", script] if is_name(script) && rest.is_empty() => {
            let path = s.init_dir.join(script);
            executable(&path).then_some(Agent::Lsb { script: path.clone() }).ok_or(format!("no init script {}", path.display()))
        }
        ["heartbeat", script] if is_name(script) => {
            let path = s.resource_dir.join(script);
            if !executable(&path) {
                return Err(format!("no resource script {}", path.display()));
            }
            Ok(Agent::Heartbeat { script: path, args: rest.iter().map(|a| a.to_string()).collect() })
        }
        ["lsb", _] => Err("an lsb: resource takes no arguments".into()),
        _ => Err(format!("{class:?} is not a class (ocf:PROVIDER:TYPE, lsb:SCRIPT, heartbeat:SCRIPT or process:/PATH)")),
    }
}

/// Adds `crm.cf`'s resources and groups (its `resource` and `group` lines, with their line
/// numbers) to those from `haresources`.
pub fn add(s: &Settings, nodes: &[String], resources: &mut Vec<Resource>, groups: &mut Vec<GroupSpec>) -> Result<(), String> {
    let file = s.config_dir.join("crm.cf");
    let err = |line: usize, what: String| format!("{}:{line}: {what}", file.display());
    let mut defined: Vec<(String, Agent, usize)> = Vec::new();
    for (line, text) in &s.native {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["resource", name, class, rest @ ..] => {
                if !is_name(name) {
                    return Err(err(*line, format!("{name:?} is not a resource name")));
                }
                if defined.iter().any(|(n, _, _)| n == name) || resources.iter().any(|r| r.id == *name) {
                    return Err(err(*line, format!("resource {name} is defined twice")));
                }
                defined.push((
                    name.to_string(),
                    agent(s, name, class, rest).map_err(|e| err(*line, format!("resource {name}: {e}")))?,
                    *line,
                ));
            }
            ["resource", ..] => return Err(err(*line, "resource NAME CLASS [PARAM=VALUE …]".into())),
            ["group", name, node, members @ ..] if !members.is_empty() => {
                if !is_name(name) || groups.iter().any(|g| g.key == *name) {
                    return Err(err(*line, format!("group {name:?}: not a name, or a group of that name exists")));
                }
                if !nodes.iter().any(|n| n == node) {
                    return Err(err(*line, format!("group {name}: {node:?} is not a node of ha.cf ({})", nodes.join(", "))));
                }
                for m in members {
                    let Some(i) = defined.iter().position(|(n, _, _)| n == m) else {
                        return Err(err(*line, format!("group {name}: no resource {m} is defined above")));
                    };
                    if resources.iter().any(|r| r.id == *m) {
                        return Err(err(*line, format!("group {name}: resource {m} is already in a group")));
                    }
                    resources.push(Resource { id: m.to_string(), group: name.to_string(), agent: defined[i].1.clone() });
                }
                groups.push(GroupSpec {
                    key: name.to_string(),
                    preferred: node.to_string(),
                    resources: members.iter().map(|m| m.to_string()).collect(),
                });
            }
            _ => return Err(err(*line, "group NAME NODE RESOURCE [RESOURCE …]".into())),
        }
    }
    if let Some((n, _, line)) = defined.iter().find(|(n, _, _)| !resources.iter().any(|r| r.id == *n)) {
        return Err(err(*line, format!("resource {n} is in no group")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &str) -> Result<(Vec<Resource>, Vec<GroupSpec>), String> {
        let mut s = Settings::defaults("/etc/ha.d".into(), "a".into());
        s.apply(Path::new("crm.cf"), lines)?;
        let (mut r, mut g) = (Vec::new(), Vec::new());
        add(&s, &["a".into(), "b".into()], &mut r, &mut g).map(|_| (r, g))
    }

    #[test]
    fn ocf_resources_in_named_groups() {
        let (r, g) =
            run("resource d1 ocf:heartbeat:Dummy state=/tmp/d1 fake=x\nresource d2 ocf:heartbeat:Dummy\ngroup web b d1 d2\n").unwrap();
        assert_eq!(g, [GroupSpec { key: "web".into(), preferred: "b".into(), resources: vec!["d1".into(), "d2".into()] }]);
        assert_eq!(
            r[0].agent,
            Agent::Ocf {
                provider: "heartbeat".into(),
                kind: "Dummy".into(),
                params: vec![("state".into(), "/tmp/d1".into()), ("fake".into(), "x".into())]
            }
        );
    }

    #[test]
    fn process_resources_take_an_application_heartbeat_and_arguments() {
        let (r, _) = run("resource p process:/bin/sleep apphb=sleeper 60\ngroup g a p\n").unwrap();
        let Agent::Process(p) = &r[0].agent else { panic!("{r:?}") };
        assert_eq!((p.apphb.as_deref(), p.args.as_slice()), (Some("sleeper"), &["60".to_string()][..]));
        assert_eq!(p.pidfile, Path::new("/run/hb/crm-p.pid"));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            (
                "resource d ocf:heartbeat:NoSuch\n",
                "/etc/ha.d/crm.cf:1: resource d: no OCF agent /usr/lib/ocf/resource.d/heartbeat/NoSuch (is resource-agents installed?)",
            ),
            ("resource d ocf:heartbeat:Dummy state\n", "/etc/ha.d/crm.cf:1: resource d: \"state\" is not PARAM=VALUE"),
            (
                "resource d ocf:Dummy\n",
                "/etc/ha.d/crm.cf:1: resource d: \"ocf:Dummy\" is not a class (ocf:PROVIDER:TYPE, lsb:SCRIPT, heartbeat:SCRIPT or process:/PATH)",
            ),
            ("resource p process:sleep\n", "/etc/ha.d/crm.cf:1: resource p: process:sleep: not an absolute path to an executable"),
            ("resource d ocf:heartbeat:Dummy\nresource d ocf:heartbeat:Dummy\n", "/etc/ha.d/crm.cf:2: resource d is defined twice"),
            ("resource d ocf:heartbeat:Dummy\ngroup g c d\n", "/etc/ha.d/crm.cf:2: group g: \"c\" is not a node of ha.cf (a, b)"),
            ("group g a d\n", "/etc/ha.d/crm.cf:1: group g: no resource d is defined above"),
            ("resource d ocf:heartbeat:Dummy\n", "/etc/ha.d/crm.cf:1: resource d is in no group"),
            ("resource d ocf:heartbeat:Dummy\ngroup g a d\ngroup h a d\n", "/etc/ha.d/crm.cf:3: group h: resource d is already in a group"),
            ("group g a\n", "/etc/ha.d/crm.cf:1: group NAME NODE RESOURCE [RESOURCE …]"),
        ] {
            assert_eq!(run(text).unwrap_err(), want, "{text:?}");
        }
    }
}
