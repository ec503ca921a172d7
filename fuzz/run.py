"""Fuzz driver: ``make fuzz`` (time-bounded mutation fuzzing of every target) and the
AddressSanitizer replay of ``make test`` (the committed corpus plus a fixed number of
generated inputs per target). The targets are in :mod:`faxcore.testing.fuzz`.

    python fuzz/run.py list
    python fuzz/run.py fuzz   [--seconds 30] [--jobs 2] [--asan TREE] [--seed N] [TARGET...]
    python fuzz/run.py replay [--count 3000] [--jobs 2] [--asan TREE] [--seed N] [TARGET...]

Each target runs in a worker process (two at a time by default), which writes every input
into a shared memory slot before running it. A worker that dies (an ASan report aborts
it, or a segfault) or stops making progress (a hang) leaves its input in the slot; this
process saves it as ``tests/corpus/<target>/crash-<sha1>.bin`` (``-w<width>`` added when
the width is not 1728) and prints what happened. Python-level findings (an undocumented
exception, a broken invariant) are reported by the worker, which carries on. A replay
worker that died is restarted after the input that killed it, so one run reports every
finding. Exit status: 0 nothing found, 1 findings, 2 the driver itself failed.

Seed: ``--seed``, else $FUZZ_SEED, else 0 under CI=true (the same inputs every run),
else random (printed, so a run can be repeated).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import mmap
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SLOT_SIZE = 8 << 20
META_MAX = 4096
HEADER = struct.Struct("<QqII")      # inputs started, case index, meta length, data length
_print_lock = threading.Lock()


def say(msg: str) -> None:
    with _print_lock:                  # a CLI: its output is the report
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()


# ---- the shared "current input" slot ---------------------------------------------------

class Slot:
    """A small mmap'd file holding the input a worker is running right now."""

    def __init__(self, path: Path, create: bool) -> None:
        if create:
            with open(path, "wb") as f:
                f.truncate(SLOT_SIZE)
        self._f = open(path, "r+b")
        self._m = mmap.mmap(self._f.fileno(), SLOT_SIZE)
        self._execs = 0

    def put(self, index: int, label: str, opts: dict, data: bytes) -> None:
        meta = json.dumps({"label": label, "opts": opts}).encode()[:META_MAX]
        data = data[:SLOT_SIZE - HEADER.size - META_MAX]
        base = HEADER.size
        self._m[base:base + len(meta)] = meta
        self._m[base + META_MAX:base + META_MAX + len(data)] = data
        self._execs += 1
        self._m[:HEADER.size] = HEADER.pack(self._execs, index, len(meta), len(data))

    def execs(self) -> int:
        """Inputs started so far (safe to read while the worker writes)."""
        return struct.unpack_from("<Q", self._m, 0)[0]

    def read(self) -> tuple[int, int, dict, bytes]:
        """The last input started: only once the worker has stopped."""
        execs, index, nmeta, ndata = HEADER.unpack(self._m[:HEADER.size])
        base = HEADER.size
        meta = json.loads(self._m[base:base + nmeta]) if nmeta else {"label": "", "opts": {}}
        return execs, index, meta, bytes(self._m[base + META_MAX:base + META_MAX + ndata])

    def close(self) -> None:
        self._m.close()
        self._f.close()


# ---- worker (runs inside the process under test, possibly with ASan) --------------------

def _finding_sig(exc: BaseException) -> str:
    """Exception type and the innermost faxcore frame: one entry per distinct defect."""
    where = "?"
    for fr in traceback.extract_tb(exc.__traceback__):
        if "faxcore" in fr.filename:
            where = f"{Path(fr.filename).name}:{fr.lineno}"
    return f"{type(exc).__name__}@{where}"


def worker(args: argparse.Namespace) -> int:
    import faulthandler
    faulthandler.enable()                      # a Python stack next to any ASan report
    import faxcore
    if args.tree:
        # the replay must exercise the instrumented copy, never the normal build
        assert Path(faxcore.__file__).resolve().is_relative_to(Path(args.tree).resolve()), \
            f"faxcore imported from {faxcore.__file__}, not from {args.tree}"
        maps = Path("/proc/self/maps").read_text()
        assert "libasan" in maps, "libasan is not loaded (LD_PRELOAD missing?)"
    from faxcore.testing.fuzz import HIDDEN_TARGETS, TARGETS, Case, corpus_cases, run_case
    from faxcore.testing.fuzz_inputs import (
        generated_case,
        mutate,
        random_input,
        seeds,
        with_rate,
    )

    target = {**TARGETS, **HIDDEN_TARGETS}[args.target]
    pool = list(corpus_cases(target, Path(args.corpus))) + list(seeds(target))
    slot = Slot(Path(args.slot), create=False)
    out = open(args.results, "a")
    out.write(json.dumps({"type": "start", "pool": len(pool)}) + "\n")
    out.flush()
    sigs: set = set()
    reported: dict[str, int] = {}
    execs = 0
    t0 = time.monotonic()

    def run(index: int, case: Case) -> object:
        nonlocal execs
        slot.put(index, case.label, dict(case.opts), case.data)
        execs += 1
        try:
            return run_case(target, case)
        except Exception as exc:           # every escape is a finding
            sig = _finding_sig(exc)
            reported[sig] = reported.get(sig, 0) + 1
            if reported[sig] == 1:
                out.write(json.dumps({
                    "type": "finding", "sig": sig, "label": case.label,
                    "opts": dict(case.opts), "data": base64.b64encode(case.data).decode(),
                    "error": f"{type(exc).__name__}: {exc}"[:500],
                    "trace": traceback.format_exc()[-3000:]}) + "\n")
                out.flush()
            return ("finding", sig)

    generated = 0
    for i in range(min(args.start, len(pool)), len(pool)):   # after a crash: from the next
        sigs.add(run(i, pool[i]))
    if args.mode == "replay":
        for j in range(max(0, args.start - len(pool)), round(args.count * target.replay_share)):
            sigs.add(run(len(pool) + j, generated_case(target, pool, args.seed, j)))
            generated += 1
    else:
        rng = random.Random(f"{args.seed}/{args.target}/{args.start}")
        deadline = t0 + args.seconds
        novel: list[Case] = []
        datas = [c.data for c in pool]
        i = max(len(pool), args.start)
        while time.monotonic() < deadline:
            if rng.random() < 0.1 or not pool:
                data, copts = random_input(rng, target), {}
            else:
                base = rng.choice(novel) if novel and rng.random() < 0.5 else rng.choice(pool)
                data, copts = mutate(base.data, rng, target, datas), dict(base.opts)
            case = Case(data, with_rate(target, copts, rng.randrange(4)),
                        f"fuzz:{args.target}#{i}")
            sig = run(i, case)
            generated += 1
            i += 1
            if sig not in sigs:            # new behaviour: worth mutating further
                sigs.add(sig)
                if len(novel) < 2000:
                    novel.append(case)
                else:
                    novel[rng.randrange(len(novel))] = case
    out.write(json.dumps({"type": "done", "execs": execs, "pool": len(pool),
                          "generated": generated, "behaviours": len(sigs),
                          "seconds": time.monotonic() - t0}) + "\n")
    out.close()
    slot.close()
    return 0


# ---- supervisor -------------------------------------------------------------------------

@dataclass
class Result:
    target: str
    execs: int = 0
    pool: int = 0
    generated: int = 0
    behaviours: int = 0
    seconds: float = 0.0
    findings: list[str] = field(default_factory=list)
    error: str | None = None
    live_slot: Slot | None = None


_to_save: dict[Path, bytes] = {}


def _save(corpus: Path, target: str, label: str, opts: dict, data: bytes) -> Path:
    """Where the input of a finding goes in the corpus (a corpus input is there already).
    Written when the run ends: a worker restarted after a crash must see the same corpus,
    or the generated inputs (mutations of it) would shift."""
    if label.startswith("corpus:"):
        return Path(label.removeprefix("corpus:"))
    name = "crash-" + hashlib.sha1(data).hexdigest()[:12]
    if opts.get("width", 1728) != 1728:
        name += f"-w{opts['width']}"
    if "rate" in opts:
        name += f"-r{opts['rate']}"
    if opts.get("short_train"):
        name += "-short"
    if "k" in opts:
        name += f"-k{opts['k']}"
    path = corpus / target / (name + ".bin")
    with _print_lock:
        _to_save[path] = data
    return path


def _write_saved() -> None:
    for path, data in _to_save.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def native_signature(stderr: str, rc: int | None, hung: bool) -> str:
    """What kind of native failure, and where: one entry per distinct defect."""
    if hung:
        return "hang"
    m = re.search(r"ERROR: AddressSanitizer: ([\w-]+)", stderr)
    if m:
        f = re.search(r"#0 0x[0-9a-f]+ in (\S+) (\S+?)\.c:", stderr[m.end():])
        if not f:
            return f"{m.group(1)}"
        func, stem = f.group(1), Path(f.group(2)).name
        # Cython mangling: __pyx_f_7faxcore_6codecs_3_t4__decode_2d_body -> _t4._decode_2d_body,
        # ..._8qam_core_11QamReceiver__data_symbol -> qam_core.QamReceiver._data_symbol,
        # __pyx_pf_..._3_t4_2decode_packed (def function number 2) -> _t4.decode_packed
        key = f"{len(stem)}{stem}_"
        if key in func:
            rest = func.split(key, 1)[1]
            n = re.match(r"\d+", rest)
            if n and rest[n.end() + int(n.group()):].startswith("_"):
                cls = rest[n.end():n.end() + int(n.group())]
                rest = cls + "." + rest[n.end() + int(n.group()) + 1:]
            else:
                rest = re.sub(r"^\d+", "", rest)
            func = f"{stem}.{rest}"
        return f"{m.group(1)} in {func}"
    f = re.search(r'File "([^"]+)", line (\d+) in (\w+)', stderr)
    where = f" at {Path(f.group(1)).name}:{f.group(2)}" if f else ""
    return f"crash (exit status {rc}){where}"


def _native_report(stderr: str) -> str:
    """The telling part of a worker's stderr after it died: the ASan headline, the
    first frames, the summary, and the Python stack faulthandler printed."""
    lines = stderr.splitlines()
    start = next((i for i, ln in enumerate(lines) if "ERROR: AddressSanitizer" in ln
                  or "Fatal Python error" in ln), max(0, len(lines) - 30))
    keep = []
    for ln in lines[start:]:
        if (re.match(r"\s*#[0-7] ", ln) or "ERROR:" in ln or "SUMMARY:" in ln
                or re.match(r"(READ|WRITE) of size", ln) or "is located" in ln
                or ln.startswith(("Fatal Python", "Current thread", "Thread ", "  File"))):
            keep.append(ln)
    return "\n".join(keep[:45])


def supervise(target: str, opts: argparse.Namespace, env: dict, tmp: Path) -> Result:
    res = Result(target)
    start = 0
    restarts = repeats = 0
    seen: dict[str, int] = {}
    t_begin = time.monotonic()
    while True:
        slot_path = tmp / f"{target}.slot"
        results = tmp / f"{target}.{restarts}.jsonl"
        errlog = tmp / f"{target}.{restarts}.stderr"
        slot = Slot(slot_path, create=True)
        res.live_slot = slot
        remaining = opts.seconds - (time.monotonic() - t_begin) if opts.mode == "fuzz" else 0
        cmd = [sys.executable, str(Path(__file__).resolve()), "_worker", "--target", target,
               "--mode", opts.mode, "--seed", str(opts.seed), "--start", str(start),
               "--count", str(opts.count), "--seconds", str(max(remaining, 1.0)),
               "--slot", str(slot_path), "--results", str(results), "--corpus", str(opts.corpus)]
        if opts.asan:
            cmd += ["--tree", str(opts.asan)]
        with open(errlog, "wb") as ferr:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=ferr,
                                    cwd=tmp)
            last_execs, last_change, hung = -1, time.monotonic(), False
            while proc.poll() is None:
                time.sleep(0.2)
                execs = slot.execs()
                if execs != last_execs:
                    last_execs, last_change = execs, time.monotonic()
                elif time.monotonic() - last_change > opts.hang_seconds:
                    hung = True
                    proc.kill()
                    proc.wait()
        rc = proc.returncode
        done = None
        for line in results.read_text().splitlines() if results.exists() else []:
            rec = json.loads(line)
            if rec["type"] == "start":
                res.pool = rec["pool"]
            elif rec["type"] == "done":
                done = rec
            else:
                path = _save(opts.corpus, target, rec["label"], rec["opts"], base64.b64decode(rec["data"]))
                res.findings.append(f"{rec['sig']}: {rec['error']}")
                say(f"FINDING in target {target}: {rec['error']}\n  input: {rec['label']}"
                    f" -> {_rel(path)}\n  " + rec["trace"].strip().replace("\n", "\n  "))
        execs, index, meta, data = slot.read()
        res.execs += execs if done is None else done["execs"]
        if done is not None:
            res.behaviours = max(res.behaviours, done["behaviours"])
        slot.close()
        res.live_slot = None
        if done is not None and rc == 0:
            break
        # the worker died on (or hung in) the input in the slot
        stderr = errlog.read_text(errors="replace")
        if execs == 0:
            res.error = f"worker failed before its first input (exit {rc}):\n{stderr[-3000:]}"
            break
        sig = native_signature(stderr, rc, hung)
        restarts += 1
        if sig in seen:
            # the same defect again: counted, not saved (the first input shows it)
            seen[sig] += 1
            repeats += 1
            say(f"  {target}: {sig} again on {meta['label']} (not saved)")
        else:
            seen[sig] = 1
            repeats = 0
            path = _save(opts.corpus, target, meta["label"], meta["opts"], data)
            res.findings.append(f"{sig}: {meta['label']}")
            say(f"FINDING in target {target}: {sig}\n  input: {meta['label']} "
                f"{meta['opts'] or ''} -> {_rel(path)}\n  "
                + (_native_report(stderr) or stderr[-2000:]).replace("\n", "\n  "))
        if repeats >= 4 or restarts > 20:
            say(f"  {target}: stopping this target after {res.execs} inputs "
                f"({restarts} worker crashes)")
            break
        start = index + 1
        if opts.mode == "fuzz" and time.monotonic() - t_begin >= opts.seconds:
            break
    res.seconds = time.monotonic() - t_begin
    res.generated = max(0, res.execs - res.pool)
    return res


def asan_env(tree: Path) -> dict:
    gcc = shutil.which("gcc") or "gcc"
    lib = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True,
                         text=True).stdout.strip()
    if not lib or not Path(lib).exists():
        raise SystemExit(f"libasan not found (gcc -print-file-name=libasan.so: {lib!r}); "
                         f"install libasan8 (scripts/install-peers.sh)")
    asan_opts = "detect_leaks=0:abort_on_error=1"
    if os.environ.get("ASAN_OPTIONS"):
        asan_opts += ":" + os.environ["ASAN_OPTIONS"]
    # PYTHONMALLOC=malloc: every Python object gets its own malloc block with redzones
    return dict(os.environ, LD_PRELOAD=str(Path(lib).resolve()), ASAN_OPTIONS=asan_opts,
                PYTHONPATH=str(tree), PYTHONMALLOC="malloc", PYTHONFAULTHANDLER="1")


def supervisor(opts: argparse.Namespace) -> int:
    from faxcore.testing.fuzz import HIDDEN_TARGETS, TARGETS
    names = opts.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS and n not in HIDDEN_TARGETS]
    if unknown:
        say(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
        return 2
    env = dict(os.environ)
    if opts.asan:
        env = asan_env(opts.asan)
    env["PYTHONHASHSEED"] = "0"
    what = (f"{opts.seconds:g} s per target" if opts.mode == "fuzz"
            else f"corpus + {opts.count} generated inputs per target")
    say(f"{opts.mode}: {len(names)} targets, {what}, {opts.jobs} at a time, seed {opts.seed}, "
        f"{'AddressSanitizer build ' + _rel(opts.asan) if opts.asan else 'normal build'}")
    t0 = time.monotonic()
    results: dict[str, Result] = {}
    live: dict[str, Result] = {}
    stop = threading.Event()

    def one(name: str) -> Result:
        r = Result(name)
        live[name] = r
        out = supervise(name, opts, env, tmp)
        live.pop(name, None)
        results[name] = out
        flag = f"{len(out.findings)} FINDINGS" if out.findings else "ok"
        rate = out.execs / out.seconds if out.seconds else 0.0
        say(f"  {name:10s} {out.execs:7d} inputs ({out.pool} corpus+seeds, {out.generated} "
            f"generated) in {out.seconds:6.1f} s ({rate:6.0f}/s), {out.behaviours} behaviours: "
            f"{flag}" + (f"\n  {name}: ERROR {out.error}" if out.error else ""))
        return out

    def ticker() -> None:
        while not stop.wait(20.0):
            say(f"  ... {len(results)}/{len(names)} targets done, "
                f"{time.monotonic() - t0:.0f} s, running: {', '.join(sorted(live)) or '-'}")

    with tempfile.TemporaryDirectory(prefix="faxcore-fuzz-") as tmpdir:
        tmp = Path(tmpdir)
        tick = threading.Thread(target=ticker, daemon=True)
        tick.start()
        try:
            with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
                list(pool.map(one, names))
        finally:
            stop.set()
            _write_saved()
    total = sum(r.execs for r in results.values())
    bad = {n: r for n, r in results.items() if r.findings or r.error}
    say(f"{opts.mode}: {total} inputs over {len(results)} targets in "
        f"{time.monotonic() - t0:.1f} s; "
        + ("no findings" if not bad else "FINDINGS in " + ", ".join(sorted(bad))))
    if any(r.error for r in results.values()):
        return 2
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the fuzz targets")
    for mode in ("fuzz", "replay"):
        p = sub.add_parser(mode)
        p.add_argument("targets", nargs="*")
        p.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS", 2)))
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--asan", type=Path, default=None,
                       help="run against the AddressSanitizer tree built by fuzz/asan_build.py")
        p.add_argument("--hang-seconds", type=float, default=60.0)
        p.add_argument("--corpus", type=Path, default=CORPUS,
                       help="corpus root (default tests/corpus); findings are saved there")
        p.add_argument("--seconds", type=float,
                       default=float(os.environ.get("FUZZ_SECONDS", 30)))
        p.add_argument("--count", type=int, default=int(os.environ.get("ASAN_COUNT", 3000)))
    w = sub.add_parser("_worker")
    for a in ("--target", "--mode", "--slot", "--results", "--corpus", "--tree"):
        w.add_argument(a, default=None)
    for a in ("--seed", "--start", "--count"):
        w.add_argument(a, type=int, default=0)
    w.add_argument("--seconds", type=float, default=0.0)
    args = ap.parse_args(argv)
    if args.cmd == "_worker":
        return worker(args)
    if args.cmd == "list":
        from faxcore.testing.fuzz import TARGETS
        for name, t in TARGETS.items():
            say(f"{name:10s} {t.kind}")
        return 0
    args.mode = args.cmd
    if args.seed is None:
        env_seed = os.environ.get("FUZZ_SEED")
        args.seed = int(env_seed) if env_seed else (0 if IN_CI else random.randrange(1 << 31))
    if args.asan:
        args.asan = args.asan.resolve()
    args.corpus = args.corpus.resolve()
    return supervisor(args)


if __name__ == "__main__":
    sys.exit(main())
