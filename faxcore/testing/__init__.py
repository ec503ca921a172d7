"""faxcore.testing: test support shipped with the library (like ``numpy.testing``).

Modules:
    spandsp   a complete spandsp fax terminal (Debian's libspandsp2, loaded with ctypes)
              as a reference peer for faxcore's calls (``faxcore call --peer spandsp``,
              the interoperability tests and the call benchmark)
"""
