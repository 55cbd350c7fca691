#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries for the store's integration tests (tests/integration/store).
# The tests start their own throwaway cluster from /usr/lib/postgresql/<ver>/bin; the packaged
# service is not needed, so it is not started. Idempotent: does nothing when initdb is present.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-postgres.sh: run as root (apt-get install postgresql)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "install-postgres.sh: postgresql installed but no initdb under /usr/lib/postgresql" >&2; exit 1; }
