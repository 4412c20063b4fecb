#!/usr/bin/env bash
# Runs every test of Ward. Installs what cargo does not (nothing yet: the aws
# CLI virtualenv and PostgreSQL arrive with the server and its scenario tests),
# then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --workspace --all-targets
cargo test --workspace --doc
