"""faxcore.t38: fax over IP per ITU-T T.38.

IFP (internet facsimile protocol) packets carry T.30 indicators (CNG, CED, training)
and data (V.21 HDLC frames, high-speed T.4 data) between two T.38 endpoints; UDPTL
(UDP transport layer) wraps them with a sequence number and error recovery (redundancy
or FEC). The T.38 terminal puts the one :class:`~faxcore.t30.engine.T30Engine` behind the
modem interface over IFP packets.
"""

from faxcore.t38.link import DelayChannel, run_pair
from faxcore.t38.packets import (
    DataPacket,
    DataType,
    Field,
    FieldType,
    IfpPacket,
    Indicator,
    IndicatorPacket,
)
from faxcore.t38.terminal import T38Terminal

__all__ = ["DataPacket", "DataType", "DelayChannel", "Field", "FieldType", "IfpPacket",
           "Indicator", "IndicatorPacket", "T38Terminal", "run_pair"]
