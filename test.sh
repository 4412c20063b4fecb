#!/usr/bin/env bash
# Runs every test of Ward. Installs what cargo does not: the aws CLI (from
# pip, into .venv/) that the end-to-end scenario tests drive. Then runs the
# whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/aws ]; then
  echo "test.sh: installing the aws CLI into .venv/ (once)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check awscli
fi
export WARD_AWS_CLI="$PWD/.venv/bin/aws"
cargo test --workspace --all-targets
cargo test --workspace --doc
