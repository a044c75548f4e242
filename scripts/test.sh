#!/usr/bin/env bash
# Runs every test: installs the Debian packages the tests need, checks formatting and lints,
# runs the whole workspace's tests (the namespace tests need root), builds every fuzz target
# and runs each for a short, fixed time.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${HB_FUZZ_SECONDS:-20}"

# 1. Debian packages: iproute2 (ip netns, veth, tc), heartbeat (its sample ha.cf is a
#    test input, and it is a peer `hb-bench compare` runs), corosync (the other peer), gzip,
#    stress-ng (hb-bench soak), nftables (impaired links where the kernel has no tc netem),
#    cluster-glue (its stonith, the reference for hb-stonith) and pacemaker-cli-utils
#    (stonith_admin reads fence_hb's metadata), openipmi (ipmi_sim, the BMC the ipmilan
#    driver is tested against) and ipmitool (the third-party client that cross-checks it),
#    snmpd, snmp and python3 (the emulated APC PDU: net-snmp's agent with a Python
#    pass_persist backend, read by net-snmp's snmpget) and fence-agents (fence_apc_snmp,
#    which cross-checks the apcmastersnmp driver) and telnet (fence_wti and fence_apc drive the
#    emulated switches through it), resource-agents (the OCF agents the CRM runs: Dummy,
#    IPaddr2).
PKGS="iproute2 heartbeat corosync gzip stress-ng nftables cluster-glue pacemaker-cli-utils openipmi ipmitool snmpd snmp python3 fence-agents telnet resource-agents"
if [ "$(id -u)" = 0 ]; then
    missing=""
    for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        echo "== installing:$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
else
    echo "== not root: skipping package installation; namespace tests will be skipped (CI runs as root)"
fi

# 2. Formatting and lints.
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# 3. Tests (unit, integration, namespace clusters), one shared target dir.
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast -- --skip flood_
fi

# 3b. The flood tests (issue 14): forged packets at more than 200,000 a second on every medium
#     for 30 s each, against the release build (what ships), alone on the machine.
echo "== flood tests (release build)"
cargo build --release --bins --quiet
export HB_BIN_DIR="$PWD/target/release"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run -p hb-bench --test flood --ignore-default-filter -j 1 --no-fail-fast --success-output final
else
    cargo test -p hb-bench --test flood -- --test-threads=1 --nocapture
fi
unset HB_BIN_DIR

# 4. Fuzz targets: build all, run each for a fixed time (nightly + cargo-fuzz).
echo "== fuzz (${FUZZ_SECONDS}s per target)"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz --locked --quiet
fi
( cd fuzz && cargo +nightly fuzz build 2>&1 | tail -n 3 )
for t in $(cd fuzz && cargo +nightly fuzz list); do
    echo "-- fuzz $t"
    ( cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 2>&1 | tail -n 2 )
done
echo "== all tests passed"
