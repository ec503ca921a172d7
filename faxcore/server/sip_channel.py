"""The SIP channel: a SIP trunk, fax over G.711 (RTP) or T.38 (UDPTL) by
:mod:`faxcore.sipfax` (:class:`~faxcore.sipfax.call.SipFaxAgent`).

One agent (one UDP socket, ``bind``) per channel runs on an asyncio loop in a thread of
its own, for every call of the channel, outbound and inbound.

Outbound: :meth:`SipChannel.place_call` (a scheduler worker thread) starts the call on
the loop (``INVITE sip:<destination>@<domain>``, through ``proxy`` when one is set,
with digest credentials ``user``/``password`` when the trunk asks; From is
``sip:<user>@...`` on a trunk with a password, else ``sip:<our number>@...``) and,
while it lasts,
looks at its T.30 engine every :data:`POLL` seconds from the worker thread: each page
the far end confirmed is journaled there (a database write never blocks the loop that
paces the RTP), and a cancel hangs the call up (DCN, BYE). The attempt's transport is
``t38`` or ``g711``, as the call ended. 486/600 are busy, 408/480/487 or no final
answer no answer, 488 or T.38 refused a protocol error, other failures channel errors.

Inbound: an INVITE is routed by the user part of its Request-URI (the DID) or, when
no account owns that, of its To URI (after a registrar's lookup the Request-URI holds
our Contact), each tried as given and with a leading ``+``;
answered when the number's account may receive (:class:`InboundHandler`) and the
channel has a free line (``capacity``), refused with 486 otherwise (a terminated
account's number is not answered). The pages go to the handler's page store, each
durable before its MCF; the end of the call (PDF, database rows) is handled in a
thread, off the loop.

With ``registrar`` (and ``password``) the agent registers as ``user`` there when the
channel starts, so that the trunk's calls to that user reach it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass

from faxcore.server.channels import (
    CallControl,
    ConfirmWatcher,
    InboundHandler,
    OutboundCall,
    far_end_spoke,
)
from faxcore.server.model import AttemptOutcome, DialResult
from faxcore.sip.message import SipParseError, parse_name_addr, parse_uri
from faxcore.sipfax.call import CallOutcome, FaxOptions, SipFaxAgent, SipFaxCall
from faxcore.t30.result import DESCRIPTIONS, CallResult, T30Status

log = logging.getLogger("faxcore.server.sip")

POLL = 0.1                 # s between two looks at an outbound call's engine
BUSY_CODES = (486, 600)
NO_ANSWER_CODES = (408, 480, 487)


def host_port(text: str, default_port: int = 5060) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    if not port.isdigit():
        raise ValueError(f"expected HOST[:PORT], got {text!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class SipTrunk:
    bind: tuple[str, int] = ("127.0.0.1", 5060)
    proxy: tuple[str, int] | None = None
    domain: str | None = None         # host[:port] of the To URIs (default: the proxy)
    registrar: str | None = None      # host[:port]
    user: str = "faxcore"
    password: str | None = None
    t38: str = "prefer"
    ecm: bool = True
    max_seconds: float = 600.0


class SipChannel:
    """See the module docstring."""

    def __init__(self, name: str, trunk: SipTrunk, *, capacity: int = 4,
                 inbound: InboundHandler | None = None) -> None:
        self.name = name
        self.trunk = trunk
        self.capacity = capacity
        self.inbound = inbound
        self.transport = "g711"
        self.agent: SipFaxAgent | None = None
        self.calls_in = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._finishing: set[asyncio.Task] = set()

    # ---- lifetime ---------------------------------------------------------------------

    def start(self) -> None:
        """Open the SIP socket (and register); idempotent."""
        with self._lock:
            if self._loop is not None:
                return
            loop = asyncio.new_event_loop()
            ready: concurrent.futures.Future = concurrent.futures.Future()
            t = threading.Thread(target=self._run, args=(loop, ready), daemon=True,
                                 name=f"faxcore-{self.name}")
            t.start()
            try:
                ready.result(30)  # the agent's socket is bound (or the error raised here)
            except OSError as exc:
                raise OSError(f"channel {self.name}: cannot use SIP address "
                              f"{self.trunk.bind[0]}:{self.trunk.bind[1]}: "
                              f"{exc.strerror or exc}") from None
            except RuntimeError as exc:  # REGISTER refused or unanswered
                raise RuntimeError(f"channel {self.name}: REGISTER at "
                                   f"{self.trunk.registrar} as {self.trunk.user}: {exc}") from None
            self._loop, self._thread = loop, t

    def _run(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future) -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            tr = self.trunk
            towards = (tr.proxy or host_port(tr.domain or "127.0.0.1"))[0]
            creds = (tr.user, tr.password) if tr.password else None
            self.agent = await SipFaxAgent.create(tr.bind, user=tr.user, towards=towards,
                                                  credentials=creds, on_call=self._on_call)
            if tr.registrar:
                host, port = host_port(tr.registrar)
                granted = await self.agent.register(f"sip:{host}:{port}", tr.user,
                                                    tr.password or "")
                log.info("%s: registered as %s at %s:%d (%d s)", self.name, tr.user, host,
                         port, granted)

        try:
            loop.run_until_complete(boot())
        except BaseException as exc:
            if self.agent is not None:  # bound, but the registration failed
                self.agent.close()
                self.agent = None
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(None)
        log.info("%s: SIP on %s", self.name, self.agent.contact)
        try:
            loop.run_forever()
        finally:
            # the calls' own tasks (media, watchers) end with the loop
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return

        async def down() -> None:
            agent = self.agent
            if agent is not None:
                for c in agent.calls:
                    c.hang_up("the server is stopping")
                if self._finishing:
                    await asyncio.wait(list(self._finishing), timeout=10)
                try:
                    await agent.unregister()
                finally:
                    agent.close()

        try:
            asyncio.run_coroutine_threadsafe(down(), loop).result(20)
        except Exception:
            log.exception("%s: stopping", self.name)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    @property
    def contact(self) -> str:
        return self.agent.contact if self.agent is not None else ""

    # ---- outbound ---------------------------------------------------------------------

    def uri_for(self, destination: str) -> str:
        tr = self.trunk
        host = tr.domain or (f"{tr.proxy[0]}:{tr.proxy[1]}" if tr.proxy else "127.0.0.1")
        return f"sip:{destination}@{host}"

    def place_call(self, call: OutboundCall, control: CallControl) -> AttemptOutcome:
        self.start()
        loop = self._loop
        tr = self.trunk
        holder: dict = {}

        async def dial() -> CallOutcome:
            opts = FaxOptions(t38=tr.t38, ecm=tr.ecm, ident=call.ident,
                              max_seconds=tr.max_seconds)
            # From: the trunk's user when it authenticates (a proxy checks the digest
            # against the From user, as Kamailio's auth does), else our number (caller id)
            who = tr.user if tr.password else call.caller
            from_uri = None
            if who:
                host = (tr.domain or (tr.proxy[0] if tr.proxy else self.agent.host))
                from_uri = f"sip:{who}@{host.split(':')[0]}"
            c = self.agent.call(self.uri_for(call.destination), list(call.pages),
                                options=opts, proxy=tr.proxy, from_uri=from_uri,
                                credentials=(tr.user, tr.password) if tr.password else None)
            holder["call"] = c
            return await c.wait()

        t0 = time.monotonic()
        fut = asyncio.run_coroutine_threadsafe(dial(), loop)
        watch: ConfirmWatcher | None = None
        answered = stopped = False
        while True:
            try:
                outcome: CallOutcome = fut.result(POLL)
                break
            except concurrent.futures.TimeoutError:
                pass
            c: SipFaxCall | None = holder.get("call")
            e = c.engine if c is not None else None
            if e is None:
                continue
            if watch is None or (watch.engine is not e and watch.seen == 0):
                # a new engine: the call moved from audio to T.38 before phase B
                watch = ConfirmWatcher(e, control, list(call.page_numbers),
                                       abort_engine=False)
            if not answered and far_end_spoke(e):
                answered = True
                if control.answered():
                    watch.stop = True
            watch.poll(time.monotonic())
            if watch.stop and not stopped:
                stopped = True
                loop.call_soon_threadsafe(c.hang_up, "canceled by the client")
        if watch is not None:
            watch.poll(time.monotonic())
        return self._outcome(outcome, watch, stopped, time.monotonic() - t0)

    def _outcome(self, o: CallOutcome, watch: ConfirmWatcher | None, stopped: bool,
                 seconds: float) -> AttemptOutcome:
        transport = "t38" if o.media == "T.38" else "g711"
        confirmed = list(watch.confirmed) if watch is not None else []
        r = o.result
        base = dict(bit_rate=r.bit_rate if r else 0, modulation=r.modulation if r else "",
                    ecm=bool(r.ecm) if r else False,
                    t30_status=T30Status(r.status).name if r else "",
                    duration_s=round(seconds, 3), pages_confirmed=confirmed)
        if o.ok:
            return AttemptOutcome(DialResult.DELIVERED, transport,
                                  hangup_cause="normal clearing", **base)
        if stopped:
            return AttemptOutcome(DialResult.PROTOCOL_ERROR, transport,
                                  hangup_cause="canceled by the client", **base)
        if r is None:
            status = o.sip_status
            why = o.error or "no fax"
            if status in BUSY_CODES:
                return AttemptOutcome(DialResult.BUSY, transport, hangup_cause=f"busy ({why})",
                                      **base)
            if status in NO_ANSWER_CODES or (status is None and "timeout" in why.lower()):
                return AttemptOutcome(DialResult.NO_ANSWER, transport,
                                      hangup_cause=f"no answer ({why})", **base)
            if status == 488 or (status is None and "t.38" in why.lower()):
                return AttemptOutcome(DialResult.PROTOCOL_ERROR, transport, hangup_cause=why,
                                      **base)
            return AttemptOutcome(DialResult.CHANNEL_ERROR, transport, hangup_cause=why,
                                  **base)
        cause = r.message or DESCRIPTIONS.get(r.status, r.status.name)
        if o.error and o.error not in cause:
            cause = f"{cause}; {o.error}"
        return AttemptOutcome(DialResult.PROTOCOL_ERROR, transport, hangup_cause=cause, **base)

    # ---- inbound ----------------------------------------------------------------------

    def _numbers(self, ev) -> tuple[str, str]:
        """(called, caller) of an INVITE. The called number is the first of the
        Request-URI's user and the To URI's user (each as given, then with a leading
        ``+`` when it is all digits) that an account owns: a trunk puts the DID in the
        Request-URI, but a registrar's lookup replaces it with our Contact (our own
        user), and then only To still has it. If none is owned, the Request-URI's user
        (for the default account). The caller is From's user."""
        users: list[str] = []
        try:
            users.append(parse_uri(ev.request.uri).user or "")
        except SipParseError:
            users.append("")
        try:
            users.append(parse_name_addr(ev.request.get("To") or "").uri.user or "")
        except SipParseError:
            pass
        caller = ""
        try:
            caller = parse_name_addr(ev.request.get("From") or "").uri.user or ""
        except SipParseError:
            pass
        if self.inbound is not None:
            for user in users:
                for candidate in (user, "+" + user if user.isdigit() else ""):
                    if candidate and self.inbound.owns(candidate):
                        return candidate, caller
        return next((u for u in users if u), ""), caller

    def _on_call(self, agent: SipFaxAgent, ev) -> SipFaxCall | None:
        if self.inbound is None:
            return None
        if len(agent.calls) >= self.capacity:
            log.info("%s: every line busy, INVITE refused (486)", self.name)
            return None
        called, caller = self._numbers(ev)
        session = self.inbound.offer(called, caller)
        if session is None:
            log.info("%s: call from %s to %s not answered", self.name, caller or "?",
                     called or "?")
            return None
        tr = self.trunk
        c = agent.take(ev, receive=session.page_store,
                       options=FaxOptions(t38=tr.t38, ecm=tr.ecm, ident=session.ident,
                                          max_seconds=tr.max_seconds))
        self.calls_in += 1
        task = asyncio.get_running_loop().create_task(self._finish(c, session))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        return c

    async def _finish(self, c: SipFaxCall, session) -> None:
        outcome = await c.wait()
        r = outcome.result or CallResult(status=T30Status.CALLDROPPED, calling=False,
                                         message=outcome.error or "no fax")
        e = c.engine
        pages = list(e.received_pages) if e is not None else []
        # the files and rows (PDF, fsync, database) are written off the loop
        await asyncio.get_running_loop().run_in_executor(None, session.finish, r, pages)
        log.info("%s: inbound call over %s: %s", self.name, outcome.media, outcome.summary())
