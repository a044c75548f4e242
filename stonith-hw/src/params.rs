//! Device parameters as cluster-glue takes them: `name=value` pairs (`stonith -t TYPE a=1
//! b=2`, `-E` from the environment, `-F` from a file), or one `-p` string whose
//! whitespace-separated words are the driver's parameter names in order, the last one taking
//! the rest of the line (so `hostlist` can hold several hosts).

use crate::{Code, StonithError};

/// Parameters by name, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// From `name=value` pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> Params
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Params(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// From `name=value` words (`stonith -t TYPE name=value …`).
    pub fn parse_pairs(words: &[&str]) -> Result<Params, StonithError> {
        let mut v = Vec::with_capacity(words.len());
        for w in words {
            let (k, val) = w.split_once('=').ok_or_else(|| StonithError::new(Code::BadConfig, format!("{w:?} is not name=value")))?;
            if k.is_empty() {
                return Err(StonithError::new(Code::BadConfig, format!("{w:?} has no name")));
            }
            v.push((k.to_string(), val.to_string()));
        }
        Ok(Params(v))
    }

    /// From a `-p` string, read against a driver's parameter `names` in order; the last name
    /// takes the rest of the string.
    pub fn parse_positional(text: &str, names: &[&str]) -> Result<Params, StonithError> {
        let mut rest = text.trim();
        let mut v = Vec::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if rest.is_empty() {
                return Err(StonithError::new(Code::BadConfig, format!("{n} is missing from {text:?} (expected: {})", names.join(" "))));
            }
            let value = if i + 1 == names.len() {
                std::mem::take(&mut rest)
            } else {
                let (w, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                rest = r.trim_start();
                w
            };
            v.push((n.to_string(), value.to_string()));
        }
        Ok(Params(v))
    }

    /// The value of `name`, or `S_BADCONFIG` naming it.
    pub fn get(&self, name: &str) -> Result<&str, StonithError> {
        self.opt(name).ok_or_else(|| StonithError::new(Code::BadConfig, format!("parameter {name} is missing")))
    }

    /// The value of `name`, if given.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every parameter, in the order given.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Every parameter not among `known`: a misspelt name must not pass silently.
    pub fn unknown<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        self.0.iter().map(|(k, _)| k.as_str()).filter(|k| !known.contains(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_strings_give_the_rest_to_the_last_name() {
        let p = Params::parse_positional("/dev/ttyUSB0  node1:1 node2:2", &["ttydev", "hostmap"]).unwrap();
        assert_eq!(p.get("ttydev").unwrap(), "/dev/ttyUSB0");
        assert_eq!(p.get("hostmap").unwrap(), "node1:1 node2:2");
        let e = Params::parse_positional("/dev/ttyUSB0", &["ttydev", "hostmap"]).unwrap_err();
        assert_eq!(e.code, Code::BadConfig);
        assert!(e.what.contains("hostmap is missing"), "{e}");
    }

    #[test]
    fn pairs_parse_and_unknown_names_are_found() {
        let p = Params::parse_pairs(&["ttydev=/dev/ttyUSB0", "hostmap=a:1", "pasword=x"]).unwrap();
        assert_eq!(p.unknown(&["ttydev", "hostmap"]), vec!["pasword"]);
        assert_eq!(Params::parse_pairs(&["oops"]).unwrap_err().code, Code::BadConfig);
        assert_eq!(p.get("nope").unwrap_err().to_string(), "S_BADCONFIG: parameter nope is missing");
    }
}
