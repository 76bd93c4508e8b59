#!/bin/sh
# The benchmarks hold many thousands of sockets per process: raise the open-files limit as far
# as this machine allows (the harness caps the idle scenario below whatever limit it gets).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -H -n)" 2>/dev/null || true
# --tier: the Redis tier benchmark (src/tier.ts), with tokencast's real edges and producers.
if [ "$1" = "--tier" ]; then shift; exec node "$(dirname "$0")/dist/tier.js" "$@"; fi
exec node "$(dirname "$0")/dist/main.js" "$@"
