//! What hbd keeps in its state directory across restarts, written atomically (a temporary
//! file, fsync, rename) and never from the real-time thread:
//! - `peers`: each peer's last generation (`NAME GENERATION` per line), so that after a
//!   restart of this node a packet from a peer's earlier life — a replay — is still refused
//!   as an old generation. The IPC thread writes it when a peer comes up or restarts;
//!   start-up reads it.
//!
//! (This node's own generation is `daemon::next_generation`'s.)

use std::io;
use std::path::Path;

/// The peers' generations file's name in the state directory.
pub const PEERS_FILE: &str = "peers";

/// Reads the peers' last generations; a missing file is none, a bad line is skipped (the
/// returned strings say which).
pub fn load_peer_generations(state_dir: &Path) -> (Vec<(String, u64)>, Vec<String>) {
    let path = state_dir.join(PEERS_FILE);
    let text = match crate::files::read_config(&path, false) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
        Err(e) => return (Vec::new(), vec![format!("cannot read {}: {e}; peers' old generations are not remembered", path.display())]),
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next().and_then(|g| g.parse::<u64>().ok()), w.next()) {
            (Some(name), Some(g), None) => out.push((name.to_string(), g)),
            (None, ..) => {}
            _ => problems.push(format!("{}:{}: not `NAME GENERATION`; line skipped", path.display(), i + 1)),
        }
    }
    (out, problems)
}

/// Writes the peers' generations (only those ever heard: generation 0 is left out).
pub fn save_peer_generations(state_dir: &Path, peers: &[(String, u64)]) -> io::Result<()> {
    let text: String = peers.iter().filter(|(_, g)| *g != 0).map(|(name, g)| format!("{name} {g}\n")).collect();
    crate::files::replace_durably(state_dir, PEERS_FILE, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_generations_round_trip_and_bad_lines_are_named() {
        let dir = std::env::temp_dir().join(format!("hb-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_peer_generations(&dir), (vec![], vec![]));
        save_peer_generations(&dir, &[("b".into(), 1_796_000_000), ("c".into(), 0)]).unwrap();
        assert_eq!(load_peer_generations(&dir).0, vec![("b".to_string(), 1_796_000_000)]);
        std::fs::write(dir.join(PEERS_FILE), "b 12\njunk\n\nc x\n").unwrap();
        let (got, problems) = load_peer_generations(&dir);
        assert_eq!(got, vec![("b".to_string(), 12)]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
