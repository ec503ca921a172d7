"""faxcore.t38: fax over IP per ITU-T T.38.

IFP (internet facsimile protocol) packets carry T.30 indicators (CNG, CED, training)
and data (V.21 HDLC frames, high-speed T.4 data) between two T.38 endpoints; UDPTL
(UDP transport layer) wraps them with a sequence number and error recovery (redundancy
or FEC). The T.38 terminal puts the one :class:`~faxcore.t30.engine.T30Engine` behind the
modem interface over IFP packets.
"""

from faxcore.t38.packets import (
    DataPacket,
    DataType,
    Field,
    FieldType,
    IfpPacket,
    Indicator,
    IndicatorPacket,
)

__all__ = ["DataPacket", "DataType", "DelayChannel", "Field", "FieldType", "IfpPacket",
           "Indicator", "IndicatorPacket", "T38Terminal", "run_pair"]


def __getattr__(name: str):
    if name == "T38Terminal":
        # Imported on first use: the terminal brings the T.30 engine, the page store and
        # the codecs, which the wire codecs (ifp, udptl) and their fuzz targets do not need.
        from faxcore.t38.terminal import T38Terminal

        return T38Terminal
    if name in ("DelayChannel", "run_pair"):
        # (as above: the link is only for terminals)
        from faxcore.t38 import link

        return getattr(link, name)
    raise AttributeError(f"module 'faxcore.t38' has no attribute {name!r}")
