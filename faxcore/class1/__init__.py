"""Class 1 (ITU-T T.31 / EIA-578) fax modems: a driver for real ones, an emulator.

Moved here from ``faxcore.modem`` (the software DSP modems), which it does not belong to.
"""
