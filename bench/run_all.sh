#!/bin/sh
# Run every benchmark one after another (download.py gives two figures, vpk.py three).
# From the repo root: bench/run_all.sh   (or: make bench). Takes about 20 minutes (download.py: 14,
# with its 9 rounds against the stand-in and nginx and 9 of a 1 GiB item at 20 MB/s; refresh.py: 2).
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
echo "left4me benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
for bench in download parallel refresh noop_build pages healthz players metrics vpk; do
    echo
    echo "######## bench/$bench.py"
    "$PYTHON" "bench/$bench.py"
done
