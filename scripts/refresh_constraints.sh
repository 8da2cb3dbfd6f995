#!/usr/bin/env bash
# Rebuild constraints/test.txt: the newest versions of the test extra, resolved in a fresh virtual environment
# (so nothing installed here leaks in), frozen with their exact versions.
#
#   scripts/refresh_constraints.sh            # with python3
#   PYTHON=python3.11 scripts/refresh_constraints.sh
#
# Then run the README's test command against the new pins
# (python -m pip install -c constraints/test.txt '.[test]' && python -m pytest) and commit the file.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
"$tmp/venv/bin/python" -m pip install -q '.[test]'
version="$("$tmp/venv/bin/python" -c 'import platform; print(platform.python_version(), platform.system(), platform.machine())')"
{
    echo "# Exact versions of the test extra and everything it pulls in, resolved by scripts/refresh_constraints.sh"
    echo "# on $(date -u +%Y-%m-%d) with Python ${version}. Used by the README's test command and .ci/run:"
    echo "#   python -m pip install -c constraints/test.txt '.[test]' && python -m pytest"
    "$tmp/venv/bin/python" -m pip freeze --exclude nonrecours
} > constraints/test.txt.new
mv constraints/test.txt.new constraints/test.txt
echo "constraints/test.txt: $(grep -vc '^#' constraints/test.txt) packages pinned"
