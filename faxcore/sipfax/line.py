"""A SIP G.711 call as an audio line for synchronous code: what the Class 1 emulator's
line side (:class:`faxcore.class1.pty.PtyModem`) uses as its far end with
``faxcore modem emulate --sip``, so that efax or HylaFAX fax over SIP the way iaxmodem
users do.

    line = SipAudioLine("sip:1000@192.0.2.20", hung_up=lambda: not dce.offhook)
    while ...:
        heard = line.tx(160)      # the far end's audio, paced at real time
        line.rx(ours)             # our 160 samples to the far end

A thread runs an asyncio loop with a :class:`~faxcore.sipfax.call.SipFaxAgent` and one
:class:`~faxcore.sipfax.call.SipFaxCall` whose audio station is this line (G.711 only:
the T.30 procedure is the program's, behind the emulated modem, so there is no T.38).

Pacing: once the call's audio flows, :meth:`SipAudioLine.tx` returns as soon as ``n``
samples have come out of the RTP jitter buffer (it plays out every 20 ms, silence for
lost packets), so the caller's line clock is the RTP cadence; only if the cadence
stalls for :data:`SLACK` past a block's time is the block made of silence. Before the
audio flows (the call is ringing) blocks are silence at real-time pace. Audio the caller did not take (it was busy
with its program) is kept for at most :data:`IN_MAX` samples: older audio is dropped,
as a modem that nobody reads loses what it heard. What the caller sends goes out at the
20 ms cadence once :data:`PREBUFFER` samples are queued (so a caller that produces its
blocks a little unevenly never leaves a gap inside a modem signal: a gap in a TCF or a
page is an FTT or a bad line); at most :data:`OUT_MAX` samples wait, the oldest dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from faxcore.sipfax.call import FaxOptions, SipFaxAgent

__all__ = ["IN_MAX", "OUT_MAX", "PREBUFFER", "SipAudioLine", "SipLineListener"]

log = logging.getLogger(__name__)

RATE = 8000
IN_MAX = 1600            # 200 ms of received audio waiting for the caller
OUT_MAX = 8000           # 1 s of our audio waiting for the cadence
PREBUFFER = 800          # 100 ms of our audio queued before it goes out (after a gap)
SLACK = 0.25             # s: how long tx() waits past a block's time for the cadence


class _Station:
    """The call's audio station (runs in the line's thread, at the RTP cadence)."""

    engine = None
    result = None
    pages: list = []
    received_path = None

    def __init__(self, line: SipAudioLine) -> None:
        self.line = line

    @property
    def done(self) -> bool:
        return self.line.hung_up

    def tx(self, n: int) -> np.ndarray:
        return self.line._take_out(n)

    def rx(self, samples) -> None:
        self.line._put_in(np.asarray(samples, np.int16))

    def line_dropped(self) -> None:
        self.line.remote_gone = True


class _Line:
    """The audio of one SIP call as seen by a synchronous caller (buffers and pacing);
    :class:`SipAudioLine` (outgoing) and :meth:`SipLineListener.answer` (incoming)
    make them."""

    def __init__(self, hung_up: Callable[[], bool]) -> None:
        self._hung_up = hung_up
        self._lock = threading.Condition()
        self._in: deque[np.ndarray] = deque()
        self._in_len = 0
        self._out: deque[np.ndarray] = deque()
        self._out_len = 0
        self._out_started = False              # PREBUFFER reached since the last gap
        self.gaps = 0                          # times our audio ran dry mid-stream
        self._t: float | None = None
        self._flowing = False                  # the call's audio has started
        self.remote_gone = False
        self.outcome = None
        self.error: str | None = None
        self.dropped_in = 0

    # ---- the caller's side (any thread) ------------------------------------------------

    @property
    def hung_up(self) -> bool:
        return self.remote_gone or bool(self._hung_up())

    @property
    def done(self) -> bool:
        """The caller hung up, or the far end did: the emulator lets go of the line."""
        return self.hung_up

    def tx(self, n: int) -> np.ndarray:
        """The next ``n`` samples from the far end, at real-time pace."""
        now = time.monotonic()
        if self._t is None or now - self._t > 2 * SLACK:
            self._t = now                      # the caller was away: restart the clock
        due = self._t + n / RATE
        self._t = due
        if not self._flowing:
            time.sleep(max(0.0, due - now))    # ringing: silence at real-time pace
        with self._lock:
            while self._flowing and self._in_len < n and not self.remote_gone:
                left = due + SLACK - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            out = np.zeros(n, np.int16)
            k = 0
            while k < n and self._in:
                blk = self._in[0]
                m = min(n - k, len(blk))
                out[k:k + m] = blk[:m]
                k += m
                if m == len(blk):
                    self._in.popleft()
                else:
                    self._in[0] = blk[m:]
            self._in_len -= k
        return out

    def rx(self, samples) -> None:
        """Our audio for the far end."""
        a = np.asarray(samples, np.int16).copy()
        with self._lock:
            self._out.append(a)
            self._out_len += len(a)
            while self._out_len > OUT_MAX and self._out:
                self._out_len -= len(self._out.popleft())

    def close(self, timeout: float = 5.0) -> None:
        """Wait for the call to end (after the caller hung up)."""

    # ---- the call's side (the line's thread) ---------------------------------------

    def _put_in(self, a: np.ndarray) -> None:
        with self._lock:
            self._flowing = True
            self._in.append(a.copy())
            self._in_len += len(a)
            while self._in_len > IN_MAX and self._in:
                self.dropped_in += len(self._in[0])
                self._in_len -= len(self._in.popleft())
            self._lock.notify_all()

    def _take_out(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        with self._lock:
            if not self._out_started:
                if self._out_len < PREBUFFER:
                    return out
                self._out_started = True
            elif self._out_len < n:
                self.gaps += 1
                self._out_started = False     # ran dry: build the margin up again
            k = 0
            while k < n and self._out:
                blk = self._out[0]
                m = min(n - k, len(blk))
                out[k:k + m] = blk[:m]
                k += m
                if m == len(blk):
                    self._out.popleft()
                else:
                    self._out[0] = blk[m:]
            self._out_len -= k
        return out

    def _ended(self, outcome) -> None:
        self.outcome = outcome
        if outcome.error and not self.hung_up:
            self.error = outcome.error
        self.remote_gone = True
        with self._lock:
            self._lock.notify_all()


class SipAudioLine(_Line):
    """One outgoing SIP call carrying audio for a synchronous caller (see the module
    docstring). ``hung_up()``: true once the caller's side has hung up (then BYE);
    ``bind``, ``proxy``, ``credentials``, ``from_uri``: as for
    :meth:`~faxcore.sipfax.call.SipFaxAgent.call`."""

    def __init__(self, to: str, *, hung_up: Callable[[], bool],
                 bind: tuple[str, int] = ("0.0.0.0", 0),
                 proxy: tuple[str, int] | None = None,
                 credentials: tuple[str, str] | None = None,
                 from_uri: str | None = None, max_seconds: float = 1800.0) -> None:
        super().__init__(hung_up)
        self.to = to
        self._thread = threading.Thread(
            target=self._run, name="sip-line", daemon=True,
            args=(to, bind, proxy, credentials, from_uri, max_seconds))
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def _run(self, to, bind, proxy, credentials, from_uri, max_seconds) -> None:
        try:
            asyncio.run(self._call(to, bind, proxy, credentials, from_uri, max_seconds))
        except Exception as exc:  # the emulator must hear of it, not a dead thread
            log.exception("SIP line to %s failed", to)
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.remote_gone = True
            with self._lock:
                self._lock.notify_all()

    async def _call(self, to, bind, proxy, credentials, from_uri, max_seconds) -> None:
        towards = proxy[0] if proxy else to.split("@")[-1].split(":")[0].split(";")[0]
        agent = await SipFaxAgent.create(bind, towards=towards, credentials=credentials)
        try:
            call = agent.call(to, None, audio_station=_Station(self), proxy=proxy,
                              options=FaxOptions(t38="never", max_seconds=max_seconds),
                              from_uri=from_uri, credentials=credentials)
            outcome = await call.wait()
            self._ended(outcome)
            log.info("SIP line to %s: %s", to, outcome.summary())
        finally:
            await asyncio.sleep(0.2)
            agent.close()


class SipLineListener:
    """Incoming SIP calls for a synchronous caller: a thread answers SIP on ``bind``
    (registering at ``register`` = (registrar URI, user, password) if given). An INVITE
    is held ringing (180) and :attr:`ringing` turns true; :meth:`answer` takes it (200)
    and returns its line. A second call while one rings or is up gets 486."""

    def __init__(self, bind: tuple[str, int], *,
                 register: tuple[str, str, str] | None = None,
                 max_seconds: float = 1800.0) -> None:
        self._ev = None
        self._busy = False
        self.max_seconds = max_seconds
        self.error: str | None = None
        self.agent: SipFaxAgent | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="sip-listen", daemon=True,
                                        args=(bind, register))
        self._thread.start()
        self._ready.wait(15.0)
        if self.error:
            raise RuntimeError(self.error)

    @property
    def contact(self) -> str:
        return self.agent.contact if self.agent is not None else ""

    @property
    def ringing(self) -> bool:
        """A call is waiting to be answered (and has not been cancelled)."""
        ev = self._ev
        return ev is not None and ev.call.state.value == "incoming"

    def answer(self, hung_up: Callable[[], bool]) -> _Line:
        """Answer the ringing call; its line (silence and done at once if it has gone)."""
        line = _Line(hung_up)
        ev, self._ev = self._ev, None
        if ev is None or ev.call.state.value != "incoming":
            line.remote_gone = True
            return line
        self._busy = True

        def take() -> None:
            call = self.agent.take(ev, receive=None, audio_station=_Station(line),
                                   options=FaxOptions(t38="never",
                                                      max_seconds=self.max_seconds))
            self._loop.create_task(self._watch(call, line))

        self._loop.call_soon_threadsafe(take)
        return line

    async def _watch(self, call, line: _Line) -> None:
        try:
            line._ended(await call.wait())
        finally:
            self._busy = False

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5.0)

    def _on_call(self, agent: SipFaxAgent, ev):
        if self._busy or self.ringing:
            return None                              # 486 Busy Here
        self._ev = ev
        agent.ua.ringing(ev.call, self._loop.time())
        return _Held()

    def _run(self, bind, register) -> None:
        try:
            asyncio.run(self._serve(bind, register))
        except Exception as exc:
            log.exception("SIP listener failed")
            self.error = f"{type(exc).__name__}: {exc}"
            self._ready.set()

    async def _serve(self, bind, register) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        towards = register[0].split("@")[-1].split(":")[0] if register else None
        self.agent = await SipFaxAgent.create(bind, user=register[1] if register else "fax",
                                              towards=towards, on_call=self._on_call)
        try:
            if register is not None:
                await self.agent.register(*register)
            self._ready.set()
            await self._stop.wait()
        finally:
            await self.agent.unregister()
            self.agent.close()


class _Held:
    """What the agent gets for a call the listener holds ringing (not refused)."""
