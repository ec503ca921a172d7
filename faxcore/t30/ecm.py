"""Error correction mode framing (T.4 Annex A, T.30 Annex A).

A page's coded data is cut into frames of 256 (or 64) octets; up to 256 frames make a
*block* (partial page). On the high-speed carrier each frame is an HDLC frame
``FF 03 FCD n data`` (n = frame number 0..255), followed by three RCP (return to control
for partial page) frames. Then, at V.21, PPS (partial page signal) carries FCF2 (NULL =
more blocks of this page follow, or MPS/EOM/EOP), page counter, block counter and the
number of frames minus one. The receiver answers MCF or PPR, whose 32-octet FIF is a map
of the frames to send again: bit j (LSB = 0) of octet i = frame 8i + j.
"""

from __future__ import annotations

from faxcore.t30.frames import ADDRESS, CONTROL_NOT_FINAL, fcf_value

FRAMES_PER_BLOCK = 256
FCD = fcf_value("FCD")
RCP = fcf_value("RCP")


def split_page(data: bytes, frame_size: int) -> list[list[bytes]]:
    """Coded page data -> blocks of frames (the last frame may be short)."""
    if frame_size not in (64, 256):
        raise ValueError("ECM frame size must be 64 or 256 octets")
    frames = [data[i:i + frame_size] for i in range(0, len(data), frame_size)] or [b""]
    return [frames[i:i + FRAMES_PER_BLOCK] for i in range(0, len(frames), FRAMES_PER_BLOCK)]


def fcd_frame(number: int, payload: bytes) -> bytes:
    return bytes((ADDRESS, CONTROL_NOT_FINAL, FCD, number & 0xFF)) + payload


def rcp_frame() -> bytes:
    return bytes((ADDRESS, CONTROL_NOT_FINAL, RCP))


def block_burst(frames: list[bytes], numbers) -> tuple[bytes, ...]:
    """The HDLC frames of one (re)transmission: the chosen FCD frames then 3 RCP."""
    return tuple(fcd_frame(n, frames[n]) for n in sorted(numbers)) + (rcp_frame(),) * 3


def ppr_map(missing) -> bytes:
    """Frame numbers to resend -> the 32-octet PPR FIF."""
    out = bytearray(32)
    for n in missing:
        if not 0 <= n < 256:
            raise ValueError(f"frame number {n} out of range")
        out[n >> 3] |= 1 << (n & 7)
    return bytes(out)


def parse_ppr(fif: bytes) -> set[int]:
    """The PPR FIF -> frame numbers asked for (a short FIF is read as far as it goes)."""
    return {8 * i + j for i, octet in enumerate(bytes(fif)[:32]) for j in range(8)
            if octet & (1 << j)}


class BlockReceiver:
    """Collects the FCD frames of one block as they arrive (retransmissions included)."""

    def __init__(self) -> None:
        self.frames: dict[int, bytes] = {}
        self.rcp_seen = False

    def add(self, frame: bytes) -> None:
        """One correct-FCS HDLC frame from the high-speed carrier (FF 03 FCD n data)."""
        if len(frame) < 3 or frame[0] != ADDRESS:
            return
        if frame[2] == FCD and len(frame) >= 4:
            self.frames[frame[3]] = bytes(frame[4:])
        elif frame[2] == RCP:
            self.rcp_seen = True

    def missing(self, count: int) -> set[int]:
        return {n for n in range(count) if n not in self.frames}

    def assemble(self, count: int) -> bytes:
        """Concatenate frames 0..count-1; missing ones (after EOR) are left out."""
        return b"".join(self.frames[n] for n in range(count) if n in self.frames)
