"""NSF (non-standard facilities): a vendor's own frame, sent before CSI/DIS.

Its FIF starts with the ITU-T T.35 country code (one octet; 0xFF means a second octet
follows, the country code extension), then a two-octet terminal provider (vendor) code,
then whatever the vendor likes. T.35 octets go on the line most significant bit first,
the reverse of T.30's other fields (HylaFAX and spandsp read them the same way), so the
octets here, "T.35 order", are the line-order octets of the frame trace bit-reversed.
Some machines get that wrong; the raw contents are kept so nothing is lost.

faxcore sends no NSF unless asked (``T30Config.nsf``) and tolerates any NSF content.
"""

from __future__ import annotations

from dataclasses import dataclass

from faxcore.t30.frames import bitrev

MAX_NSF = 100  # octets we are willing to send (an HDLC frame stays well under 256)


@dataclass(frozen=True)
class NonStandard:
    """A received NSF, decoded as far as it goes: ``data`` is the whole FIF in T.35
    order; ``country`` the T.35 country code (None if the FIF is empty),
    ``country_extension`` the second octet after a 0xFF country code, ``vendor`` the
    terminal provider code (up to two octets; fewer if the FIF is short)."""

    data: bytes
    country: int | None
    country_extension: int | None
    vendor: bytes


def parse_nsf(fif_line_order: bytes) -> NonStandard:
    """The FIF of an NSF frame (line order, as in :class:`~faxcore.t30.frames.Frame`)
    -> what it says. Never raises: any length and content is accepted."""
    data = bitrev(bytes(fif_line_order))
    if not data:
        return NonStandard(b"", None, None, b"")
    country, ext, pos = data[0], None, 1
    if country == 0xFF and len(data) > 1:
        ext, pos = data[1], 2
    return NonStandard(data, country, ext, data[pos:pos + 2])


def nsf_fif(data: bytes) -> bytes:
    """NSF contents in T.35 order (country code, vendor code, vendor data) -> the FIF in
    line order. At least the three octets of country and vendor code, at most MAX_NSF."""
    data = bytes(data)
    if not 3 <= len(data) <= MAX_NSF:
        raise ValueError(f"an NSF needs 3 to {MAX_NSF} octets (T.35 country code, "
                         f"vendor code, data); got {len(data)}")
    return bitrev(data)
