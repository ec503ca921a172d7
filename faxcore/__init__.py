"""faxcore: a fax transmission engine.

Subpackages:
    faxcore.codecs   ITU-T T.4 (MH, MR) and T.6 (MMR) page codecs, TIFF Class F, PBM, page
                     preparation, and the one document loader (faxcore.codecs.load_pages)
    faxcore.modem    software fax modems on 8 kHz audio (faxcore.modem.SAMPLE_RATE)
    faxcore.class1   Class 1 modem driver and emulator
    faxcore.t30      the T.30 fax session engine (sans-IO)
    faxcore.accounts account status gate, metering and the job store
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    if name == "FaxSession":
        # FaxSession lives in faxcore.session; imported lazily so `import faxcore`
        # stays cheap for the codec and accounts users.
        from faxcore.session import FaxSession

        return FaxSession
    raise AttributeError(f"module 'faxcore' has no attribute {name!r}")
