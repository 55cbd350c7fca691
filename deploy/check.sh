#!/usr/bin/env bash
# Prove the deploy/ files, not just ship them: Prometheus config and rules (check and unit tests),
# Alertmanager config, the compose file's structure, the Helm chart renders; then the integration
# tests that need these tools (the chart's server-side dry-run on the real control plane, a real
# Prometheus scraping AEGIS). Installs what it needs: Debian's prometheus and
# prometheus-alertmanager, and helm from the Go module proxy (cached in ~/.cache/aegis).
# Usage: bash deploy/check.sh            (from anywhere, after the .venv exists: make .venv/.installed)
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=v3.22.0
HELM_DIR="${HOME}/.cache/aegis/helm-${HELM_VERSION}"
step() { printf '\n==> %s\n' "$*"; }

step "Debian packages: prometheus (promtool), prometheus-alertmanager (amtool)"
if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null || ! command -v prometheus >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
fi
# The packages start their own daemons where systemd runs; the checks need only the binaries.
promtool --version 2>&1 | sed -n 1p  # not head: under pipefail an early exit SIGPIPEs promtool

step "helm ${HELM_VERSION} (go install from the module proxy, cached)"
if [[ ! -x "${HELM_DIR}/helm" ]]; then
  mkdir -p "${HELM_DIR}"
  GOBIN="${HELM_DIR}" GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi
export AEGIS_HELM="${HELM_DIR}/helm"
"${AEGIS_HELM}" version --short

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

step "promtool check config / check rules / test rules"
# prometheus.yml names the in-container rule path; check a copy that points at the shipped file.
mkdir -p "${work}/rules"
cp deploy/docker/prometheus-alerts.yaml "${work}/rules/"
sed "s#/etc/prometheus/rules/#${work}/rules/#" deploy/docker/prometheus.yml > "${work}/prometheus.yml"
promtool check config "${work}/prometheus.yml"
promtool check rules deploy/docker/prometheus-alerts.yaml
promtool test rules deploy/docker/prometheus-alerts.test.yaml

step "amtool check-config"
echo "check-token" > "${work}/alertmanager-token"
sed "s#/run/secrets/alertmanager_token#${work}/alertmanager-token#" deploy/docker/alertmanager.yml > "${work}/alertmanager.yml"
amtool check-config "${work}/alertmanager.yml"

step "compose file, dashboard and provisioning: structure"
.venv/bin/python deploy/check_files.py

step "helm lint and template (every optional part on, an identity map among them)"
"${AEGIS_HELM}" lint deploy/helm/aegis --strict --set secrets.existingSecret=aegis-tokens 2>&1 | grep -v "found symbolic link"
"${AEGIS_HELM}" template aegis deploy/helm/aegis -n aegis-system \
  --set secrets.existingSecret=aegis-tokens --set serviceMonitor.enabled=true --set prometheusRule.enabled=true \
  --set persistence.enabled=true --set slackMode=http \
  --set identityMap.users.U0123ABC.user=alice --set 'identityMap.users.U0123ABC.groups={sre}' --set trust.shadowAsUser=true \
  2>/dev/null > "${work}/chart.yaml"
grep -c '^kind:' "${work}/chart.yaml" | xargs printf '%s manifests rendered\n'
# Impersonation is granted only on the mapped identities: every rule with `impersonate` names whom (an absent
# or empty resourceNames would mean anyone).
awk '/verbs: \[impersonate\]/ { getline next_line; if (next_line !~ /resourceNames: \["/) bad = 1 } END { exit bad }' "${work}/chart.yaml" \
  || { echo "FAIL the chart grants impersonate without naming whom"; exit 1; }
grep -q 'resourceNames: \["alice"\]' "${work}/chart.yaml" || { echo "FAIL the chart does not grant impersonate on the mapped user alice"; exit 1; }

# `make test` runs these too; AEGIS_DEPLOY_CHECK_TESTS=0 skips them here when it follows.
if [[ "${AEGIS_DEPLOY_CHECK_TESTS:-1}" != "0" ]]; then
  step "integration: chart dry-run on the control plane, Prometheus scraping AEGIS"
  .venv/bin/python -m pytest -q tests/integration/deploy tests/integration/observability
fi
