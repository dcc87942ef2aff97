#!/bin/sh
# Builds and runs ckpt-bench pinned to core 1, its files in DIR (default:
# the build directory; not /tmp when /tmp is a tmpfs, so that save, load
# and cp all meet the same disk).
#
#	tests/bench/ckpt-bench.sh [BUILDDIR [DIR]] [-- ckpt-bench options]
set -e
build=${1:-.}
dir=${2:-$build}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && [ "$1" != "--" ] && shift
[ "${1:-}" = "--" ] && shift
make -C "$build" -s tests/bench/ckpt-bench
echo "file system of $dir: $(df -T "$dir" | awk 'NR == 2 { print $2 }')"
exec taskset -c 1 "$build/tests/bench/ckpt-bench" "$@" "$dir"
