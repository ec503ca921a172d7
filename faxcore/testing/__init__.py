"""faxcore.testing: test support shipped with the library (like ``numpy.testing``), used
by the test suite, the benchmarks and ``faxcore call --peer spandsp``. No test module
imports another one: what two tests share lives here.

Modules:
    line           two stations back to back on 8 kHz audio (``run_call``) and line
                   impairments: noise, G.711, a dead line, noise hits, whole-burst channels
    engines        T.30 engines in virtual time: two on the simulated line
                   (``loopback_call``), one against a scripted far end (``play``)
    pages          synthetic fax pages from a seed
    class1_memory  faxcore's Class 1 driver and emulator joined in memory, in virtual time
    modem_rig      our modems and spandsp's driven in blocks, bit errors, interop cases
    hostile_files  decompression bombs and truncated TIFFs for the file readers
    spandsp        spandsp (Debian's libspandsp2, through ctypes) as a reference peer:
                   the one loader, a complete fax terminal, its modems, HDLC, tones,
                   G.711, its T.4 decoder and its T.31 Class 1 modem
    pg             a private, throw-away PostgreSQL server
    paths          where the test data lives (checkout, corpus, shared data)
    fuzz, fuzz_inputs, class1_fuzz
                   the fuzz targets, their inputs, the Class 1 fuzz drivers
"""
