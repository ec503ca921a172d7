"""Every fenced code block of README.md, run as it stands when the tests run.

* A ```python block runs as a script (this venv's Python) in a temporary directory that
  holds the sample files it names. It must exit 0, and what it prints or writes is
  checked by its entry in :data:`PYTHON_CHECKS` (a block that prints and has no entry
  fails). A serial device in a block (``"/dev/ttyUSB0"``) becomes faxcore's emulator in
  process, ``faxemu://?out=rx.tif`` for a call that dials, ``faxemu://?send=page.tif``
  for one that answers.
* A ```sh block is cut into command lines (``\\`` continuations joined, comments dropped).
  A line starting with ``faxcore`` runs as ``<venv>/bin/faxcore ...`` in a temporary
  directory holding the sample files it names; ``[--opt]`` parts are optional: the line
  runs once without them and once with them all. ``--device /dev/...`` becomes the
  emulator as above, ``../shared/`` the shared test data. Each line must exit 0 (or the
  status the README documents) and its outputs are read back and compared with what
  went in (:func:`check_command`). Lines that need spandsp or the shared data use
  ``missing()``: skipped on a developer machine, failed in CI.
* A ```toml block is a `faxcore serve` configuration: it must load (unknown keys are
  refused) and its ``[mail]`` table must parse; a ```sdp block must be what faxcore
  offers (its m-lines equal to :mod:`faxcore.sip.sdp`'s own offer for that port).
* Any other line (``make``, ``efax``, and ``faxcore modem emulate``, which serves a pty
  until a program has used it) must be in :data:`COVERED_ELSEWHERE`, with the test that
  runs what it shows. :func:`test_every_readme_example_is_run_or_covered_elsewhere`
  fails on a README line that is neither run here nor listed there, on a fence language
  this file does not run, and on a stale entry.

The sample files are made for each test from the names the README uses: PDF, TIFF-F,
images, PBM and raw streams from the ITU charts in ``../shared/testdata/itu/`` (a
synthetic page when they are absent); ``*.raw`` is Ghostscript's ``faxg4`` output when
``gs`` is installed (else our own MMR encoder), as the README's ``--raw mmr`` line says.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.parse
import wave
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faxcore.cli import build_parser
from faxcore.codecs import RESOLUTIONS, Page, load_pages, pbm_bytes, read_pbm, read_tiff, write_tiff
from faxcore.codecs.raw import read_raw, write_raw
from faxcore.mailgate.config import parse_mail_config
from faxcore.server.config import ServerConfig, apply_toml
from faxcore.server.config import check as check_config
from faxcore.sip.sdp import audio_media, image_media, parse_sdp
from faxcore.testing.pages import text_page
from faxcore.testing.paths import ROOT, SHARED
from faxcore.testing.peers import missing

README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
TIMEOUT_S = 900  # one example; the longest (TSB-85 over audio) takes ~25 s of CPU

# ---- what is not run here, and where it is ---------------------------------------------

#: README command lines (as parsed: continuations joined, comment dropped) that this file
#: does not run, each with the test that runs what it shows (``None``: CI itself).
COVERED_ELSEWHERE: dict[str, tuple[str | None, str]] = {
    "make demo": ("tests/server/test_serve_cli.py::"
                  "test_the_service_demo_faxes_through_the_api_and_stops_the_server",
                  "`faxcore serve --demo` as `make demo` runs it; the venv and build are "
                  "CI's `make test`"),
    "make test": (None, "CI runs it: the whole suite, ruff and the ASan replay"),
    "faxcore modem emulate": (
        "tests/class1/test_class1.py::test_cli_emulate_and_send",
        "the CLI emulator answers a dialling program and writes what it receives"),
    "efax -d /dev/pts/3 -o1 -t 123 page.tif": (
        "tests/interop/efax/test_efax_class1.py::test_efax_sends_two_pages_to_faxcore",
        "efax -t into the emulator (PtyModem); pixels compared"),
    "faxcore modem emulate --send doc.pdf": (
        "tests/interop/efax/test_efax_class1.py::test_efax_receives_two_pages_from_faxcore",
        "the ringing emulator that sends (PtyModem(ring=True)); the CLI's --send "
        "option itself is not run by a test"),
    "efax -d /dev/pts/3 -o1 -r rx": (
        "tests/interop/efax/test_efax_class1.py::test_efax_receives_two_pages_from_faxcore",
        "efax -r answers the emulator's RING; rx.001, rx.002 compared"),
    "faxcore modem emulate --pair": (
        "tests/interop/efax/test_efax_class1.py::test_efax_to_efax_through_two_emulated_modems",
        "two emulators on one line (PtyPair); the CLI's --pair option itself is not run "
        "by a test"),
    # fax over SIP: real processes on loopback UDP, pages compared
    "faxcore sip listen --bind 127.0.0.1:5080 --out received --once": (
        "tests/sipfax/test_sip_send_listen.py::test_sip_send_to_sip_listen_over_t38_three_pages",
        "sip listen --once and sip send as processes on 127.0.0.1, T.38, 3 pages"),
    "faxcore sip send --to sip:fax@127.0.0.1:5080 --bind 127.0.0.1 chart.pbm letter.pdf": (
        "tests/sipfax/test_sip_send_listen.py::test_sip_send_to_sip_listen_over_g711",
        "sip send to sip listen on 127.0.0.1; pages identical"),
    "faxcore sip send --to sip:1000@pbx.example.net --proxy pbx.example.net:5060 --user 201 "
    "--password secret --t38 prefer --pcap call.pcap letter.pdf": (
        "tests/interop/kamailio/test_kamailio_sip_fax.py::"
        "test_register_and_call_through_kamailio_over_t38_and_g711",
        "sip send through Kamailio as proxy with --user/--password (407 digest); --pcap in "
        "tests/sipfax/test_sip_send_listen.py::test_the_pcap_is_read_by_tshark"),
    "faxcore sip listen --bind 0.0.0.0:5060 --register sip:202@pbx.example.net --password "
    "secret --out received": (
        "tests/interop/kamailio/test_kamailio_sip_fax.py::"
        "test_register_and_call_through_kamailio_over_t38_and_g711",
        "sip listen --register at Kamailio (401 digest), then receives through the proxy"),
    "faxcore modem emulate --sip sip:{number}@pbx.example.net --sip-user 203 --sip-password "
    "secret": (
        "tests/sipfax/test_modem_emulate_sip.py::test_efax_faxes_over_sip_through_the_emulated_modem",
        "the emulator's line side as a SIP G.711 call, dialled by efax"),
    # the fax server: the same requests through httpx against the ASGI app or uvicorn
    "faxcore serve [--config faxcore.toml] [--bind 127.0.0.1:8025] [--db URL] "
    "[--data-dir DIR] [--admin-token T]": (
        "tests/server/test_serve_cli.py::test_the_toml_config_sets_retry_limits_channels_and_routes",
        "faxcore serve as a process with --config, --bind, --data-dir and --admin-token; "
        "--db postgresql:// in tests/server/test_serve_crash.py"),
    "curl -H Authorization: Bearer $ADMIN -d {\"numbers\":[\"+15550100\"]} "
    "localhost:8025/v1/admin/accounts": (
        "tests/server/test_server_send.py::"
        "test_a_fax_is_delivered_to_another_accounts_inbox_as_tiff_pdf_and_png",
        "the admin API creates the accounts (httpx, same request)"),
    "curl -H Authorization: Bearer $KEY -H Idempotency-Key: inv-42 -F to=+15550200 "
    "-F files=@letter.pdf -F header=ACME localhost:8025/v1/faxes": (
        "tests/server/test_server_send.py::test_the_same_idempotency_key_never_makes_a_second_job",
        "multipart POST /v1/faxes with an Idempotency-Key (httpx)"),
    "curl -H Authorization: Bearer $KEY localhost:8025/v1/faxes/1": (
        "tests/server/test_server_send.py::"
        "test_a_fax_is_delivered_to_another_accounts_inbox_as_tiff_pdf_and_png",
        "GET /v1/faxes/{id}: state, attempts, pages"),
    "curl -H Authorization: Bearer $KEY -O localhost:8025/v1/faxes/1/document.pdf": (
        "tests/server/test_server_send.py::"
        "test_a_fax_is_delivered_to_another_accounts_inbox_as_tiff_pdf_and_png",
        "the sent document as PDF"),
    "curl -X POST -H Authorization: Bearer $KEY localhost:8025/v1/faxes/1/cancel": (
        "tests/server/test_server_send.py::test_cancel_while_queued", "POST .../cancel"),
    "curl -H Authorization: Bearer $KEY2 localhost:8025/v1/inbox": (
        "tests/server/test_server_send.py::"
        "test_a_fax_is_delivered_to_another_accounts_inbox_as_tiff_pdf_and_png",
        "the inbox and /v1/received/ID.pdf|.tif|.png"),
    "curl -H Authorization: Bearer $KEY localhost:8025/v1/account": (
        "tests/server/test_server_gate.py::"
        "test_a_suspended_account_gets_402_with_the_reason_and_nothing_is_created",
        "GET /v1/account: status, balance, what the status allows"),
    # the printer: a real cupsd on a temporary directory and port
    "faxcore cups install --queue fax --uri faxcore://127.0.0.1:8025/?keyfile=/etc/faxcore/printer.key": (
        "tests/cups/test_cups_print_to_fax.py::test_lp_with_phone_option_becomes_a_delivered_fax",
        "faxcore cups install --queue --uri into a test cupsd"),
    "lp -d fax -o phone=5551234 letter.pdf": (
        "tests/cups/test_cups_print_to_fax.py::test_lp_with_phone_option_becomes_a_delivered_fax",
        "lp -o phone= -> a job delivered on the loopback channel"),
    "lpstat -l -o fax": (
        "tests/cups/test_cups_print_to_fax.py::"
        "test_a_suspended_account_has_its_print_job_held_with_the_reason",
        "the held job's reason in lpstat -l"),
}

#: what a hardware serial port in an example becomes: faxcore's emulator in process
EMULATOR_ANSWERS = "faxemu://?out=rx.tif"    # for a call that dials: the emulator receives
EMULATOR_CALLS = "faxemu://?send=page.tif"   # for a call that answers: the emulator sends


# ---- reading the README ----------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int  # README line of the block's first line of code


@dataclass(frozen=True)
class Command:
    block: int               # index of its block among the README's blocks
    line: int                # README line where it starts
    text: str                # the tokens joined again (the COVERED_ELSEWHERE key)
    tokens: tuple[str, ...]  # as written, optional parts still in [brackets]


_FENCE = re.compile(r"^ {0,3}```\s*([\w+-]*)")


def readme_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            start = i
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                i += 1
            if i == len(lines):
                raise AssertionError(f"README.md:{start + 1}: code block never closed")
            blocks.append(Block(m.group(1), "\n".join(lines[start + 1:i]) + "\n", start + 2))
        i += 1
    return blocks


def sh_commands(index: int, block: Block) -> list[Command]:
    out, buf, first = [], "", None
    for n, line in enumerate(block.code.splitlines(), block.line):
        first = n if first is None else first
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        tokens = tuple(shlex.split(buf + line, comments=True))
        if tokens:
            out.append(Command(index, first, " ".join(tokens), tokens))
        buf, first = "", None
    return out


def variants(tokens: tuple[str, ...]) -> dict[str, list[str]]:
    """``[--opt value]`` parts are optional: the line without them and with them all."""
    bare: list[str] = []
    full: list[str] = []
    depth = 0
    for tok in tokens:
        opens = tok.startswith("[")
        word = tok[1:] if opens else tok
        closes = depth + opens > 0 and word.endswith("]")
        word = word[:-1] if closes else word
        depth += opens
        if depth == 0:
            bare.append(tok)
        full.append(word)
        depth -= closes
    assert depth == 0, f"unbalanced [ ] in {shlex.join(tokens)}"
    return {"": bare} if bare == full else {" [bare]": bare, " [all options]": full}


def readme() -> tuple[list[Block], list[Command]]:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    commands = [c for i, b in enumerate(blocks) if b.lang == "sh" for c in sh_commands(i, b)]
    return blocks, commands


def is_run_here(cmd: Command) -> bool:
    return (cmd.tokens[0] == "faxcore" and cmd.text not in COVERED_ELSEWHERE
            and cmd.tokens[1:3] != ("modem", "emulate"))


def _ids(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


# ---- sample files ----------------------------------------------------------------------

SAMPLE_NAME = re.compile(
    r"(?<![\w.%/-])([\w-]+\.(?:pdf|tiff?|jpe?g|png|gif|bmp|pbm|raw|g3|g4))(?![\w.])", re.I)
MULTI_PAGE = (".pdf", ".tif", ".tiff")  # two pages each: multi-page paths get run too
GS_RAW_ROWS = 2292  # A4 at 196 lines per inch, what Ghostscript's fax devices give


def chart(n: int) -> np.ndarray:
    """ITU chart ``n`` (1..8), or a synthetic page of the same size without the data."""
    path = SHARED / "testdata" / "itu" / f"itu{n}.pbm"
    if path.is_file():
        return read_pbm(path.read_bytes())[0]
    return text_page(rows=2376, seed=n)


def sample_bitmaps(name: str) -> list[np.ndarray]:
    first = zlib.crc32(name.encode())  # each file its own chart(s), the same every run
    count = 2 if name.lower().endswith(MULTI_PAGE) else 1
    return [chart((first + i) % 8 + 1) for i in range(count)]


def grey(bm: np.ndarray, photo: bool = False) -> Image.Image:
    """Black on white; ``photo``: the white a grey ramp, as a scan would have."""
    white = np.full(bm.shape, 255, np.uint8)
    if photo:
        white = np.broadcast_to(np.linspace(150, 255, bm.shape[1]).astype(np.uint8), bm.shape)
    return Image.fromarray(np.where(bm == 1, 0, white).astype(np.uint8), "L")


def make_sample(path: Path) -> None:
    ext = path.suffix.lower()
    bms = sample_bitmaps(path.name)
    if ext == ".pdf":
        imgs = [grey(bm) for bm in bms]
        imgs[0].save(path, "PDF", save_all=True, append_images=imgs[1:], resolution=204)
    elif ext in (".tif", ".tiff"):
        write_tiff(path, [Page(bm, 204, 196) for bm in bms], "mmr")
    elif ext in (".jpg", ".jpeg", ".png", ".gif", ".bmp"):
        grey(bms[0], photo=True).save(path, dpi=(204, 196))
    elif ext == ".pbm":
        path.write_bytes(pbm_bytes(bms))
    elif ext == ".g3":
        write_raw(path, bms, "mh")
    elif ext == ".g4":
        write_raw(path, bms, "mmr")
    elif ext == ".raw":
        gs = shutil.which("gs")
        if gs is None:
            write_raw(path, [bms[0][:GS_RAW_ROWS]], "mmr")
            return
        pdf = path.with_name(path.stem + "-gs-src.pdf")
        grey(bms[0]).save(pdf, "PDF", resolution=204)
        subprocess.run([gs, "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=faxg4",
                        "-sPAPERSIZE=a4", "-dFIXEDMEDIA", "-dPDFFitPage", "-r204x196",
                        f"-sOutputFile={path}", str(pdf)], check=True, timeout=120)
        pdf.unlink()
    else:
        raise AssertionError(f"no sample maker for {path.name}")


def make_samples(workdir: Path, text: str, outputs: set[str]) -> None:
    for name in sorted(set(SAMPLE_NAME.findall(text)) - outputs):
        if not (workdir / name).exists():
            make_sample(workdir / name)


def example_env(workdir: Path) -> dict[str, str]:
    """The user's data directory (the default account database, rescued files) is the
    test's own; $FAXCORE_DB is not set, so the README's default is what runs."""
    env = dict(os.environ)
    env.pop("FAXCORE_DB", None)
    env["XDG_DATA_HOME"] = str(workdir / "xdg")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


# ---- comparing pages -------------------------------------------------------------------

def bitmaps_of(pages) -> list[np.ndarray]:
    return [np.asarray(p.bitmap if hasattr(p, "bitmap") else p, np.uint8) for p in pages]


def assert_same_pages(got, want, what: str) -> None:
    got, want = bitmaps_of(got), bitmaps_of(want)
    assert len(got) == len(want), f"{what}: {len(got)} page(s), expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True), 1):
        assert g.shape == w.shape, f"{what} page {i}: {g.shape}, expected {w.shape}"
        diff = int((g != w).sum())
        assert diff == 0, f"{what} page {i}: {diff} pixels differ"


def png_bitmap(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return (np.asarray(im.convert("L")) < 128).astype(np.uint8)


def sent_pages(workdir: Path, files, resolution: str | None = None):
    """The pages a call sends for ``files`` (the loader FaxSession and the CLI use)."""
    from faxcore.session import load_pages as session_pages

    return session_pages([workdir / f for f in files], resolution=resolution)


# ---- the ```python blocks --------------------------------------------------------------

@dataclass(frozen=True)
class PyCheck:
    marker: str                         # text only its block contains
    outputs: tuple[str, ...]            # files the block writes (not made as samples)
    check: Callable[[Path, str], None]  # (its directory, its stdout)


def _check_class1_example(wd: Path, out: str) -> None:
    summary, error = out.strip().splitlines()[-1].rsplit(" ", 1)
    assert summary.startswith("status OK") and error == "None", out
    assert_same_pages(read_tiff(wd / "rx.tif"), read_tiff(wd / "page.tif"),
                      "rx.tif (what the emulator received)")


def _check_codec_example(wd: Path, out: str) -> None:
    written = read_tiff(wd / "letter.tif")
    assert [p.scheme for p in written] == ["mmr"] * len(written)
    assert_same_pages(written, load_pages(wd / "letter.pdf", resolution="fine", page_size="a4"),
                      "letter.tif")
    assert out.splitlines() == [f"{p.width} {p.height} {p.resolution}" for p in written]
    assert {p.resolution for p in written} == {"fine"} and written[0].width == 1728


def _check_session_example(wd: Path, out: str) -> None:
    lines = out.splitlines()
    sent = read_tiff(wd / "letter.tif")
    assert lines[0].startswith("status OK") and f"received {len(sent)};" in lines[0], out
    assert "ECM" in lines[0] and "no ECM" not in lines[0]
    frames = [line.split()[2] for line in lines[1:]]
    for name in ("DIS", "DCS", "CFR", "MCF", "DCN"):
        assert name in frames, f"{name} not in the trace:\n{out}"
    assert_same_pages(read_tiff(wd / "in.tif"), sent, "in.tif")


def _check_modem_example(wd: Path, out: str) -> None:
    events = out.strip().splitlines()[-1]
    assert "training_succeeded" in events and "training_failed" not in events, out


def _check_accounts_example(wd: Path, out: str) -> None:
    from faxcore.accounts import open_store

    now = datetime.now(UTC)
    with open_store(f"sqlite:///{wd / 'faxcore.db'}") as store:
        (acct,) = store.list_accounts()
        row = store.account(acct["id"])
        assert (row["plan"], row["credit_limit_cents"], row["billing_day"]) == ("plus", 5000, 15)
        assert store.balance_cents(acct["id"], now) == -1250  # the payment, posted once
        assert store.status(acct["id"], now).name == "active"


def _check_tiff_budget_example(wd: Path, out: str) -> None:
    assert out.splitlines() == [f"{p.width} {p.height}" for p in read_tiff(wd / "big.tif")]


PYTHON_CHECKS = (
    PyCheck("Class1Serial(", ("rx.tif",), _check_class1_example),
    PyCheck("load_pages([", ("letter.tif",), _check_codec_example),
    PyCheck("FaxSession(", ("in.tif",), _check_session_example),
    PyCheck("modem.transmitter(", (), _check_modem_example),
    PyCheck("open_store(", ("faxcore.db",), _check_accounts_example),
    PyCheck("iter_tiff(", (), _check_tiff_budget_example),
)


def python_check(code: str) -> PyCheck | None:
    found = [c for c in PYTHON_CHECKS if c.marker in code]
    assert len(found) <= 1, f"several checks match one block: {[c.marker for c in found]}"
    return found[0] if found else None


def with_emulator(code: str) -> str:
    """A hardware port in a Python example becomes faxcore's emulator in process."""
    url = EMULATOR_ANSWERS if re.search(r"Class1Call\(\s*True", code) else EMULATOR_CALLS
    return re.sub(r"""(["'])/dev/[^"']+\1""", repr(url), code)


_BLOCKS, _COMMANDS = readme()
_PY = [b for b in _BLOCKS if b.lang == "python"]


def _py_id(block: Block) -> str:
    check = python_check(block.code)
    return "python " + (check.marker.rstrip("([") if check else block.code.split("\n")[0])


@pytest.mark.parametrize("block", _PY, ids=_ids([_py_id(b) for b in _PY]))
def test_readme_python_example(block: Block, tmp_path: Path) -> None:
    code = with_emulator(block.code)
    check = python_check(code)
    make_samples(tmp_path, code, set(check.outputs) if check else set())
    script = tmp_path / "readme_example.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, script.name], cwd=tmp_path, capture_output=True,
                         text=True, timeout=TIMEOUT_S, env=example_env(tmp_path))
    assert run.returncode == 0, (f"README.md:{block.line}: the example failed\n{code}\n"
                                 f"{run.stdout[-3000:]}{run.stderr[-3000:]}")
    if check is not None:
        check.check(tmp_path, run.stdout)


# ---- the ```sh command lines -----------------------------------------------------------

def prepare_tokens(tokens: list[str], workdir: Path) -> list[str]:
    """Hardware ports become the emulator; ``../shared/`` the shared data (which may be
    elsewhere, $FAXCORE_SHARED); spandsp must be there for ``--peer spandsp``."""
    out = list(tokens)
    for i, tok in enumerate(out):
        if tok == "--device" and i + 1 < len(out) and out[i + 1].startswith("/dev/"):
            out[i + 1] = EMULATOR_ANSWERS if "send" in out[:i] else EMULATOR_CALLS
        if tok.startswith("../shared/"):
            path = SHARED / tok.removeprefix("../shared/")
            if not path.exists():
                missing(str(path))
            out[i] = str(path)
    if "spandsp" in out:
        from faxcore.testing.spandsp import lib

        lib()  # raises SpandspMissing: missing() by conftest's hook
    return out


def parse(tokens: list[str]):
    try:
        return build_parser().parse_args(tokens[1:])
    except SystemExit:
        pytest.fail(f"the README line does not parse: {shlex.join(tokens)}")


def emulator_files(args) -> dict[str, list[str]]:
    """The faxemu:// URL's options (``out``, ``send``), if the device is the emulator."""
    device = getattr(args, "device", "") or ""
    if not device.startswith("faxemu://"):
        return {}
    return urllib.parse.parse_qs(urllib.parse.urlsplit(device).query)


def outputs_of(args) -> set[str]:
    names = {getattr(args, a, None) for a in ("out", "output", "wav")}
    names |= set(emulator_files(args).get("out", []))
    return {n for n in names if isinstance(n, str)}


@dataclass
class Ran:
    stdout: str
    stderr: str
    returncode: int


def run_faxcore(tokens: list[str], workdir: Path) -> Ran:
    exe = VENV_BIN / "faxcore"
    assert exe.is_file(), f"{exe} is missing: the README's `.venv/bin/faxcore`"
    run = subprocess.run([str(exe), *tokens[1:]], cwd=workdir, capture_output=True,
                         text=True, timeout=TIMEOUT_S, env=example_env(workdir))
    return Ran(run.stdout, run.stderr, run.returncode)


def ok(run: Ran, tokens: list[str]) -> None:
    assert run.returncode == 0, (f"exit {run.returncode}: {shlex.join(tokens)}\n"
                                 f"{run.stdout[-3000:]}{run.stderr[-3000:]}")


def cents(dollars: str) -> int:
    return int(Decimal(dollars) * 100)


def account_db(workdir: Path) -> Path:
    """The README's default: faxcore.db in the user's data directory."""
    db = workdir / "xdg" / "faxcore" / "faxcore.db"
    assert db.is_file(), f"no account database at {db}"
    return db


def _read_converted(wd: Path, args, expected) -> list[np.ndarray]:
    path = wd / args.output
    ext = path.suffix.lower()
    if ext in (".tif", ".tiff"):
        pages = read_tiff(path)
        assert {p.scheme for p in pages} == {args.scheme or "mmr"}
        if args.resolution:
            assert {(p.xres, p.yres) for p in pages} == {RESOLUTIONS[args.resolution]}
        return bitmaps_of(pages)
    if ext == ".png":  # one file a page: page-1.png, page-2.png, ...
        files = [path.with_name(f"{path.stem}-{i}{path.suffix}")
                 for i in range(1, len(expected) + 2)]
        assert not files[-1].exists()
        return [png_bitmap(f) for f in files[:-1]]
    if ext == ".pbm":
        return read_pbm(path.read_bytes())
    if ext in (".g3", ".g4"):
        scheme = args.scheme or ("mh" if ext == ".g3" else "mmr")
        return bitmaps_of(read_raw(path, scheme, expected[0].width,
                                   lsb_first=args.fill_order == 2))
    raise AssertionError(f"no reader for {path.name}")


def check_convert(wd: Path, args, run: Ran, tokens: list[str]) -> None:
    ok(run, tokens)
    expected = load_pages(wd / args.input, resolution=args.resolution,
                          page_size=args.page_size, dither=args.dither,
                          split=not args.no_split, raw=args.raw, width=args.width,
                          lsb_first=args.lsb_first, page_rows=args.page_rows)
    assert f"{len(expected)} page(s)" in run.stdout, run.stdout
    assert_same_pages(_read_converted(wd, args, expected), expected, args.output)
    if args.raw:  # the README's Ghostscript stream: an A4 page at fine
        assert [p.bitmap.shape for p in expected] == [(GS_RAW_ROWS, 1728)]
        assert all(p.bitmap.any() for p in expected)


def check_info(wd: Path, args, run: Ran, tokens: list[str]) -> None:
    ok(run, tokens)
    pages = load_pages(wd / args.file)
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"{args.file}: ") and lines[0].endswith(f"{len(pages)} page(s)")
    page_lines = [line for line in lines if line.startswith("page ")]
    assert len(page_lines) == len(pages), run.stdout
    for i, (line, p) in enumerate(zip(page_lines, pages, strict=True), 1):
        assert line.startswith(f"page {i}: {p.width} x {p.height} pixels"), line


def check_call(wd: Path, args, run: Ran, tokens: list[str]) -> None:
    ok(run, tokens)
    for station in ("caller:", "answerer:"):
        (line,) = [x for x in run.stdout.splitlines() if x.startswith(station)]
        assert "status OK" in line, run.stdout
    assert_same_pages(read_tiff(wd / args.out), sent_pages(wd, args.inputs, args.resolution),
                      args.out)
    if args.wav:
        with wave.open(str(wd / args.wav)) as w:  # left: caller, right: answerer
            assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
            assert w.getnframes() > 8000


def documented_failures() -> set[str]:
    """The TSB-85 procedures the README says fail (over audio): "OTEN03 fails: ..."."""
    return set(re.findall(r"\b([A-Z]{4}\d{2}) fails\b", README.read_text(encoding="utf-8")))


def check_conformance(wd: Path, args, run: Ran, tokens: list[str]) -> None:
    if args.json:
        results = json.loads(run.stdout)
        passed = {r["name"] for r in results if r["passed"]}
        failed = {r["name"] for r in results} - passed
        if args.test:
            assert {r["name"] for r in results} == set(args.test)
        if args.trace:
            assert all(r["trace"] for r in results)
        if args.audio:
            assert all(r["mode"] != "interface" and r["timings"] for r in results)
    else:
        m = re.search(r"^passed (\d+) of (\d+) procedures", run.stdout, re.M)
        assert m, run.stdout[-2000:]
        failed = {line.split()[0] for line in run.stdout.splitlines() if " FAIL " in line}
        assert int(m.group(2)) - int(m.group(1)) == len(failed)
    # only the failures the README names, and exit status 1 exactly when there are some
    allowed = documented_failures() if args.audio else set()
    assert failed <= allowed, f"failed: {sorted(failed)}; the README names {sorted(allowed)}"
    assert run.returncode == (1 if failed else 0), run.stderr[-2000:]


def _state(wd: Path, args):
    """Account ``args.account``'s balance before an ``account pay`` line."""
    if getattr(args, "account_command", None) != "pay":
        return None
    from faxcore.accounts import open_store

    with open_store(f"sqlite:///{account_db(wd)}") as store:
        return store.balance_cents(args.account, datetime.now(UTC))


def check_accounts(wd: Path, args, run: Ran, tokens: list[str], before=None) -> None:
    from faxcore.accounts import open_store

    ok(run, tokens)
    now = datetime.now(UTC)
    action = getattr(args, f"{args.command}_command")
    with open_store(f"sqlite:///{account_db(wd)}") as store:
        if (args.command, action) == ("account", "create"):
            (n,) = re.findall(r"created account (\d+)", run.stdout)
            row = store.account(int(n))
            assert (row["plan"], row["credit_limit_cents"], row["billing_day"]) == \
                (args.plan, cents(args.credit_limit), args.billing_day)
        elif (args.command, action) == ("account", "pay"):
            assert store.balance_cents(args.account, now) == before - cents(args.amount)
        elif (args.command, action) == ("account", "show"):
            shown = json.loads(run.stdout) if args.json else None
            assert shown is None or (shown["id"], shown["balance_cents"], shown["plan"]) == \
                (args.account, store.balance_cents(args.account, now),
                 store.account(args.account)["plan"])
            assert shown is not None or f"account {args.account}:" in run.stdout
        elif (args.command, action) == ("jobs", "submit"):
            (n,) = re.findall(r"^job (\d+):", run.stdout, re.M)
            job = store.get_job(int(n))
            assert (job.account_id, job.remote, job.pages, job.channel, job.state) == \
                (args.account, args.to, args.pages, args.channel, "queued")
        else:
            raise AssertionError(f"no check for `faxcore {args.command} {action}`: add one")


def check_modem(wd: Path, args, run: Ran, tokens: list[str]) -> None:
    ok(run, tokens)
    (summary,) = [x for x in run.stdout.splitlines() if x.startswith("status ")]
    assert summary.startswith("status OK"), run.stdout
    emu = emulator_files(args)
    if args.modem_command == "send":
        (out,) = emu["out"]
        assert_same_pages(read_tiff(wd / out), sent_pages(wd, args.files, args.resolution),
                          f"{out} (what the emulator received)")
    else:
        assert_same_pages(read_tiff(wd / args.out), sent_pages(wd, emu["send"]), args.out)


CHECKS: dict[str, Callable[..., None]] = {
    "convert": check_convert, "info": check_info, "call": check_call,
    "conformance": check_conformance, "account": check_accounts, "jobs": check_accounts,
    "modem": check_modem,
}
STATEFUL = ("account", "jobs")  # these lines share the account database of their block


_RUNS = [(cmd, suffix, tokens) for cmd in _COMMANDS if is_run_here(cmd)
         for suffix, tokens in variants(cmd.tokens).items()]


@pytest.mark.parametrize(("cmd", "tokens"), [(c, t) for c, _, t in _RUNS],
                         ids=_ids([c.text + s for c, s, _ in _RUNS]))
def test_readme_command(cmd: Command, tokens: list[str], tmp_path: Path) -> None:
    if cmd.tokens[1] in STATEFUL:  # the lines before it in its block, in order
        for prev in _COMMANDS:
            if prev.block == cmd.block and prev.line < cmd.line and prev.tokens[1] in STATEFUL:
                (prev_tokens,) = variants(prev.tokens).values()
                ok(run_faxcore(prev_tokens, tmp_path), prev_tokens)
    tokens = prepare_tokens(tokens, tmp_path)
    args = parse(tokens)
    assert args.command in CHECKS, f"no check for `faxcore {args.command}`: add one"
    make_samples(tmp_path, shlex.join(tokens), outputs_of(args))
    before = _state(tmp_path, args) if args.command in STATEFUL else None
    run = run_faxcore(tokens, tmp_path)
    if args.command in STATEFUL:
        check_accounts(tmp_path, args, run, tokens, before)
    else:
        CHECKS[args.command](tmp_path, args, run, tokens)


def test_fax_session_takes_the_pages_the_loader_gives(tmp_path: Path) -> None:
    """An old README example, FaxSession(send=prepare(...)), raised TypeError: pages
    from the loader (codecs ``Page`` objects, as the README's load_pages example makes
    them) are now taken as they are, as the README says."""
    from faxcore import FaxSession
    from faxcore.codecs.prep import prepare

    make_sample(tmp_path / "letter.pdf")
    pages = load_pages([tmp_path / "letter.pdf"])
    for send in (pages, prepare(tmp_path / "letter.pdf")):
        session = FaxSession(True, send=send)
        assert_same_pages(session.engine.cfg.pages, pages, "FaxSession's pages")


# ---- nothing in the README goes untested -----------------------------------------------

def test_every_readme_example_is_run_or_covered_elsewhere() -> None:
    blocks, commands = readme()
    assert any(b.lang == "python" for b in blocks) and any(is_run_here(c) for c in commands)
    problems = [f"README.md:{b.line}: ```{b.lang or '(no language)'} blocks are not run "
                f"(tests/cli/test_readme_examples.py runs python and sh, checks toml, sdp)"
                for b in blocks if b.lang not in ("python", "sh", "toml", "sdp")]
    for c in commands:
        if not is_run_here(c) and c.text not in COVERED_ELSEWHERE:
            problems.append(f"README.md:{c.line}: `{c.text}` is neither run by this file nor "
                            f"in COVERED_ELSEWHERE with the test that covers it")
    listed = {c.text for c in commands}
    for text, (node, _why) in COVERED_ELSEWHERE.items():
        if text not in listed:
            problems.append(f"COVERED_ELSEWHERE: `{text}` is no longer in README.md")
        if node is not None:
            path, name = node.split("::")
            src = ROOT / path
            if not src.is_file() or f"def {name}(" not in src.read_text(encoding="utf-8"):
                problems.append(f"COVERED_ELSEWHERE: {node} (for `{text}`) does not exist")
    checks_used = []
    for b in blocks:
        if b.lang != "python":
            continue
        check = python_check(b.code)
        if check is None and "print(" in b.code:
            problems.append(f"README.md:{b.line}: a Python example that prints has no "
                            f"PYTHON_CHECKS entry checking what it prints")
        checks_used += [check.marker] if check else []
    for c in PYTHON_CHECKS:
        if checks_used.count(c.marker) != 1:
            problems.append(f"PYTHON_CHECKS: {c.marker!r} matches {checks_used.count(c.marker)}"
                            f" README blocks, not 1")
    assert not problems, "\n".join(problems)


def test_readme_parsing() -> None:
    """The README reader itself: fences, continuations, comments, optional parts."""
    text = ("x\n```sh\n# a comment\nfaxcore a b \\\n   --c 'd e'   # note\n\n"
            "faxcore t f [--test X] [--json]\n```\n  ```python\nprint(1)\n  ```\n")
    blocks = readme_blocks(text)
    assert [(b.lang, b.line) for b in blocks] == [("sh", 3), ("python", 10)]
    cmds = sh_commands(0, blocks[0])
    assert [(c.line, c.tokens) for c in cmds] == [
        (4, ("faxcore", "a", "b", "--c", "d e")),
        (7, ("faxcore", "t", "f", "[--test", "X]", "[--json]"))]
    assert variants(cmds[1].tokens) == {
        " [bare]": ["faxcore", "t", "f"],
        " [all options]": ["faxcore", "t", "f", "--test", "X", "--json"]}
    assert variants(cmds[0].tokens) == {"": list(cmds[0].tokens)}
    assert with_emulator('Class1Serial("/dev/ttyS0").run(Class1Call(True, dial="1"))') == \
        f'Class1Serial({EMULATOR_ANSWERS!r}).run(Class1Call(True, dial="1"))'
    assert SAMPLE_NAME.findall("a letter.pdf 'faxemu://?out=rx.tif' x/y.tif page-%d.tif "
                               "b.pdf.bak in.TIF") == ["letter.pdf", "rx.tif", "in.TIF"]


# ---- configuration and SDP shown in the README -----------------------------------------

_TOML = [b for b in _BLOCKS if b.lang == "toml"]
_SDP = [b for b in _BLOCKS if b.lang == "sdp"]


@pytest.mark.parametrize("block", _TOML, ids=[f"line{b.line}" for b in _TOML])
def test_readme_toml_is_a_valid_serve_config(block: Block) -> None:
    """The README's `faxcore serve` configuration loads as `faxcore serve --config` loads
    it (unknown keys and bad values are refused), and a [mail] table parses."""
    data = tomllib.loads(block.code)
    cfg = ServerConfig()
    apply_toml(cfg, data, f"README.md:{block.line}")
    check_config(cfg)
    if "mail" in data:
        parse_mail_config(data["mail"])
    if "channel" in data:
        assert [c.name for c in cfg.channels] == [c["name"] for c in data["channel"]]


@pytest.mark.parametrize("block", _SDP, ids=[f"line{b.line}" for b in _SDP])
def test_readme_sdp_is_what_faxcore_offers(block: Block) -> None:
    """The SDP sample parses and each m-line is faxcore's own offer for its port."""
    sd = parse_sdp(block.code.replace("\n", "\r\n"))
    assert sd.media
    for m in sd.media:
        own = image_media(m.port) if m.media == "image" else audio_media(m.port)
        assert (m.media, m.proto, m.fmts, m.attributes) == (
            own.media, own.proto, own.fmts, own.attributes)
