#!/usr/bin/env bash
# Runs the whole suite on both cores, then the AddressSanitizer replay of the corpus
# (scripts/asan-replay.sh). Usage: run-tests.sh PYTHON [pytest args]
set -uo pipefail
py="$1"; shift
"$py" -m pytest -n 2 --dist loadfile -q --durations=20 "$@" tests
rc=$?
echo "== AddressSanitizer replay: every .pyx built with -fsanitize=address, corpus + generated inputs =="
bash "$(dirname "$0")/asan-replay.sh" "$py"
arc=$?
if [ $rc -ne 0 ]; then
  echo "run-tests: pytest failed (exit $rc)" >&2
fi
if [ $arc -ne 0 ]; then
  echo "run-tests: AddressSanitizer replay failed (exit $arc)" >&2
fi
[ $rc -ne 0 ] && exit $rc
exit $arc
