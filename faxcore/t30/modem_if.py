"""The interface between the T.30 engine and whatever carries its signals.

It mirrors what a Class 1 (T.31) fax modem offers, so that a Class 1 modem, a T.38
gateway and our software modems can all sit behind it unchanged:

===============================  ==================  ===================================
command (engine -> modem)        Class 1             completes with
===============================  ==================  ===================================
:class:`SendHDLC` at V.21         ``AT+FTH=3``        :class:`TxComplete`
:class:`ReceiveHDLC` at V.21      ``AT+FRH=3``        :class:`FrameReceived` ... (stays on)
:class:`SendData` (TCF, image,    ``AT+FTM=n``        :class:`TxComplete`
  ECM blocks with ``frames``)     (``AT+FTH=n``)
:class:`ReceiveData`              ``AT+FRM=n``        :class:`CarrierUp`, :class:`DataReceived`
                                  (``AT+FRH=n``)      or :class:`FrameReceived`, :class:`CarrierDown`
                                                      (:class:`TrainingFailed`: software modems)
:class:`Silence`                  ``AT+FTS=n``        :class:`TxComplete`
:class:`SendTone` (CED / CNG)     ``ATA`` / ``ATD``   :class:`TxComplete`
:class:`HangUp`                   ``ATH``             (nothing: the engine is done)
===============================  ==================  ===================================

A receive command stays in force until the engine issues the next command. Frames are
octets in line order without FCS (the modem adds and checks it); ``crc_ok`` says whether
the FCS was good. :class:`WrongCarrier` is Class 1's ``+FCERROR``: V.21 heard while
waiting for a high-speed carrier; the engine then switches to :class:`ReceiveHDLC`.
:class:`LineDropped` means the call is gone (loop current lost, SIP BYE, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Modulation:
    """A modem and bit rate: ``name`` is ``"v21"``, ``"v27ter"``, ``"v29"`` or ``"v17"``."""

    rate: int
    name: str

    def __str__(self) -> str:
        return f"{self.name.upper().replace('TER', 'ter')}/{self.rate}"


V21 = Modulation(300, "v21")
V27_2400 = Modulation(2400, "v27ter")
V27_4800 = Modulation(4800, "v27ter")
V29_7200 = Modulation(7200, "v29")
V29_9600 = Modulation(9600, "v29")
V17_7200 = Modulation(7200, "v17")
V17_9600 = Modulation(9600, "v17")
V17_12000 = Modulation(12000, "v17")
V17_14400 = Modulation(14400, "v17")

FAST_MODULATIONS = (V27_2400, V27_4800, V29_7200, V29_9600, V17_7200, V17_9600, V17_12000,
                    V17_14400)


# ---- commands (engine -> modem) -------------------------------------------------------

class Command:
    """Base class of everything the engine asks the modem to do."""


@dataclass(frozen=True)
class SendHDLC(Command):
    """Send these frames (line order, no FCS) at V.21 after a flag preamble."""

    frames: tuple[bytes, ...]


@dataclass(frozen=True)
class ReceiveHDLC(Command):
    """Listen for V.21 HDLC frames. ``cng``: play CNG while listening (calling, phase A)."""

    cng: bool = False


@dataclass(frozen=True)
class SendData(Command):
    """Send on a high-speed modem. Either raw ``data`` (TCF, T.4 page) or HDLC ``frames``
    (ECM block: FCD ... RCP, the modem adds flags and FCS)."""

    modulation: Modulation
    data: bytes = b""
    frames: tuple[bytes, ...] = ()
    long_training: bool = False

    @property
    def hdlc(self) -> bool:
        return bool(self.frames)


@dataclass(frozen=True)
class ReceiveData(Command):
    """Listen on a high-speed modem; ``hdlc``: deliver frames (ECM) instead of raw data.
    ``short_train``: the sender will use V.17 short training (Class 1 ``+FRM=146`` etc.),
    as it does for everything after CFR except TCF and the first burst after CTC."""

    modulation: Modulation
    hdlc: bool = False
    short_train: bool = False


@dataclass(frozen=True)
class Silence(Command):
    """Send nothing for ``ms`` milliseconds."""

    ms: int


@dataclass(frozen=True)
class SendTone(Command):
    """Send a call tone: ``"CED"`` (2100 Hz answer tone) or ``"CNG"`` (1100 Hz calling)."""

    tone: str
    ms: int


@dataclass(frozen=True)
class HangUp(Command):
    """Release the line; the engine issues nothing after this."""


# ---- events (modem -> engine) ---------------------------------------------------------

class Event:
    """Base class of everything the modem reports to the engine."""


@dataclass(frozen=True)
class TxComplete(Event):
    """The last transmit command (frames, data, silence or tone) has finished."""


@dataclass(frozen=True)
class CarrierUp(Event):
    """A carrier was detected in the current receive mode (V.21 flags, or a trained
    high-speed carrier)."""


@dataclass(frozen=True)
class CarrierDown(Event):
    """The carrier being received has stopped."""


@dataclass(frozen=True)
class FrameReceived(Event):
    """An HDLC frame (line order, FCS removed); ``crc_ok`` False if its FCS was bad."""

    data: bytes
    crc_ok: bool = True


@dataclass(frozen=True)
class DataReceived(Event):
    """Raw high-speed data (TCF or a non-ECM page), in line order."""

    data: bytes = field(repr=False)


@dataclass(frozen=True)
class TrainingFailed(Event):
    """A high-speed carrier was heard but the modem could not train on it (no data will
    come from that burst). Software modems report it; a Class 1 modem says nothing (the
    engine's deadlines cover that)."""


@dataclass(frozen=True)
class WrongCarrier(Event):
    """V.21 was detected while a high-speed carrier was expected (Class 1 +FCERROR)."""


@dataclass(frozen=True)
class LineDropped(Event):
    """The call has gone (remote on-hook, loop current lost, BYE)."""
