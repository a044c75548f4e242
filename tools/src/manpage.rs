//! Man pages from `--help` texts, so the two never drift: `docs/man/hbd.8`, `hbctl.8` and
//! `hb-stonith.8` are this rendering of each program's `--help`, and a test regenerates them
//! and fails on any difference (`HB_UPDATE_MAN=1` rewrites them).
//!
//! A help text here has a first line `NAME - summary`, then sections whose headings are
//! unindented capitals, with indented bodies. The rendering keeps every body as written (a
//! preformatted block, four spaces of indent removed): what `--help` shows is what `man`
//! shows.

/// Renders `help` as a man page of `section` (8 for daemons and tools, 5 for files).
pub fn from_help(help: &str, section: u8, version: &str) -> String {
    let mut lines = help.lines();
    let first = lines.next().unwrap_or_default();
    let (name, summary) = first.split_once(" - ").unwrap_or((first, ""));
    let mut o = format!(
        ".\\\" Generated from `{name} --help` by hb-tools' manpage module; edit the help text, not this file.\n.TH {} {section} \"\" \"hb {version}\" \"hb\"\n.SH NAME\n{} \\- {}\n",
        name.to_uppercase(),
        escape(name),
        escape(summary)
    );
    let mut open = false;
    for line in lines {
        let heading = !line.is_empty() && !line.starts_with(' ') && line.chars().all(|c| c.is_ascii_uppercase() || c == ' ' || c == '.');
        if heading {
            if open {
                o.push_str(".fi\n");
            }
            o.push_str(&format!(".SH {}\n.nf\n", escape(line)));
            open = true;
        } else if open {
            o.push_str(&escape(line.strip_prefix("    ").unwrap_or(line)));
            o.push('\n');
        }
    }
    if open {
        o.push_str(".fi\n");
    }
    o
}

/// Escapes roff: backslashes, and a leading `.` or `'` (which would start a request).
fn escape(line: &str) -> String {
    let l = line.replace('\\', "\\e");
    if l.starts_with('.') || l.starts_with('\'') {
        format!("\\&{l}")
    } else {
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_become_preformatted_blocks() {
        let page = from_help("tool - does things\n\nUSAGE\n    tool [X]\n\nNOTES\n    .dots and \\backslashes\n", 8, "1.0");
        assert_eq!(
            page,
            ".\\\" Generated from `tool --help` by hb-tools' manpage module; edit the help text, not this file.\n.TH TOOL 8 \"\" \"hb 1.0\" \"hb\"\n.SH NAME\ntool \\- does things\n.SH USAGE\n.nf\ntool [X]\n\n.fi\n.SH NOTES\n.nf\n\\&.dots and \\ebackslashes\n.fi\n"
        );
    }
}
