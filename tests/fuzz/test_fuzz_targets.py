"""The fuzz targets of ``make fuzz`` and of the ASan replay in ``make test``, on the normal
build: every target passes the whole committed corpus, its seeds and a fixed set of
generated inputs; the targets' checks bite when the code under them breaks a promise; the
driver reports each kind of failure with its input saved to the corpus.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faxcore.testing import fuzz
from faxcore.testing.fuzz import TARGETS, Case, corpus_cases, opts_from_name, run_case
from faxcore.testing.fuzz_inputs import generated_case, mutate, seeds
from faxcore.testing.paths import CORPUS, ROOT

RUN = ROOT / "fuzz" / "run.py"
EXPECTED = {"mh", "mr", "mmr", "raw_mh", "raw_mr", "raw_mmr", "tiff", "v21", "v27ter", "v29",
            "v17", "hdlc", "t30", "class1_dte", "class1_dce", "ifp", "udptl", "rtp",
            "sip", "sdp", "jbig"}
GENERATED = 40


def test_every_target_is_registered():
    assert set(TARGETS) == EXPECTED


def test_every_corpus_directory_belongs_to_a_target():
    """A corpus directory no target reads would be replayed by nobody."""
    dirs = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert dirs <= set(TARGETS), dirs - set(TARGETS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_and_seeds_pass(name):
    target = TARGETS[name]
    cases = list(corpus_cases(target, CORPUS)) + list(seeds(target))
    assert cases, f"{name}: no corpus file and no seed"
    sigs = {run_case(target, c) for c in cases}
    hash(tuple(sigs))                       # signatures are hashable (make fuzz keeps them)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_generated_inputs_pass(name):
    target = TARGETS[name]
    pool = list(corpus_cases(target, CORPUS)) + list(seeds(target))
    for i in range(GENERATED):
        case = generated_case(target, pool, 0, i)
        assert len(case.data) <= max(target.max_len, max(len(c.data) for c in pool))
        run_case(target, case)


def test_generated_cases_are_a_function_of_seed_and_index():
    t = TARGETS["mmr"]
    pool = list(seeds(t))
    a = [generated_case(t, pool, 7, i) for i in range(30)]
    b = [generated_case(t, pool, 7, i) for i in range(30)]
    c = [generated_case(t, pool, 8, i) for i in range(30)]
    assert [x.data for x in a] == [x.data for x in b]
    assert [x.data for x in a] != [x.data for x in c]
    assert a[3].label == "gen:mmr#3@7"


def test_generated_audio_cycles_rates_and_training():
    t = TARGETS["v17"]
    opts = [generated_case(t, seeds(t), 0, i).opts for i in range(8)]
    assert [o["rate"] for o in opts] == [7200, 9600, 12000, 14400] * 2
    assert [bool(o.get("short_train")) for o in opts] == [False] * 4 + [True] * 4


def test_mutations_can_build_a_run_of_one_code():
    """The codec mutator inserts a T.4/T.6 code word repeated: a long run of VL1 (010) is
    what walked the old 2-D decoder off its reference array."""
    t = TARGETS["mmr"]
    import random
    found = False
    for i in range(400):
        out = mutate(b"\xff" * 8, random.Random(i), t)
        bits = "".join(f"{b:08b}" for b in out)
        found |= "010" * 40 in bits
    assert found


def test_file_names_carry_options():
    assert opts_from_name(TARGETS["mmr"], "vl1-stale-ref-w100.bin") == {"width": 100}
    assert opts_from_name(TARGETS["mr"], "seed-text-k2.bin") == {"k": 2}
    assert opts_from_name(TARGETS["v17"], "dc-then-training-r14400-short.bin") == \
        {"rate": 14400, "short_train": 1}
    assert opts_from_name(TARGETS["mh"], "bad-w0.bin") == {}          # out of range
    assert opts_from_name(TARGETS["tiff"], "x-w100.bin") == {}         # not a tiff option


# ---- the checks bite ------------------------------------------------------------------

def test_codec_target_catches_bits_past_the_width(monkeypatch):
    from faxcore import codecs
    real = codecs.decode

    def leaky(*a, **k):
        p = real(*a, **k)
        if p.rows:
            p.packed.data[0, -1] |= 1      # a pixel past the width
        return p

    monkeypatch.setattr(codecs, "decode", leaky)
    page = np.zeros((3, 13), np.uint8)
    with pytest.raises(AssertionError, match="past the width"):
        run_case(TARGETS["mh"], Case(codecs.encode(page, "mh"), {"width": 13}))


def test_codec_target_catches_nondeterminism(monkeypatch):
    """Reads of stale memory show up as a plain decode that differs from the lsb_first
    one (as the old 2-D decoder did)."""
    from faxcore import codecs
    real = codecs.decode

    def flaky(data, scheme, width, **k):
        p = real(data, scheme, width, **k)
        if k.get("lsb_first") and p.rows:
            p.packed.data[0, 0] ^= 0x80
        return p

    monkeypatch.setattr(codecs, "decode", flaky)
    page = np.zeros((3, 64), np.uint8)
    with pytest.raises(AssertionError, match="lsb_first"):
        run_case(TARGETS["mmr"], Case(codecs.encode(page, "mmr"), {"width": 64}))


def test_modem_target_catches_block_size_dependence(monkeypatch):
    from faxcore import modem
    real = modem.receiver

    class Lossy:
        def __init__(self, rx):
            self.rx_, self.n = rx, 0

        def rx(self, x):
            self.n += 1
            self.rx_.rx(x)

        def bits(self):
            b = self.rx_.bits()
            return b[1:] if self.n > 1 else b   # loses a bit after the first block

        def events(self):
            return self.rx_.events()

        @property
        def trained(self):
            return self.rx_.trained

    monkeypatch.setattr(modem, "receiver", lambda *a, **k: Lossy(real(*a, **k)))
    t = TARGETS["v29"]
    with pytest.raises(AssertionError, match="block sizes"):
        run_case(t, seeds(t)[0])


def test_tiff_target_lets_documented_errors_through():
    assert run_case(TARGETS["tiff"], Case(b"II*\x00\xff\xff\xff\x7f")) is not None


# ---- the driver -----------------------------------------------------------------------

def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUN), *args, "--corpus", str(tmp_path),
                           "--seed", "1", "--jobs", "1"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT)


def test_driver_replay_reports_an_exception_and_saves_the_input(tmp_path):
    d = tmp_path / "_selftest"
    d.mkdir()
    (d / "raises.bin").write_bytes(b"RAISE" + bytes(60))
    r = _run(tmp_path, "replay", "--count", "30", "_selftest")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FINDING in target _selftest: RuntimeError: selftest finding" in r.stdout
    assert f"input: corpus:{d / 'raises.bin'}" in r.stdout
    assert "31 inputs (1 corpus+seeds, 30 generated)" in r.stdout


def test_driver_survives_a_dying_worker_and_saves_the_generated_input(tmp_path):
    """A worker killed in the middle of an input (what an ASan report does) is restarted
    after it; the input is saved as crash-<sha1>.bin and the run fails."""
    d = tmp_path / "_selftest"
    d.mkdir()
    (d / "ok.bin").write_bytes(b"ABOR" + bytes(40))    # passes; grown past 1000: aborts
    r = _run(tmp_path, "replay", "--count", "300", "_selftest")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FINDING in target _selftest: crash (exit status -6) at fuzz.py" in r.stdout
    saved = sorted(d.glob("crash-*.bin"))
    assert len(saved) == 1, r.stdout                   # the same defect is saved once
    data = saved[0].read_bytes()
    assert data.startswith(b"ABOR") and len(data) > 1000
    assert saved[0].name == f"crash-{__import__('hashlib').sha1(data).hexdigest()[:12]}.bin"
    assert re.search(r"input: gen:_selftest#\d+@1", r.stdout)


def test_driver_kills_a_hang_and_names_its_input(tmp_path):
    d = tmp_path / "_selftest"
    d.mkdir()
    (d / "hangs.bin").write_bytes(b"HANG")
    r = _run(tmp_path, "replay", "--count", "5", "--hang-seconds", "3", "_selftest")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FINDING in target _selftest: hang" in r.stdout
    assert f"input: corpus:{d / 'hangs.bin'}" in r.stdout


def test_driver_fuzz_mode_runs_for_its_budget_and_counts(tmp_path):
    r = _run(tmp_path, "fuzz", "--seconds", "2", "hdlc", "t30")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("hdlc", "t30"):
        m = re.search(rf"{name}\s+(\d+) inputs .* behaviours: ok", r.stdout)
        assert m and int(m.group(1)) > 20, r.stdout
    assert "no findings" in r.stdout


def test_native_report_names_the_cython_function():
    spec = importlib.util.spec_from_file_location("fuzz_run", RUN)
    run = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_run"] = run          # its dataclasses look their module up
    spec.loader.exec_module(run)
    stderr = (
        "==1==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6240 at pc 0x7f\n"
        "READ of size 4 at 0x6240 thread T0\n"
        "    #0 0x7f5b in __pyx_f_7faxcore_6codecs_3_t4__decode_2d_body "
        "faxcore/codecs/_t4.c:25602\n")
    assert run.native_signature(stderr, -6, False) == "heap-buffer-overflow in _t4._decode_2d_body"
    method = stderr.replace("__pyx_f_7faxcore_6codecs_3_t4__decode_2d_body faxcore/codecs/_t4",
                            "__pyx_f_7faxcore_5modem_8qam_core_11QamReceiver__data_symbol "
                            "faxcore/modem/qam_core")
    assert run.native_signature(method, -6, False) == \
        "heap-buffer-overflow in qam_core.QamReceiver._data_symbol"
    pydef = stderr.replace("__pyx_f_7faxcore_6codecs_3_t4__decode_2d_body",
                           "__pyx_pf_7faxcore_6codecs_3_t4_2decode_packed")
    assert run.native_signature(pydef, -6, False) == "heap-buffer-overflow in _t4.decode_packed"
    assert run.native_signature("", None, True) == "hang"


def test_hidden_targets_are_not_run_by_default():
    assert "_selftest" not in TARGETS and "_selftest" in fuzz.HIDDEN_TARGETS
