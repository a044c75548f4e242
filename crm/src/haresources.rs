//! heartbeat's `haresources`, read as heartbeat's `ResourceManager` reads it: `#` starts a
//! comment anywhere on a line, a line ending in `\` continues on the next, blanks separate
//! words. Each logical line is a resource group: its preferred node (lower-cased), then its
//! resources in start order (they stop in reverse). A resource is `NAME` or
//! `NAME::ARG::ARG…`; a bare IPv4 address (`10.0.0.10`, `10.0.0.10/24/eth0/10.0.0.255`) means
//! `IPaddr::` that address. A group is known by its first resource, as heartbeat knows it.
//!
//! Validation names the file and line of every error: an unknown node, an empty group, a
//! resource named twice, an empty argument, a word that is not a resource.

use std::fmt;
use std::path::{Path, PathBuf};

/// One resource of a group, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaResource {
    /// The script (`IPaddr`, `Filesystem`, `httpd`).
    pub script: String,
    /// The arguments given with `::`.
    pub args: Vec<String>,
    /// The canonical text (`IPaddr::10.0.0.10/24`): its id, unique in the file.
    pub id: String,
}

/// One resource group (a logical line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The node that normally runs it (lower-cased).
    pub node: String,
    /// Its resources in start order.
    pub resources: Vec<HaResource>,
    /// The (first) line it was written on.
    pub line: usize,
}

impl Group {
    /// The group's key: its first resource's id, as heartbeat names a group.
    pub fn key(&self) -> &str {
        &self.resources[0].id
    }
}

/// An error in `haresources`, with its file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaresourcesError {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based).
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for HaresourcesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.what)
    }
}

impl std::error::Error for HaresourcesError {}

/// Whether `word` is an IPv4 address, alone or followed by `/…` (heartbeat's `isip`).
fn is_ip(word: &str) -> bool {
    let addr = word.split('/').next().unwrap_or("");
    addr.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Parses one resource word.
fn resource(word: &str) -> Result<HaResource, String> {
    let canon = if is_ip(word) { format!("IPaddr::{word}") } else { word.to_string() };
    let mut parts = canon.split("::");
    let script = parts.next().unwrap_or("").to_string();
    let args: Vec<String> = parts.map(str::to_string).collect();
    let name_ok = !script.is_empty() && !script.starts_with('.') && script.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    if !name_ok {
        return Err(format!("{word:?} is not a resource (NAME or NAME::ARG…, NAME a script in resource.d or init.d)"));
    }
    if args.iter().any(String::is_empty) {
        return Err(format!("resource {word:?} has an empty argument (between two ::)"));
    }
    Ok(HaResource { script, args, id: canon })
}

/// The logical lines of `text`: comments stripped, continuations joined, each with the line
/// it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let no_comment = raw.split('#').next().unwrap_or("");
        // As heartbeat's sed: the comment goes first, then a `\` at the end joins.
        let (body, continues) = match no_comment.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (no_comment, false),
        };
        let entry = current.get_or_insert_with(|| (i + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(body);
        if !continues {
            let done = current.take().unwrap_or_default();
            if !done.1.trim().is_empty() {
                out.push(done);
            }
        }
    }
    if let Some(done) = current.filter(|d| !d.1.trim().is_empty()) {
        out.push(done);
    }
    out
}

/// Parses `text` (the contents of `file`); `nodes` are the cluster's nodes (`ha.cf`'s `node`
/// lines), which every group's node must be one of.
pub fn parse(file: &Path, text: &str, nodes: &[String]) -> Result<Vec<Group>, HaresourcesError> {
    let err = |line, what| HaresourcesError { file: file.to_path_buf(), line, what };
    let mut groups: Vec<Group> = Vec::new();
    for (line, body) in logical_lines(text) {
        let mut words = body.split_whitespace();
        let node = words.next().unwrap_or_default().to_ascii_lowercase();
        if !nodes.iter().any(|n| n.eq_ignore_ascii_case(&node)) {
            return Err(err(line, format!("node {node:?} is not a node of ha.cf (its nodes: {})", nodes.join(", "))));
        }
        let mut resources = Vec::new();
        for w in words {
            let r = resource(w).map_err(|what| err(line, what))?;
            let seen = groups.iter().flat_map(|g| g.resources.iter().map(move |r| (g.line, r))).chain(resources.iter().map(|r| (line, r)));
            if let Some((at, _)) = seen.into_iter().find(|(_, o)| o.id == r.id) {
                return Err(err(line, format!("resource {:?} is already in the group of line {at}: a resource runs in one group", r.id)));
            }
            resources.push(r);
        }
        if resources.is_empty() {
            return Err(err(line, format!("node {node:?} has no resources: a group is NODE RESOURCE…")));
        }
        groups.push(Group { node, resources, line });
    }
    Ok(groups)
}

/// Reads and parses the file at `path`.
pub fn read(path: &Path, nodes: &[String]) -> Result<Vec<Group>, HaresourcesError> {
    let text = std::fs::read_to_string(path).map_err(|e| HaresourcesError {
        file: path.to_path_buf(),
        line: 0,
        what: format!("cannot read it: {e}"),
    })?;
    parse(path, &text, nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        vec!["alpha".into(), "beta".into(), "just.linux-ha.org".into(), "node1".into()]
    }

    fn p(text: &str) -> Result<Vec<Group>, String> {
        parse(Path::new("haresources"), text, &nodes()).map_err(|e| e.to_string())
    }

    #[test]
    fn groups_resources_and_their_forms() {
        let g = p("# a comment\nALPHA 10.0.0.10/24/eth0 IPaddr2::10.0.0.11/24 \\\n   Filesystem::/dev/sda1::/data1::ext2  # the data\n\nbeta httpd script::a::b\n").unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].node.as_str(), g[0].line, g[1].line), ("alpha", 2, 5));
        let ids: Vec<&str> = g[0].resources.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["IPaddr::10.0.0.10/24/eth0", "IPaddr2::10.0.0.11/24", "Filesystem::/dev/sda1::/data1::ext2"]);
        assert_eq!(g[0].resources[2].script, "Filesystem");
        assert_eq!(g[0].resources[2].args, ["/dev/sda1", "/data1", "ext2"]);
        assert_eq!(g[0].key(), "IPaddr::10.0.0.10/24/eth0");
        assert_eq!(
            g[1].resources[1],
            HaResource { script: "script".into(), args: vec!["a".into(), "b".into()], id: "script::a::b".into() }
        );
    }

    /// Every example of Debian's sample haresources (heartbeat 3.0.6), uncommented, parses.
    #[test]
    fn the_debian_sample_examples_parse() {
        for ex in [
            "just.linux-ha.org\t135.9.216.110",
            "just.linux-ha.org\t135.9.216.110 http",
            "just.linux-ha.org\t135.9.216.110 135.9.215.111 135.9.216.112 httpd",
            "just.linux-ha.org\t135.9.216.3/28/eth0/135.9.216.12 httpd",
            "node1  10.0.0.170 Filesystem::/dev/sda1::/data1::ext2",
        ] {
            let g = p(ex).unwrap_or_else(|e| panic!("{ex}: {e}"));
            assert!(g[0].resources[0].id.starts_with("IPaddr::"), "{ex}");
        }
        // And the sample file itself, all comments, is an empty configuration.
        assert_eq!(p("#\tThis is a list of resources\n#node1  10.0.0.170\n").unwrap(), vec![]);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            ("gamma 10.0.0.1\n", "haresources:1: node \"gamma\" is not a node of ha.cf (its nodes: alpha, beta, just.linux-ha.org, node1)"),
            ("\nalpha\n", "haresources:2: node \"alpha\" has no resources: a group is NODE RESOURCE…"),
            ("alpha a\nbeta b a\n", "haresources:2: resource \"a\" is already in the group of line 1: a resource runs in one group"),
            ("alpha x::::y\n", "haresources:1: resource \"x::::y\" has an empty argument (between two ::)"),
            (
                "alpha ../../bin/sh\n",
                "haresources:1: \"../../bin/sh\" is not a resource (NAME or NAME::ARG…, NAME a script in resource.d or init.d)",
            ),
            (
                "alpha a \\\n b \\\n\nbeta a\n",
                "haresources:4: resource \"a\" is already in the group of line 1: a resource runs in one group",
            ),
        ] {
            assert_eq!(p(text).unwrap_err(), want, "{text:?}");
        }
    }
}
