"""faxcore's T.38 terminal against itself in virtual time, IFP packet objects passed
directly (no wire codec): calls at every modem and rate with and without ECM, pages
compared pixel for pixel; the bit order of HDLC and T.4 data on the wire; repeats,
duplicates and peer quirks on receipt; a DCN mid-page and a peer that goes silent."""

from __future__ import annotations

import numpy as np
import pytest

from faxcore.codecs import decode, encode, read_tiff
from faxcore.t30 import TxPage
from faxcore.t30.result import T30Status
from faxcore.t38.link import DelayChannel, run_pair
from faxcore.t38.packets import DataPacket, DataType, Field, FieldType, Indicator
from faxcore.t38.packets import IndicatorPacket as Ind
from faxcore.t38.terminal import MAX_HDLC_OCTETS, T38Terminal, reverse_bits
from faxcore.testing.pages import text_page

RATES = [("v17", 14400), ("v17", 12000), ("v17", 9600), ("v17", 7200),
         ("v29", 9600), ("v29", 7200), ("v27ter", 4800), ("v27ter", 2400)]
DIS_FIF_START = bytes.fromhex("FF 13 80")


def three_pages(seed: int = 0) -> list[TxPage]:
    return [TxPage(text_page(240, seed=seed + i), "fine") for i in range(3)]


def same_pages(sent: list[TxPage], got: list[np.ndarray]) -> bool:
    return len(sent) == len(got) and all(np.array_equal(s.bitmap, g) for s, g in zip(sent, got, strict=True))


class Recorder(DelayChannel):
    """A delay channel that also keeps (time, packet) of everything sent through it."""

    def __init__(self, delay: float = 0.02):
        super().__init__(delay)
        self.sent: list[tuple[float, object]] = []

    def send(self, packets, now):
        packets = list(packets)
        self.sent += [(now, p) for p in packets]
        super().send(packets, now)


class SlowLine(Recorder):
    """A line whose modems cannot carry more than ``max_rate``: the non-ECM data (TCF)
    of faster modems arrives as 0x55 (alternating bits), so the receiver answers FTT and
    the sender falls back, as far as the first rate the line carries."""

    def __init__(self, max_rate: int, delay: float = 0.02):
        super().__init__(delay)
        self.max_rate = max_rate

    def send(self, packets, now):
        out = []
        for p in packets:
            if isinstance(p, DataPacket) and p.data_type != DataType.V21 \
                    and _RATE[p.data_type] > self.max_rate:
                p = DataPacket(p.data_type, tuple(
                    Field(f.type, b"\x55" * len(f.data)) if f.data else f for f in p.fields))
            out.append(p)
        super().send(out, now)


#: (modem, rate, long training) -> the indicator T.38 has for it (V.27ter and V.29 have
#: one training)
TRAINING = {
    ("v17", 14400, True): Indicator.V17_14400_LONG_TRAINING,
    ("v17", 14400, False): Indicator.V17_14400_SHORT_TRAINING,
    ("v17", 12000, True): Indicator.V17_12000_LONG_TRAINING,
    ("v17", 12000, False): Indicator.V17_12000_SHORT_TRAINING,
    ("v17", 9600, True): Indicator.V17_9600_LONG_TRAINING,
    ("v17", 9600, False): Indicator.V17_9600_SHORT_TRAINING,
    ("v17", 7200, True): Indicator.V17_7200_LONG_TRAINING,
    ("v17", 7200, False): Indicator.V17_7200_SHORT_TRAINING,
    ("v29", 9600, True): Indicator.V29_9600_TRAINING,
    ("v29", 9600, False): Indicator.V29_9600_TRAINING,
    ("v29", 7200, True): Indicator.V29_7200_TRAINING,
    ("v29", 7200, False): Indicator.V29_7200_TRAINING,
    ("v27ter", 4800, True): Indicator.V27_4800_TRAINING,
    ("v27ter", 4800, False): Indicator.V27_4800_TRAINING,
    ("v27ter", 2400, True): Indicator.V27_2400_TRAINING,
    ("v27ter", 2400, False): Indicator.V27_2400_TRAINING,
}

TRAINING_RATE = {ind: r for (_, r, _), ind in TRAINING.items()}

_RATE = {DataType.V27TER_2400: 2400, DataType.V27TER_4800: 4800, DataType.V29_7200: 7200,
         DataType.V29_9600: 9600, DataType.V17_7200: 7200, DataType.V17_9600: 9600,
         DataType.V17_12000: 12000, DataType.V17_14400: 14400}


def call(pages, *, ecm=True, modems=("v17", "v29", "v27ter"), a_to_b=None, b_to_a=None,
         limit=600.0, caller=None, answerer=None):
    a = T38Terminal(True, send=pages, ecm=ecm, modems=modems, ident="+1 555 0100",
                    **(caller or {}))
    b = T38Terminal(False, ecm=ecm, modems=modems, ident="+44 20 7946", **(answerer or {}))
    t = run_pair(a, b, a_to_b=a_to_b, b_to_a=b_to_a, limit=limit)
    return a, b, t


@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
@pytest.mark.parametrize("modem,rate", RATES, ids=[f"{m}-{r}" for m, r in RATES])
def test_three_pages_at_every_modem_and_rate(modem, rate, ecm):
    """The calling terminal sends 3 pages at each modem and rate (the line forces the
    rate: TCF above it fails, so the sender falls back through FTT); both sides end OK
    at that rate and the received pages equal the sent ones pixel for pixel."""
    pages = three_pages()
    line = SlowLine(rate)
    a, b, _ = call(pages, ecm=ecm, modems=(modem,), a_to_b=line)
    for t in (a, b):
        assert t.result.status == T30Status.OK, t.result.summary()
        assert t.result.modulation == f"{modem.upper().replace('TER', 'ter')}/{rate}"
        assert t.result.ecm is ecm
    assert a.result.pages_sent == 3
    assert same_pages(pages, b.pages)
    assert b.result.remote_ident == "+1 555 0100"
    # the trainings the sender announced: the last TCF's long training at the rate of
    # the call, then only the short training (V.17) at that rate, for the pages or ECM
    # blocks (V.27ter and V.29 have one training indicator per rate)
    inds = [p.indicator for _, p in line.sent if isinstance(p, Ind)
            and p.indicator not in (Indicator.NO_SIGNAL, Indicator.CNG,
                                    Indicator.V21_PREAMBLE)]
    long_, short = TRAINING[(modem, rate, True)], TRAINING[(modem, rate, False)]
    first = inds.index(long_)
    if long_ != short:
        first = len(inds) - 1 - inds[::-1].index(long_)
    after = inds[first + 1:]
    assert after and set(after) == {short}
    assert all(TRAINING_RATE[x] > rate for x in inds[:inds.index(long_)])


def test_polling_the_answering_terminal_sends():
    """The reverse direction: the caller polls (DTC) and the answering terminal sends."""
    pages = three_pages(7)
    a = T38Terminal(True, poll=True)
    b = T38Terminal(False, send=pages)
    run_pair(a, b)
    assert a.result.status == T30Status.OK and b.result.status == T30Status.OK
    assert same_pages(pages, a.pages)


def test_received_pages_are_stored_in_the_tiff(tmp_path):
    """receive=PATH: every page is in the TIFF-F when the call is over."""
    pages = three_pages(3)
    out = tmp_path / "fax.tif"
    a = T38Terminal(True, send=pages, ecm=False)
    b = T38Terminal(False, receive=out, ecm=False)
    run_pair(a, b)
    assert b.result.status == T30Status.OK
    assert b.received_path == out
    got = read_tiff(out)
    assert [p.bitmap.tolist() for p in got] == [p.bitmap.tolist() for p in pages]


def test_the_wire_carries_frames_and_page_data_first_bit_in_the_msb():
    """Bit order on the wire: the engine's frames are in line order (DIS FF 13 80), the
    IFP octets have the first bit sent in the MSB (DIS FF C8 01, as spandsp and
    Wireshark have it); a non-ECM page's data, read MSB first, decodes to the page."""
    pages = three_pages(11)
    ab, ba = Recorder(), Recorder()
    a, b, _ = call(pages, ecm=False, modems=("v29",), a_to_b=ab, b_to_a=ba)
    assert b.result.status == T30Status.OK
    # The answerer's first V.21 burst: the preamble indicator, then DIS as HDLC data.
    pk = [p for _, p in ba.sent]
    first = pk.index(Ind(Indicator.V21_PREAMBLE))
    octets = bytearray()
    for p in pk[first + 1:]:
        if isinstance(p, DataPacket):
            octets += b"".join(f.data for f in p.fields)
            if any(f.type == FieldType.HDLC_FCS_OK_SIG_END for f in p.fields):
                break
    rx = [e for e in a.result.trace if e.direction == "rx"]
    assert [e.name for e in rx[:2]] == ["CSI", "DIS"]
    csi, dis = (bytes.fromhex(e.hex) for e in rx[:2])
    assert dis[:3] == DIS_FIF_START
    assert bytes(octets) == reverse_bits(csi) + reverse_bits(dis)
    assert bytes(octets[len(csi):len(csi) + 3]) == bytes.fromhex("FF C8 01")
    # V.29 has one training; the first page is the second burst of V.29 data (the
    # first is the TCF).
    bursts, cur, last = [], None, None
    for p in (p for _, p in ab.sent):
        if isinstance(p, Ind) and p.indicator == Indicator.V29_9600_TRAINING and p != last:
            cur = bytearray()
            bursts.append(cur)
        elif isinstance(p, DataPacket) and p.data_type == DataType.V29_9600 and cur is not None:
            cur += b"".join(f.data for f in p.fields if f.type == FieldType.T4_NON_ECM_DATA)
        last = p
    assert not any(bursts[0])  # the TCF: zeros
    page = decode(bytes(bursts[1]), "mr", 1728, lsb_first=False)
    assert np.array_equal(page.bitmap, pages[0].bitmap)


def test_indicators_and_signal_ends_are_sent_repeats_times_and_data_once():
    """Each indicator and signal end goes ``repeats`` times (3 by default, 1 here), an
    indicator only when it changes; data packets once."""
    for repeats in (3, 1):
        rec = Recorder()
        a, b, _ = call(three_pages(), ecm=True, caller={"repeats": repeats}, a_to_b=rec)
        assert a.result.status == T30Status.OK
        pk = [p for _, p in rec.sent]
        runs = []  # lengths of runs of identical consecutive indicator packets
        for i, p in enumerate(pk):
            if isinstance(p, Ind) and (i == 0 or pk[i - 1] != p):
                n = 1
                while i + n < len(pk) and pk[i + n] == p:
                    n += 1
                runs.append(n)
        assert runs and set(runs) == {repeats}
        ends = [p for p in pk if isinstance(p, DataPacket)
                and p.fields[-1].type == FieldType.HDLC_FCS_OK_SIG_END]
        assert len(ends) % repeats == 0 and ends
        # the indicator sequence never repeats an indicator after another copy of itself
        inds = [p.indicator for p in pk if isinstance(p, Ind)]
        changes = [x for i, x in enumerate(inds) if i == 0 or inds[i - 1] != x]
        assert all(changes[i] != changes[i + 1] for i in range(len(changes) - 1))


class Duplicator(DelayChannel):
    """Copies of every indicator and signal end (as if re-sent under new sequence
    numbers), and the last indicator again in the middle of every data burst."""

    def __init__(self):
        super().__init__(0.02)
        self.last_ind = None
        self.data_run = 0

    def send(self, packets, now):
        out = []
        for p in packets:
            out.append(p)
            if isinstance(p, Ind):
                self.last_ind = p
                self.data_run = 0
                out += [p, p]
            elif isinstance(p, DataPacket):
                if any(f.type in (FieldType.HDLC_FCS_OK_SIG_END, FieldType.T4_NON_ECM_SIG_END)
                       for f in p.fields):
                    out += [p, p, p]
                self.data_run += 1
                if self.data_run == 5 and self.last_ind is not None:
                    out.append(self.last_ind)  # an unchanged indicator, repeated
        super().send(out, now)


@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_duplicates_and_an_unchanged_indicator_are_ignored(ecm):
    """Repeated indicators and signal ends, and an unchanged indicator sent again in the
    middle of a burst, change nothing: both sides OK, pages identical, and each
    terminal counted the copies it ignored."""
    pages = three_pages(5)
    a, b, _ = call(pages, ecm=ecm, a_to_b=Duplicator(), b_to_a=Duplicator())
    assert a.result.status == T30Status.OK and b.result.status == T30Status.OK
    assert same_pages(pages, b.pages)
    assert a.rx_repeats > 0 and b.rx_repeats > 0
    assert [e.name for e in b.result.trace if e.direction == "rx"].count("DCS") == 1


class Rewrite(DelayChannel):
    """Applies ``fn`` to each packet (returns a list of packets to send instead)."""

    def __init__(self, fn):
        super().__init__(0.02)
        self.fn = fn

    def send(self, packets, now):
        out = []
        for p in packets:
            out += self.fn(p)
        super().send(out, now)


def _no_preamble(p):
    return [] if p == Ind(Indicator.V21_PREAMBLE) else [p]


def _cisco_fcs(p):
    """The last data octet moved into the fcs-OK / fcs-OK-sig-end field (Cisco)."""
    if isinstance(p, DataPacket) and len(p.fields) == 2 and p.fields[1].type == \
            FieldType.HDLC_FCS_OK and len(p.fields[0].data) > 1:
        d = p.fields[0].data
        return [DataPacket(p.data_type, (Field(FieldType.HDLC_DATA, d[:-1]),
                                         Field(FieldType.HDLC_FCS_OK, d[-1:])))]
    return [p]


def _mediatrix_end(p):
    """hdlc-sig-end where t4-non-ecm-sig-end belongs (Mediatrix), spandsp-style padding
    inside it."""
    if isinstance(p, DataPacket) and p.fields[-1].type == FieldType.T4_NON_ECM_SIG_END:
        return [DataPacket(p.data_type, (Field(FieldType.T4_NON_ECM_DATA, bytes(3)),
                                         Field(FieldType.HDLC_SIG_END),))]
    return [p]


@pytest.mark.parametrize("quirk", [_no_preamble, _cisco_fcs, _mediatrix_end],
                         ids=["no-preamble-indicator", "data-in-fcs-ok", "hdlc-sig-end-for-t4"])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_peer_quirks_are_tolerated(quirk, ecm):
    """The quirks of fact sheet section 1 ("Tolerate") on both directions: the call
    still ends OK on both sides with identical pages."""
    pages = three_pages(9)
    a, b, _ = call(pages, ecm=ecm, a_to_b=Rewrite(quirk), b_to_a=Rewrite(quirk))
    assert a.result.status == T30Status.OK, a.result.summary()
    assert b.result.status == T30Status.OK, b.result.summary()
    assert same_pages(pages, b.pages)


def _feed(t: T38Terminal, packets, now: float) -> float:
    for p in packets:
        now += 0.03
        t.packets(now)
        t.receive_packet(p, now)
    return now


def _v21(frame: bytes, fcs=FieldType.HDLC_FCS_OK_SIG_END, split=1):
    wire = reverse_bits(frame)
    out = [DataPacket(DataType.V21, (Field(FieldType.HDLC_DATA, wire[i:i + split]),))
           for i in range(0, len(wire), split)]
    return out + [DataPacket(DataType.V21, (Field(fcs),))]


def test_a_frame_not_starting_ff_is_taken_as_damaged():
    """A frame whose first octet is not FF (damaged on the way) is reported with a bad
    FCS (traced not OK) and not acted on; the good DIS after it is."""
    t = T38Terminal(True, send=three_pages())
    t.start(0.0)
    dis = DIS_FIF_START + bytes.fromhex("00 EE FA 80 80 91 03")
    bad = bytes([0x7F]) + dis[1:]
    now = _feed(t, [Ind(Indicator.V21_PREAMBLE), *_v21(bad, FieldType.HDLC_FCS_OK_SIG_END),
                    Ind(Indicator.NO_SIGNAL)], 1.0)
    rx = [e for e in t.result.trace if e.direction == "rx"]
    assert [(e.name, e.crc_ok) for e in rx] == [("?", False)]
    _feed(t, [Ind(Indicator.V21_PREAMBLE), *_v21(dis), Ind(Indicator.NO_SIGNAL)], now + 1)
    rx = [e for e in t.result.trace if e.direction == "rx"]
    assert [(e.name, e.crc_ok) for e in rx] == [("?", False), ("DIS", True)]
    t.packets(now + 2)  # the 75 ms gap, then DCS
    assert [e.name for e in t.result.trace if e.direction == "tx"] == ["DCS"]


def test_a_frame_with_a_lost_packet_is_taken_as_damaged():
    """A packet of a frame lost for good (packet_lost: UDPTL gave up on it) makes the
    frame's end a bad FCS (T.38 has no FCS to notice the hole by), as spandsp does; the
    next frame is judged on its own."""
    t = T38Terminal(True, send=three_pages())
    t.start(0.0)
    dis = DIS_FIF_START + bytes.fromhex("00 EE FA 80 80 91 03")
    pk = _v21(dis, split=2)
    now = _feed(t, [Ind(Indicator.V21_PREAMBLE), pk[0], pk[2]], 1.0)
    t.packet_lost(now)  # pk[1]
    now = _feed(t, [*pk[3:], Ind(Indicator.NO_SIGNAL)], now)
    assert [(e.name, e.crc_ok) for e in t.result.trace] == [("?", False)]
    assert t.rx_lost == 1
    _feed(t, [Ind(Indicator.V21_PREAMBLE), *pk, Ind(Indicator.NO_SIGNAL)], now + 1)
    assert [(e.name, e.crc_ok) for e in t.result.trace] == [("?", False), ("DIS", True)]


def test_a_frame_that_never_ends_is_bounded_and_damaged():
    """A peer sending 100 kB of HDLC data in one frame: only the frame's first
    MAX_HDLC_OCTETS are kept, and the frame is reported damaged."""
    t = T38Terminal(True, send=three_pages())
    t.start(0.0)
    big = DataPacket(DataType.V21, (Field(FieldType.HDLC_DATA, b"\xff" * 10_000),))
    _feed(t, [Ind(Indicator.V21_PREAMBLE), *[big] * 10,
              DataPacket(DataType.V21, (Field(FieldType.HDLC_FCS_OK_SIG_END),))], 1.0)
    [e] = t.result.trace
    assert not e.crc_ok and len(bytes.fromhex(e.hex)) == MAX_HDLC_OCTETS


def test_a_training_with_no_data_gets_ftt_at_once():
    """A training indicator, then no-signal with no data (a modem that could not train):
    the receiver answers the DCS with FTT right after the signal ends, not at its
    deadline."""
    t = T38Terminal(False, ecm=False)
    t.start(0.0)
    now = 0.0
    while not any(e.name == "DIS" for e in t.result.trace) or t.next_deadline < now:
        now += 0.01
        t.packets(now)
    dcs = bytes.fromhex("FF 13 83 00 46 78")  # V.29 9600
    now = _feed(t, [Ind(Indicator.NO_SIGNAL), Ind(Indicator.V21_PREAMBLE), *_v21(dcs)],
                now + 6)
    t.packets(now + 0.1)
    now = _feed(t, [Ind(Indicator.NO_SIGNAL), Ind(Indicator.V29_9600_TRAINING)], now + 0.1)
    now = _feed(t, [Ind(Indicator.NO_SIGNAL)], now + 0.5)
    t.packets(now + 0.2)
    assert [e.name for e in t.result.trace][-2:] == ["DCS", "FTT"]
    ftt = t.result.trace[-1].time
    dcs_t = t.result.trace[-2].time
    assert ftt - dcs_t < 1.5  # the deadline would be past the TCF's end (> 1.8 s)


def test_a_page_whose_end_never_came_is_kept_whole():
    """A non-ECM page whose t4-non-ecm-sig-end and no-signal were lost, the post-page
    command's V.21 preamble coming at once after the last data: all the page's data
    reaches the engine (the page is decoded whole and confirmed)."""
    page = text_page(240, seed=3)
    t = T38Terminal(False, ecm=False)
    t.start(0.0)
    now = 0.0
    while not any(e.name == "DIS" for e in t.result.trace) or t.next_deadline < now:
        now += 0.01
        t.packets(now)
    dcs = bytes.fromhex("FF 13 83 00 46 78")  # V.29 9600, fine, MH
    now = _feed(t, [Ind(Indicator.NO_SIGNAL), Ind(Indicator.V21_PREAMBLE), *_v21(dcs),
                    Ind(Indicator.NO_SIGNAL)], now + 6)
    tcf = [DataPacket(DataType.V29_9600, (Field(FieldType.T4_NON_ECM_DATA, bytes(36)),))] * 50
    now = _feed(t, [Ind(Indicator.V29_9600_TRAINING), *tcf,
                    DataPacket(DataType.V29_9600, (Field(FieldType.T4_NON_ECM_SIG_END),)),
                    Ind(Indicator.NO_SIGNAL)], now + 0.1)
    t.packets(now + 1.5)
    assert [e.name for e in t.result.trace][-2:] == ["DCS", "CFR"]
    data = encode(page, "mh")  # MSB first: the first bit sent in the MSB, as IFP has it
    chunks = [DataPacket(DataType.V29_9600, (Field(FieldType.T4_NON_ECM_DATA, data[i:i + 36]),))
              for i in range(0, len(data), 36)]
    now = _feed(t, [Ind(Indicator.V29_9600_TRAINING), *chunks[:-4]], now + 3)
    mps = bytes.fromhex("FF 13 4F")
    for p in [*chunks[-4:], Ind(Indicator.V21_PREAMBLE), *_v21(mps), Ind(Indicator.NO_SIGNAL)]:
        t.receive_packet(p, now)  # at once: no time for the held data to go by the clock
    t.packets(now + 1)
    assert [e.name for e in t.result.trace][-2:] == ["MPS", "MCF"]
    assert len(t.pages) == 1 and np.array_equal(t.pages[0], page)


def test_a_repeated_signal_end_does_not_make_a_second_frame_or_carrier():
    """fcs-OK-sig-end three times under new sequence numbers (and the preamble indicator
    twice): one DIS, one DCS in answer."""
    t = T38Terminal(True, send=three_pages())
    t.start(0.0)
    pre = Ind(Indicator.V21_PREAMBLE)
    dis = DIS_FIF_START + bytes.fromhex("00 EE FA 80 80 91 03")
    end = DataPacket(DataType.V21, (Field(FieldType.HDLC_FCS_OK_SIG_END),))
    _feed(t, [pre, pre, *_v21(dis, split=4), end, end, Ind(Indicator.NO_SIGNAL)], 1.0)
    assert [e.name for e in t.result.trace] == ["DIS", "DCS"]
    assert t.rx_repeats == 3


def test_a_signal_that_comes_while_our_transmission_ends_is_not_lost():
    """The far end's whole answer (a peer that sends its frame at once after the
    preamble indicator) arrives before our own signal has finished (our 60 ms tail
    after the last signal end): the engine gets it when it starts listening."""
    t = T38Terminal(False, ecm=False)  # answering: CED, then DIS
    t.start(0.0)
    now = 0.0
    sig_end_at = None
    while sig_end_at is None:
        now += 0.001
        for p in t.packets(now):
            if isinstance(p, DataPacket) and p.fields[-1].type == FieldType.HDLC_FCS_OK_SIG_END:
                sig_end_at = now
    dcs = bytes.fromhex("FF 13 83 00 46 78")  # V.29 9600, fine, MR
    for p in [Ind(Indicator.NO_SIGNAL), Ind(Indicator.V21_PREAMBLE), *_v21(dcs, split=3),
              Ind(Indicator.NO_SIGNAL)]:
        t.receive_packet(p, now + 0.01)
    assert [e.name for e in t.result.trace if e.direction == "rx"] == []  # not yet
    t.packets(now + 0.1)
    assert [e.name for e in t.result.trace if e.direction == "rx"] == ["DCS"]


@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_dcn_in_the_middle_of_a_page(ecm):
    """The sender aborts in the middle of page 2: what it was sending is cut, DCN goes
    out; both ends finish with a definite status, the receiver kept page 1."""
    pages = three_pages(2)
    a = T38Terminal(True, send=pages, ecm=ecm)
    b = T38Terminal(False, ecm=ecm)

    class AbortMidPage2(DelayChannel):
        def send(self, packets, now):
            packets = list(packets)
            super().send(packets, now)
            if len(b.pages) == 1 and not a.engine.done and any(
                    isinstance(p, DataPacket) and p.data_type != DataType.V21
                    for p in packets) and now > self.page2_start + 0.3:
                a.abort(now, "test: abort mid-page")

        page2_start = float("inf")

    ch = AbortMidPage2()
    orig = ch.send

    def watch(packets, now):
        packets = list(packets)
        if len(b.pages) == 1 and ch.page2_start == float("inf") and any(
                isinstance(p, Ind) and p.indicator != Indicator.NO_SIGNAL for p in packets):
            ch.page2_start = now
        orig(packets, now)

    ch.send = watch
    run_pair(a, b, a_to_b=ch, limit=300)
    assert a.done and b.done
    assert a.result.status == T30Status.CALLDROPPED
    assert b.result.status not in (T30Status.OK, T30Status.IN_PROGRESS)
    assert "DCN" in [e.name for e in b.result.trace if e.direction == "rx"]
    assert np.array_equal(b.pages[0], pages[0].bitmap)


class GoesSilent(DelayChannel):
    """Carries packets until ``when`` returns True once, then nothing ever again."""

    def __init__(self, when):
        super().__init__(0.02)
        self.when = when
        self.dead_at = None

    def send(self, packets, now):
        packets = list(packets)
        if self.dead_at is None and self.when(packets, now):
            self.dead_at = now
        if self.dead_at is None:
            super().send(packets, now)


@pytest.mark.parametrize("who", ["sender", "receiver"])
@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_a_peer_that_stops_sending_ends_the_call(who, ecm):
    """One side's packets stop reaching the other in the middle of page 2 (the sender)
    or after the first MCF (the receiver): both terminals end by themselves, within
    minutes of virtual time, with a status that is not OK."""
    pages = three_pages(4)
    seen = {"fast": 0, "mcf": 0}

    def sender_dies(packets, now):
        for p in packets:
            if isinstance(p, Ind) and p.indicator not in (
                    Indicator.NO_SIGNAL, Indicator.V21_PREAMBLE, Indicator.CNG):
                seen["fast"] += 1
        return seen["fast"] >= 3 * 3  # TCF, page 1, then page 2's training (3 copies each)

    def receiver_dies(packets, now):
        return any(e.name == "MCF" for e in b.result.trace)

    a = T38Terminal(True, send=pages, ecm=ecm)
    b = T38Terminal(False, ecm=ecm)
    ab = GoesSilent(sender_dies) if who == "sender" else DelayChannel()
    ba = GoesSilent(receiver_dies) if who == "receiver" else DelayChannel()
    end = run_pair(a, b, a_to_b=ab, b_to_a=ba, limit=600)
    assert a.done and b.done and end < 300
    silent = a if who == "sender" else b
    other = b if who == "sender" else a
    assert other.result.status not in (T30Status.OK, T30Status.IN_PROGRESS), \
        other.result.summary()
    assert silent.result.status != T30Status.IN_PROGRESS
    assert np.array_equal(b.pages[0], pages[0].bitmap)  # page 1 arrived before


def test_line_dropped_ends_at_once():
    """line_dropped (BYE): the engine goes to phase E at once, status CALLDROPPED."""
    t = T38Terminal(True, send=three_pages())
    t.start(0.0)
    t.packets(1.0)
    t.line_dropped(2.0)
    assert t.engine.done and t.result.status == T30Status.CALLDROPPED
    t.packets(2.0)
    assert t.done


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        T38Terminal(True, send=three_pages(), version=4)
    with pytest.raises(ValueError):
        T38Terminal(True, send=three_pages(), repeats=0)
    with pytest.raises(ValueError):
        T38Terminal(True)  # a caller with nothing to send and no poll
