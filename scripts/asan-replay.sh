#!/usr/bin/env bash
# AddressSanitizer step of `make test` (and `make asan`).
#  1. builds every .pyx with -fsanitize=address -fno-omit-frame-pointer -O1 -g (and the
#     shipped Cython directives: boundscheck off) into build/asan/, a copy of faxcore/; the
#     normal build is untouched, and only the extensions whose .pyx changed are rebuilt;
#  2. replays every file of tests/corpus/ plus ASAN_COUNT (default 3000) generated inputs
#     per target (seeded: the same inputs under CI=true) through that copy, with libasan
#     preloaded into an uninstrumented Python (LD_PRELOAD, detect_leaks=0,
#     abort_on_error=1).
# Exits non-zero, naming the target and the input (saved under tests/corpus/<target>/),
# if ASan reports anything or a target finds a defect.
# Usage: asan-replay.sh PYTHON [fuzz/run.py replay options, e.g. --count 500 mmr v17]
set -uo pipefail
py="${1:-.venv/bin/python}"
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.." || exit 2
lib=$(gcc -print-file-name=libasan.so 2>/dev/null)
if [ ! -e "$lib" ] || [ "$lib" = "libasan.so" ]; then
  echo "asan: libasan not found (gcc -print-file-name=libasan.so: '$lib');" \
       "run scripts/install-peers.sh as root (Debian package libasan8)" >&2
  exit 2
fi
t0=$(date +%s)
echo "asan: building the AddressSanitizer copy in build/asan (only changed .pyx are rebuilt)"
"$py" fuzz/asan_build.py || { echo "asan: FAILED to build the ASan copy" >&2; exit 2; }
t1=$(date +%s)
echo "asan: replaying tests/corpus and generated inputs (progress every 20 s)"
"$py" fuzz/run.py replay --asan build/asan "$@"
rc=$?
t2=$(date +%s)
echo "asan: build $((t1 - t0)) s, replay $((t2 - t1)) s"
if [ $rc -eq 1 ]; then
  echo "asan: FAILED: findings above (target, input, ASan report); the inputs are saved" \
       "under tests/corpus/<target>/: fix the code, keep the file as a regression input" >&2
elif [ $rc -ne 0 ]; then
  echo "asan: FAILED: the replay itself broke (exit $rc)" >&2
fi
exit $rc
