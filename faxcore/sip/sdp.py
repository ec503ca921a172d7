"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for fax: G.711 audio
(``m=audio P RTP/AVP 0 8 101``) and T.38 (``m=image P udptl t38``).

* :func:`parse_sdp` / :meth:`SessionDescription.to_bytes`: the text format. Tolerant of
  bare LF, unknown lines and attributes (kept), strict about the lines the answer needs
  (``m=`` and ``c=``). Every failure is :class:`SdpParseError`.
* :class:`T38Params`: every T.38 attribute (T.38 Annex D, RFC 4612 names, fact sheet §3);
  names read case-insensitively, ``T38FaxMaxRate`` read as ``T38MaxBitRate``, boolean
  attributes in both spellings (``a=T38FaxFillBitRemoval`` and ``...:1`` / ``...:0``).
* :func:`answer` builds the answer to an offer: one m-line per offered m-line in the same
  order, unwanted or port-0 streams rejected with port 0 (RFC 3264 §6), T.38 values from
  :func:`negotiate_t38` (version = min, rate management copied, no boolean the offer did
  not claim).
* :class:`SdpOriginator` keeps ``o=`` for a side of a session: the version goes up by one
  whenever what it offers changes and stays when it re-offers the same (RFC 3264 §8; a
  session-timer refresh during T.38 re-offers the unchanged image stream).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from faxcore.sip.message import is_number

__all__ = ["AUDIO_PAYLOADS", "AudioParams", "LocalMedia", "MediaDescription",
           "SdpOriginator", "SdpParseError", "SessionDescription", "T38Params", "answer",
           "audio_media", "image_media", "negotiate_t38", "parse_sdp", "peer_max_datagram"]

#: largest SDP body accepted
MAX_SDP = 16384
MAX_MEDIA = 16
MAX_ATTRIBUTES = 256

#: static G.711 payload types (RFC 3551) faxcore speaks, in our preference order
AUDIO_PAYLOADS = {0: "PCMU", 8: "PCMA"}
TELEPHONE_EVENT = "telephone-event"


class SdpParseError(ValueError):
    """An SDP body that does not parse."""


@dataclass
class MediaDescription:
    """One ``m=`` section. ``attributes`` keeps (name, value or None) in order."""

    media: str
    port: int
    proto: str
    fmts: list[str]
    connection: str | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    def attr(self, name: str) -> str | None:
        """Value of the first attribute ``name`` (case-insensitive); '' for a flag."""
        low = name.lower()
        for n, v in self.attributes:
            if n.lower() == low:
                return "" if v is None else v
        return None

    def attrs(self, name: str) -> list[str]:
        low = name.lower()
        return ["" if v is None else v for n, v in self.attributes if n.lower() == low]

    @property
    def is_t38(self) -> bool:
        return (self.media.lower() == "image" and self.proto.lower() == "udptl"
                and [f.lower() for f in self.fmts] == ["t38"])

    @property
    def is_audio(self) -> bool:
        return self.media.lower() == "audio" and self.proto.upper() == "RTP/AVP"

    @property
    def direction(self) -> str:
        for n, _ in self.attributes:
            if n.lower() in ("sendrecv", "sendonly", "recvonly", "inactive"):
                return n.lower()
        return "sendrecv"


@dataclass
class SessionDescription:
    origin_user: str = "-"
    session_id: int = 0
    version: int = 0
    address: str = "0.0.0.0"
    addrtype: str = "IP4"
    session_name: str = "-"
    connection: str | None = None
    timing: str = "0 0"
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    def connection_address(self, m: MediaDescription) -> str | None:
        """The address media for ``m`` goes to (media c= over session c=)."""
        c = m.connection or self.connection
        if c is None:
            return None
        parts = c.split()
        return parts[2].split("/")[0] if len(parts) >= 3 else None

    def to_bytes(self) -> bytes:
        lines = ["v=0",
                 f"o={self.origin_user} {self.session_id} {self.version} IN {self.addrtype} "
                 f"{self.address}",
                 f"s={self.session_name}"]
        if self.connection:
            lines.append(f"c={self.connection}")
        lines.append(f"t={self.timing}")
        lines.extend(_attr_line(n, v) for n, v in self.attributes)
        for m in self.media:
            lines.append(f"m={m.media} {m.port} {m.proto} {' '.join(m.fmts)}")
            if m.connection:
                lines.append(f"c={m.connection}")
            lines.extend(_attr_line(n, v) for n, v in m.attributes)
        return ("\r\n".join(lines) + "\r\n").encode()


def _attr_line(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


_CONN = re.compile(r"IN IP[46] [0-9A-Za-z.:\-]+(/\d+){0,2}\Z")


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body. Raises :class:`SdpParseError`."""
    if isinstance(data, bytes):
        if len(data) > MAX_SDP:
            raise SdpParseError(f"SDP of {len(data)} bytes exceeds {MAX_SDP}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpParseError(f"SDP not UTF-8: {exc}") from None
    else:
        text = data
    sd = SessionDescription()
    seen_v = seen_o = False
    current: MediaDescription | None = None
    nattr = 0
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpParseError(f"bad SDP line {line[:60]!r}")
        kind, value = line[0], line[2:].strip()
        if kind == "v":
            if value != "0":
                raise SdpParseError(f"SDP version {value[:10]!r}")
            seen_v = True
        elif kind == "o":
            parts = value.split()
            if len(parts) != 6 or not is_number(parts[1]) or not is_number(parts[2]):
                raise SdpParseError(f"bad o= {value[:60]!r}")
            if len(parts[1]) > 20 or len(parts[2]) > 20:
                raise SdpParseError("o= number too long")
            sd.origin_user, sd.session_id, sd.version = parts[0], int(parts[1]), int(parts[2])
            sd.addrtype, sd.address = parts[4], parts[5]
            seen_o = True
        elif kind == "s":
            sd.session_name = value or "-"
        elif kind == "c":
            if not _CONN.match(value):
                raise SdpParseError(f"bad c= {value[:60]!r}")
            if current is None:
                sd.connection = value
            else:
                current.connection = value
        elif kind == "t":
            sd.timing = value
        elif kind == "m":
            if len(sd.media) >= MAX_MEDIA:
                raise SdpParseError("too many m= lines")
            parts = value.split()
            if len(parts) < 4:
                raise SdpParseError(f"bad m= {value[:60]!r}")
            portpart = parts[1].split("/")[0]
            if not is_number(portpart) or len(portpart) > 5 or int(portpart) > 65535:
                raise SdpParseError(f"bad m= port {parts[1][:20]!r}")
            current = MediaDescription(parts[0], int(portpart), parts[2], parts[3:])
            sd.media.append(current)
        elif kind == "a":
            nattr += 1
            if nattr > MAX_ATTRIBUTES:
                raise SdpParseError("too many attributes")
            name, colon, val = value.partition(":")
            item = (name.strip(), val.strip() if colon else None)
            (sd.attributes if current is None else current.attributes).append(item)
        # other lines (i=, u=, e=, p=, b=, z=, k=, r=) are allowed and not needed
    if not seen_v or not seen_o:
        raise SdpParseError("SDP without v= or o=")
    for m in sd.media:
        if m.port != 0 and sd.connection_address(m) is None:
            raise SdpParseError(f"no c= for m={m.media}")
    return sd


# ---- T.38 --------------------------------------------------------------------------------

_T38_BOOLEANS = {"t38faxfillbitremoval": "fill_bit_removal",
                 "t38faxtranscodingmmr": "transcoding_mmr",
                 "t38faxtranscodingjbig": "transcoding_jbig"}
_T38_SPELLING = {"fill_bit_removal": "T38FaxFillBitRemoval",
                 "transcoding_mmr": "T38FaxTranscodingMMR",
                 "transcoding_jbig": "T38FaxTranscodingJBIG"}
UDP_REDUNDANCY = "t38UDPRedundancy"
UDP_FEC = "t38UDPFEC"


@dataclass(frozen=True)
class T38Params:
    """The T.38 SDP attributes. ``None`` = attribute absent. ``bool_style`` remembers how
    the booleans were written (``"flag"``: ``a=X``; ``"value"``: ``a=X:1``) so the
    answer mirrors the offer (fact sheet §6: FreeSWITCH mirrors; some peers need it)."""

    version: int = 0
    max_bit_rate: int | None = 14400
    rate_management: str = "transferredTCF"
    max_buffer: int | None = 2000
    max_datagram: int | None = 400
    udp_ec: str | None = UDP_REDUNDANCY
    fill_bit_removal: bool = False
    transcoding_mmr: bool = False
    transcoding_jbig: bool = False
    bool_style: str = "flag"

    @classmethod
    def from_media(cls, m: MediaDescription) -> T38Params:
        """Read the attributes of an ``m=image udptl t38`` section (tolerantly: a
        malformed number counts as absent)."""
        vals: dict[str, object] = {"version": 0, "max_bit_rate": None, "max_buffer": None,
                                   "max_datagram": None, "udp_ec": None,
                                   "rate_management": "transferredTCF"}
        style = "flag"
        for name, value in m.attributes:
            low = name.lower()
            v = (value or "").strip()
            if low == "t38faxversion":
                vals["version"] = _int(v, 0, 255) or 0
            elif low in ("t38maxbitrate", "t38faxmaxrate"):
                vals["max_bit_rate"] = _int(v, 300, 1_000_000)
            elif low == "t38faxratemanagement":
                vals["rate_management"] = v or "transferredTCF"
            elif low == "t38faxmaxbuffer":
                vals["max_buffer"] = _int(v, 1, 1 << 30)
            elif low == "t38faxmaxdatagram":
                vals["max_datagram"] = _int(v, 1, 1 << 30)
            elif low == "t38faxudpec":
                vals["udp_ec"] = v or None
            elif low in _T38_BOOLEANS:
                if value is None:
                    vals[_T38_BOOLEANS[low]] = True
                else:
                    style = "value"
                    vals[_T38_BOOLEANS[low]] = v.lower() in ("1", "true", "on", "yes")
        return cls(bool_style=style, **vals)  # type: ignore[arg-type]

    def attributes(self) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = [("T38FaxVersion", str(self.version))]
        if self.max_bit_rate is not None:
            out.append(("T38MaxBitRate", str(self.max_bit_rate)))
        for key, spelled in _T38_SPELLING.items():
            if getattr(self, key):
                out.append((spelled, "1" if self.bool_style == "value" else None))
        out.append(("T38FaxRateManagement", self.rate_management))
        if self.max_buffer is not None:
            out.append(("T38FaxMaxBuffer", str(self.max_buffer)))
        if self.max_datagram is not None:
            out.append(("T38FaxMaxDatagram", str(self.max_datagram)))
        if self.udp_ec is not None:
            out.append(("T38FaxUdpEC", self.udp_ec))
        return out


def _int(text: str, lo: int, hi: int) -> int | None:
    text = text.strip()
    if not is_number(text) or len(text) > 10:
        return None
    v = int(text)
    return v if lo <= v <= hi else None


def negotiate_t38(offer: T38Params, ours: T38Params) -> T38Params:
    """The T.38 parameters of our answer to ``offer`` given what we support (``ours``):
    version min(offer, ours); bit rate min (never above what the offer said); rate
    management copied (the offerer decides, fact sheet §3); our own buffer and datagram
    limits (each side states what *it* receives); error correction: FEC only when offered
    and we do FEC, else redundancy if offered, else none; a boolean only if both claim it.
    """
    rate = ours.max_bit_rate
    if offer.max_bit_rate is not None and rate is not None:
        rate = min(rate, offer.max_bit_rate)
    if offer.udp_ec is None:
        ec = None
    elif offer.udp_ec.lower() == UDP_FEC.lower() and ours.udp_ec == UDP_FEC:
        ec = UDP_FEC
    elif offer.udp_ec.lower() in (UDP_FEC.lower(), UDP_REDUNDANCY.lower()):
        # FreeSWITCH answers a FEC offer with redundancy; so do we unless we do FEC
        ec = UDP_REDUNDANCY if ours.udp_ec is not None else None
    else:
        ec = None
    return T38Params(
        version=min(offer.version, ours.version), max_bit_rate=rate,
        rate_management=offer.rate_management, max_buffer=ours.max_buffer,
        max_datagram=ours.max_datagram, udp_ec=ec,
        fill_bit_removal=offer.fill_bit_removal and ours.fill_bit_removal,
        transcoding_mmr=offer.transcoding_mmr and ours.transcoding_mmr,
        transcoding_jbig=offer.transcoding_jbig and ours.transcoding_jbig,
        bool_style=offer.bool_style)


def peer_max_datagram(params: T38Params, own_limit: int = 1400) -> int:
    """The largest UDPTL datagram to send to a peer that announced ``params``: its
    T38FaxMaxDatagram, or 400 when it is absent or above ``own_limit`` (as Asterisk
    does, fact sheet §2: peers disagree whether the value counts the IFP or UDPTL)."""
    v = params.max_datagram
    if v is None or v > own_limit:
        return 400
    return v


# ---- audio ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AudioParams:
    """What an audio m-line says: payload types in order, the telephone-event PT, ptime."""

    payload_types: tuple[int, ...] = (0, 8)
    telephone_event: int | None = 101
    ptime: int = 20

    @classmethod
    def from_media(cls, m: MediaDescription) -> AudioParams:
        pts: list[int] = []
        te: int | None = None
        for f in m.fmts:
            # each payload type once: a repeated one must not repeat in the answer
            if is_number(f) and len(f) <= 3 and int(f) < 128 and int(f) not in pts:
                pts.append(int(f))
        for v in m.attrs("rtpmap"):
            num, _, enc = v.partition(" ")
            if is_number(num) and len(num) <= 3 and enc.lower().startswith(TELEPHONE_EVENT + "/"):
                te = int(num)
        ptime = _int(m.attr("ptime") or "", 1, 1000) or 20
        codecs = tuple(p for p in pts if p in AUDIO_PAYLOADS and p != te)
        return cls(codecs, te if te in pts else None, ptime)


def audio_media(port: int, params: AudioParams = AudioParams(),
                connection: str | None = None) -> MediaDescription:
    """``m=audio P RTP/AVP 0 8 101`` with rtpmap, fmtp 0-15, ptime; no CN (fact sheet §5)."""
    fmts = [str(p) for p in params.payload_types]
    attrs: list[tuple[str, str | None]] = [
        ("rtpmap", f"{p} {AUDIO_PAYLOADS[p]}/8000") for p in params.payload_types]
    if params.telephone_event is not None:
        fmts.append(str(params.telephone_event))
        attrs.append(("rtpmap", f"{params.telephone_event} {TELEPHONE_EVENT}/8000"))
        attrs.append(("fmtp", f"{params.telephone_event} 0-15"))
    attrs.append(("ptime", str(params.ptime)))
    attrs.append(("sendrecv", None))
    return MediaDescription("audio", port, "RTP/AVP", fmts, connection, attrs)


def image_media(port: int, params: T38Params = T38Params(),
                connection: str | None = None) -> MediaDescription:
    """``m=image P udptl t38`` with every T.38 attribute of ``params``."""
    return MediaDescription("image", port, "udptl", ["t38"], connection, params.attributes())


def _rejected(m: MediaDescription) -> MediaDescription:
    return MediaDescription(m.media, 0, m.proto, list(m.fmts) or ["0"])


@dataclass(frozen=True)
class LocalMedia:
    """What this side can answer with: its address, an RTP port (None: no audio), a
    UDPTL port and T.38 capabilities (None: T.38 refused, the m-line gets port 0)."""

    address: str
    audio_port: int | None = None
    image_port: int | None = None
    t38: T38Params = T38Params()
    audio: AudioParams = AudioParams()


class SdpOriginator:
    """The ``o=`` line of one side of a session: a fixed session id and a version that
    goes up whenever the media offered or answered changes (RFC 3264 §8)."""

    def __init__(self, address: str, session_id: int, user: str = "faxcore") -> None:
        self.address = address
        self.session_id = session_id
        self.user = user
        self.version = session_id
        self._last: list[MediaDescription] | None = None

    def describe(self, media: list[MediaDescription]) -> SessionDescription:
        if self._last is not None and media != self._last:
            self.version += 1
        self._last = [replace(m, attributes=list(m.attributes), fmts=list(m.fmts))
                      for m in media]
        addrtype = "IP6" if ":" in self.address else "IP4"
        return SessionDescription(origin_user=self.user, session_id=self.session_id,
                                  version=self.version, address=self.address,
                                  addrtype=addrtype, connection=f"IN {addrtype} {self.address}",
                                  media=media)

    @property
    def last(self) -> SessionDescription | None:
        """The last description made (for re-offering it unchanged), or None."""
        if self._last is None:
            return None
        return self.describe(list(self._last))


def answer(offer: SessionDescription, local: LocalMedia,
           origin: SdpOriginator | None = None) -> SessionDescription:
    """The RFC 3264 answer to ``offer``: one m-line per offered one, in order. Accepted:
    the first RTP/AVP audio with a G.711 payload in common (when we have an audio port),
    and the first ``image udptl t38`` (when we have an image port). Everything else,
    including offered port 0, is rejected with port 0."""
    origin = origin or SdpOriginator(local.address, 1)
    out: list[MediaDescription] = []
    took_audio = took_image = False
    for m in offer.media:
        if m.port == 0:
            out.append(_rejected(m))
        elif m.is_audio and local.audio_port is not None and not took_audio:
            offered = AudioParams.from_media(m)
            common = tuple(p for p in offered.payload_types if p in local.audio.payload_types)
            if not common:
                out.append(_rejected(m))
                continue
            te = offered.telephone_event if local.audio.telephone_event is not None else None
            params = AudioParams(common, te, local.audio.ptime)
            am = audio_media(local.audio_port, params)
            _mirror_direction(m, am)
            out.append(am)
            took_audio = True
        elif m.is_t38 and local.image_port is not None and not took_image:
            params = negotiate_t38(T38Params.from_media(m), local.t38)
            out.append(image_media(local.image_port, params))
            took_image = True
        else:
            out.append(_rejected(m))
    return origin.describe(out)


def _mirror_direction(offered: MediaDescription, ans: MediaDescription) -> None:
    """RFC 3264 §6.1: sendonly is answered recvonly and so on."""
    opposite = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive",
                "sendrecv": "sendrecv"}[offered.direction]
    ans.attributes = [(n, v) for n, v in ans.attributes if n != "sendrecv"] + [(opposite, None)]


def accepted_media(sd: SessionDescription) -> list[MediaDescription]:
    """The m-lines of an answer (or offer) with a non-zero port."""
    return [m for m in sd.media if m.port != 0]
