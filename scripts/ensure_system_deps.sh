#!/usr/bin/env bash
# Install the Debian packages the test suite uses when they are missing:
# headless Chromium (checking the HTML appendix), the PostgreSQL server (the
# store tests start a throwaway server with initdb/pg_ctl) and Open MPI
# (`mpirun` for the MPI job test, and its headers so that mpi4py builds).
# Skips quietly when it cannot install (not root, no apt): the tests that
# need them then skip themselves.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
[ -e /usr/include/x86_64-linux-gnu/openmpi ] || [ -e /usr/lib/x86_64-linux-gnu/openmpi/include ] \
  || command -v mpicc >/dev/null 2>&1 || missing+=(libopenmpi-dev)
if [ "${#missing[@]}" = "0" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${missing[*]} not found and cannot be installed here; the tests that need them will skip" >&2
  exit 0
fi
echo "installing ${missing[*]} for the test suite..." >&2
# the postgresql package's own cluster is not wanted: the tests start their own server
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
  || echo "note: installing ${missing[*]} failed; the tests that need them will skip" >&2
exit 0
