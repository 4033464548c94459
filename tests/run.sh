#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine and run it:
# system packages (Go + govmomi to build the vCenter simulator, Bacula's director to check
# generated configs, Chromium for the Gantt page), a virtualenv with stagger and its test
# extras, then ruff, mypy and pytest. Usage: bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  golang-go golang-github-vmware-govmomi-dev   # vcsim, the real vCenter simulator
  bacula-director bacula-director-sqlite3      # bacula-dir -t checks generated configs
  chromium                                     # headless browser for the HTML Gantt
  systemd                                      # systemd-analyze checks the documented audit timer
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff";  .venv/bin/ruff check stagger tests benchmarks examples
.venv/bin/ruff format --check stagger tests benchmarks examples
echo "== mypy";  .venv/bin/mypy stagger
echo "== pytest"; .venv/bin/pytest "$@"
