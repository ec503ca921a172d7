#!/usr/bin/env bash
# Runs the whole suite on both cores. Usage: run-tests.sh PYTHON [pytest args]
set -uo pipefail
py="$1"; shift
"$py" -m pytest -n 2 --dist loadfile -q "$@" tests
rc=$?
exit $rc
