"""IFP packets (T.38 clause 7 / Annex A) as values: what the T.38 terminal sends and
receives, independent of how they are coded on the wire (:mod:`faxcore.t38.ifp`).

An IFP (internet facsimile protocol) packet is either a T.30 *indicator* (a signal
starting on the line: CNG, CED, a V.21 preamble, a modem's training) or T.30 *data* of
one modulation, carrying fields: HDLC octets, the end of an HDLC frame with its FCS
(frame check sequence) verdict, or non-ECM (T.4 image or TCF) octets and their end.
Codes are the ASN.1 enumeration values; names follow the standard with ``-`` as ``_``.
Values 16 and up (indicators), 9 and up (data) and 8 and up (field types) are the 2002
extensions (T.38 version 1+ only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Indicator(IntEnum):
    """``t30-indicator``: a signal that has started on the line."""

    NO_SIGNAL = 0
    CNG = 1
    CED = 2
    V21_PREAMBLE = 3
    V27_2400_TRAINING = 4
    V27_4800_TRAINING = 5
    V29_7200_TRAINING = 6
    V29_9600_TRAINING = 7
    V17_7200_SHORT_TRAINING = 8
    V17_7200_LONG_TRAINING = 9
    V17_9600_SHORT_TRAINING = 10
    V17_9600_LONG_TRAINING = 11
    V17_12000_SHORT_TRAINING = 12
    V17_12000_LONG_TRAINING = 13
    V17_14400_SHORT_TRAINING = 14
    V17_14400_LONG_TRAINING = 15
    V8_ANSAM = 16
    V8_SIGNAL = 17
    V34_CNTL_CHANNEL_1200 = 18
    V34_PRI_CHANNEL = 19
    V34_CC_RETRAIN = 20
    V33_12000_TRAINING = 21
    V33_14400_TRAINING = 22


class DataType(IntEnum):
    """``t30-data``: the modulation the data was (or will be) carried on."""

    V21 = 0
    V27TER_2400 = 1
    V27TER_4800 = 2
    V29_7200 = 3
    V29_9600 = 4
    V17_7200 = 5
    V17_9600 = 6
    V17_12000 = 7
    V17_14400 = 8
    V8 = 9
    V34_PRI_RATE = 10
    V34_CC_1200 = 11
    V34_PRI_CH = 12
    V33_12000 = 13
    V33_14400 = 14


class FieldType(IntEnum):
    """``field-type`` of one data field."""

    HDLC_DATA = 0
    HDLC_SIG_END = 1
    HDLC_FCS_OK = 2
    HDLC_FCS_BAD = 3
    HDLC_FCS_OK_SIG_END = 4
    HDLC_FCS_BAD_SIG_END = 5
    T4_NON_ECM_DATA = 6
    T4_NON_ECM_SIG_END = 7
    CM_MESSAGE = 8
    JM_MESSAGE = 9
    CI_MESSAGE = 10
    V34RATE = 11


@dataclass(frozen=True)
class Field:
    """One ``data-field`` element: a type and its octets (empty when it has none)."""

    type: FieldType
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class IndicatorPacket:
    """An IFP packet whose ``type-of-msg`` is a t30-indicator (it has no data field)."""

    indicator: Indicator


@dataclass(frozen=True)
class DataPacket:
    """An IFP packet whose ``type-of-msg`` is t30-data, with its fields (possibly none)."""

    data_type: DataType
    fields: tuple[Field, ...] = ()


IfpPacket = IndicatorPacket | DataPacket
