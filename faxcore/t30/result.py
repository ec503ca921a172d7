"""Completion status codes and the result of a call.

Status numbers and names follow spandsp's ``T30_ERR_*`` completion codes (0.0.6), so a
result compares directly with spandsp's phase-E code. One more, ``IN_PROGRESS`` (-1), is
the status of a call that has not ended yet.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class T30Status(enum.IntEnum):
    IN_PROGRESS = -1  # not a spandsp code: the call has not reached phase E yet
    OK = 0
    CEDTONE = 1
    T0_EXPIRED = 2
    T1_EXPIRED = 3
    T3_EXPIRED = 4
    HDLC_CARRIER = 5
    CANNOT_TRAIN = 6
    OPER_INT_FAIL = 7
    INCOMPATIBLE = 8
    RX_INCAPABLE = 9
    TX_INCAPABLE = 10
    NORESSUPPORT = 11
    NOSIZESUPPORT = 12
    UNEXPECTED = 13
    TX_BADDCS = 14
    TX_BADPG = 15
    TX_ECMPHD = 16
    TX_GOTDCN = 17
    TX_INVALRSP = 18
    TX_NODIS = 19
    TX_PHBDEAD = 20
    TX_PHDDEAD = 21
    TX_T5EXP = 22
    RX_ECMPHD = 23
    RX_GOTDCS = 24
    RX_INVALCMD = 25
    RX_NOCARRIER = 26
    RX_NOEOL = 27
    RX_NOFAX = 28
    RX_T2EXPDCN = 29
    RX_T2EXPD = 30
    RX_T2EXPFAX = 31
    RX_T2EXPMPS = 32
    RX_T2EXPRR = 33
    RX_T2EXP = 34
    RX_DCNWHY = 35
    RX_DCNDATA = 36
    RX_DCNFAX = 37
    RX_DCNPHD = 38
    RX_DCNRRD = 39
    RX_DCNNORTN = 40
    FILEERROR = 41
    NOPAGE = 42
    BADTIFF = 43
    BADPAGE = 44
    BADTAG = 45
    BADTIFFHDR = 46
    NOMEM = 47
    RETRYDCN = 48
    CALLDROPPED = 49
    NOPOLL = 50
    IDENT_UNACCEPTABLE = 51
    SUB_UNACCEPTABLE = 52
    SEP_UNACCEPTABLE = 53
    PSA_UNACCEPTABLE = 54
    SID_UNACCEPTABLE = 55
    PWD_UNACCEPTABLE = 56


DESCRIPTIONS = {
    T30Status.IN_PROGRESS: "call in progress",
    T30Status.OK: "OK",
    T30Status.T1_EXPIRED: "timed out waiting for the far end to identify itself (T1)",
    T30Status.CANNOT_TRAIN: "failed to train with any compatible modem",
    T30Status.INCOMPATIBLE: "far end is not compatible",
    T30Status.RX_INCAPABLE: "far end is not able to receive",
    T30Status.TX_INCAPABLE: "far end is not able to transmit",
    T30Status.NORESSUPPORT: "far end cannot receive at the resolution of the image",
    T30Status.NOSIZESUPPORT: "far end cannot receive at the size of the image",
    T30Status.UNEXPECTED: "unexpected message received",
    T30Status.TX_BADDCS: "bad response to DCS or training",
    T30Status.TX_BADPG: "DCN received after sending a page",
    T30Status.TX_ECMPHD: "invalid ECM response from the receiver",
    T30Status.TX_GOTDCN: "DCN received while waiting for DIS",
    T30Status.TX_INVALRSP: "invalid response after sending a page",
    T30Status.TX_NODIS: "other than DIS received while waiting for DIS",
    T30Status.TX_PHBDEAD: "no response to DCS and training",
    T30Status.TX_PHDDEAD: "no response after sending a page",
    T30Status.TX_T5EXP: "timed out waiting for receiver ready (T5, ECM)",
    T30Status.RX_ECMPHD: "invalid ECM command from the transmitter",
    T30Status.RX_INVALCMD: "unexpected command after a page",
    T30Status.RX_NOCARRIER: "carrier lost during receive",
    T30Status.RX_T2EXPDCN: "T2 expired waiting for DCN",
    T30Status.RX_T2EXPD: "T2 expired waiting for phase D",
    T30Status.RX_T2EXPFAX: "T2 expired waiting for a fax page",
    T30Status.RX_T2EXPMPS: "T2 expired waiting for the next fax page",
    T30Status.RX_T2EXPRR: "T2 expired waiting for RR",
    T30Status.RX_T2EXP: "T2 expired waiting for a command",
    T30Status.RX_DCNWHY: "unexpected DCN while waiting for DCS or DIS",
    T30Status.RX_DCNDATA: "unexpected DCN while waiting for image data",
    T30Status.RX_DCNFAX: "unexpected DCN while waiting for EOM, EOP or MPS",
    T30Status.RX_DCNPHD: "unexpected DCN after EOM or MPS",
    T30Status.RX_DCNRRD: "unexpected DCN after RR/RNR",
    T30Status.RX_DCNNORTN: "unexpected DCN after requested retransmission",
    T30Status.RETRYDCN: "disconnected after the permitted retries",
    T30Status.CALLDROPPED: "the call dropped prematurely",
    T30Status.NOPOLL: "poll not accepted",
    T30Status.PWD_UNACCEPTABLE: "far end's password is not acceptable",
    T30Status.SID_UNACCEPTABLE: "far end's sender identification (SID) is not acceptable",
}


@dataclass(frozen=True)
class TraceEntry:
    """One frame on the line: time (s), direction ("tx"/"rx"), name, line-order hex."""

    time: float
    direction: str
    name: str
    hex: str
    crc_ok: bool = True

    def __str__(self) -> str:
        bad = "" if self.crc_ok else "  (bad FCS)"
        return f"{self.time:9.3f}  {self.direction}  {self.name:<8} {self.hex}{bad}"


@dataclass
class CallResult:
    """What happened in a call. ``status`` is IN_PROGRESS until the call reaches phase
    E, then OK or the precise failure cause; ``ok`` is true only for a call that ended
    well, ``finished`` once it has ended at all.

    ``pages_received`` counts every page the receiver kept, including
    ``pages_unconfirmed``: pages kept though the call ended before they were confirmed to
    the sender (see ``RxPage.unconfirmed``). The status of such a call stays the failure
    it was (RX_DCNFAX, RX_T2EXPD, CALLDROPPED...): the sender does not count those pages
    as delivered."""

    status: T30Status = T30Status.IN_PROGRESS
    message: str = ""
    calling: bool = True
    pages_sent: int = 0
    pages_received: int = 0
    pages_rejected: int = 0  # refused with RTN (after EOM/EOP) and not sent again
    pages_unconfirmed: int = 0  # received, kept, but never confirmed to the sender
    bit_rate: int = 0
    modulation: str = ""
    ecm: bool = False
    scheme: str = ""
    resolution: str = ""
    remote_ident: str = ""
    remote_sub_address: str = ""   # SUB received with DCS
    remote_sender_ident: str = ""  # SID received with DCS
    remote_password: str = ""      # PWD received with DTC (polling)
    remote_nsf: bytes = b""        # NSF received: its FIF in T.35 order (faxcore.t30.nsf)
    remote_nsf_country: int | None = None  # ... its T.35 country code
    remote_nsf_vendor: bytes = b""  # ... its terminal provider (vendor) code
    bad_rows: int = 0
    duration: float = 0.0
    trace: list[TraceEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == T30Status.OK

    @property
    def finished(self) -> bool:
        return self.status != T30Status.IN_PROGRESS

    def trace_text(self) -> str:
        return "\n".join(str(t) for t in self.trace)

    def summary(self) -> str:
        desc = self.message or DESCRIPTIONS.get(self.status, self.status.name)
        rejected = f", rejected {self.pages_rejected}" if self.pages_rejected else ""
        unconfirmed = (f" ({self.pages_unconfirmed} unconfirmed: the call ended before it "
                       "was answered)") if self.pages_unconfirmed else ""
        nsf = "" if self.remote_nsf_country is None else (
            f" (NSF country {self.remote_nsf_country}, vendor {self.remote_nsf_vendor.hex()})")
        return (f"status {self.status.name} ({desc}); pages sent {self.pages_sent}{rejected}, "
                f"received {self.pages_received}{unconfirmed}; {self.modulation or '-'} "
                f"{'ECM' if self.ecm else 'no ECM'} {self.scheme or '-'} {self.resolution or '-'}; "
                f"remote '{self.remote_ident}'{nsf}; bad rows {self.bad_rows}; {self.duration:.1f} s")
