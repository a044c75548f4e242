#!/usr/bin/env bash
# Starts a two-node hb appliance on this machine, shows it, kills one node and times the
# survivor's verdict. As root: two network namespaces joined by veth; otherwise loopback.
# Extra arguments go to hb-demo (try --help, --runs 20, --idle 30).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --quiet
exec ./target/release/hb-demo "$@"
