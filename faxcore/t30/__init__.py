"""faxcore.t30: the ITU-T T.30 fax session procedure as a sans-IO engine.

The engine (:class:`~faxcore.t30.engine.T30Engine`) never sleeps, reads sockets or starts
threads: the caller passes the current time and modem events in, and takes modem commands
out (:mod:`faxcore.t30.modem_if`). The same engine can therefore sit on our software
modems, on a Class 1 modem or on T.38.

Modules:
    frames    HDLC frame build/parse, FCF (facsimile control field) codes, X bit
    dis       DIS/DTC/DCS information fields (T.30 Table 2), capabilities, negotiation
    idents    TSI/CSI/CIG and other 20-character identifiers
    nsf       NSF (non-standard facilities): T.35 country and vendor codes
    ecm       error correction mode framing (T.4 Annex A): FCD/RCP, PPS, PPR maps
    timers    T1-T5
    modem_if  the commands and events between T.30 and a modem
    result    completion status codes and the call result with its frame trace
    rules     the procedure as data: states, and what each side does on every command,
              response and timeout (the tables the engine runs)
    engine    the engine: driving API, coroutine helpers, phases A and E
    transmitter  sending: training, pages, ECM blocks, post-page commands
    receiver  receiving: phase B answers, TCF, image data, post-page answers, ECM
    pages     TxPage, RxPage; coding a page, judging a received one (judge_page)
    config    T30Config and the fixed signal timings
    errors    how a procedure ends early (CallFailed, CallAborted), TIMEOUT
    store     the page store hook (durable before the confirming answer)
    loopback  an ideal simulated line joining two engines in virtual time, with faults
"""

from faxcore.t30.config import T30Config
from faxcore.t30.engine import T30Engine
from faxcore.t30.pages import RxPage, TxPage
from faxcore.t30.result import CallResult, T30Status

__all__ = ["CallResult", "RxPage", "T30Config", "T30Engine", "T30Status", "TxPage"]
