"""Installing the backend into CUPS's backend directory, and a fax queue that uses it.

The backend is a small script whose ``#!`` is this Python (the one faxcore is installed
in), so cupsd runs it without any environment. Mode 0755: cupsd runs it as its ``User``
(lp), which is all it needs (it only talks HTTP). But when that Python is not reachable
by other users (a pyenv or venv under /root: cupsd's exec fails with EACCES, "stopped with
status 113"), the mode is 0700, and cupsd runs backends of mode 0700 as root (backend(7)).
The queue has a PPD (:data:`PPD`, ``faxcore cups ppd`` prints it) so the print dialog
can prompt for the number: ``phone`` is a custom option (CUPS's PPD extension
``*Customphone``/``*ParamCustomphone``: free text, which a plain PickOne cannot hold),
shown by ``lpoptions -p QUEUE -l`` as ``phone/Fax Number: *None Custom.STRING``. A dialog
sends ``phone=Custom.5551234``, ``lp -o phone=5551234`` the number alone; the backend
takes both (and the title when no number is given, as fax4CUPS does). The PPD asks for
no conversion of PDF, TIFF, PNG and JPEG (``*cupsFilter2 ... 0 -``: the document reaches
the backend as the application made it, as on a raw queue); anything else (text,
PostScript) goes through cups-filters to PDF first. ``--raw`` keeps the queue raw.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPT = """#!{python}
# faxcore CUPS backend (installed by `faxcore cups install`); see faxcore/cups/backend.py
import sys

from faxcore.cups.backend import main

sys.exit(main())
"""


# The queue's PPD (PPD 4.3 with CUPS extensions; cupstestppd passes it).
PPD = """*PPD-Adobe: "4.3"
*FormatVersion: "4.3"
*FileVersion: "1.0"
*LanguageVersion: English
*LanguageEncoding: ISOLatin1
*PCFileName: "FAXCORE.PPD"
*Manufacturer: "faxcore"
*Product: "(faxcore)"
*ModelName: "faxcore Fax"
*ShortNickName: "faxcore Fax"
*NickName: "faxcore Fax (print to fax)"
*PSVersion: "(3010.000) 0"
*LanguageLevel: "3"
*ColorDevice: False
*DefaultColorSpace: Gray
*FileSystem: False
*Throughput: "1"
*LandscapeOrientation: Plus90
*TTRasterizer: Type42
*cupsVersion: 2.4
*cupsLanguages: "en"
*cupsFax: True
*cupsFilter2: "application/pdf application/pdf 0 -"
*cupsFilter2: "application/vnd.cups-pdf application/pdf 0 -"
*cupsFilter2: "image/tiff application/pdf 0 -"
*cupsFilter2: "image/png application/pdf 0 -"
*cupsFilter2: "image/jpeg application/pdf 0 -"

*OpenUI *PageSize/Page Size: PickOne
*OrderDependency: 10 AnySetup *PageSize
*DefaultPageSize: A4
*PageSize A4/A4: "<</PageSize[595 842]/ImagingBBox null>>setpagedevice"
*PageSize Letter/US Letter: "<</PageSize[612 792]/ImagingBBox null>>setpagedevice"
*CloseUI: *PageSize

*OpenUI *PageRegion/Page Region: PickOne
*OrderDependency: 10 AnySetup *PageRegion
*DefaultPageRegion: A4
*PageRegion A4/A4: "<</PageSize[595 842]/ImagingBBox null>>setpagedevice"
*PageRegion Letter/US Letter: "<</PageSize[612 792]/ImagingBBox null>>setpagedevice"
*CloseUI: *PageRegion

*DefaultImageableArea: A4
*ImageableArea A4/A4: "12 12 583 830"
*ImageableArea Letter/US Letter: "12 12 600 780"
*DefaultPaperDimension: A4
*PaperDimension A4/A4: "595 842"
*PaperDimension Letter/US Letter: "612 792"

*DefaultResolution: 204x196dpi

*OpenUI *phone/Fax Number: PickOne
*OrderDependency: 10 AnySetup *phone
*Defaultphone: None
*phone None/Ask or use the job title: ""
*CloseUI: *phone
*Customphone True/Fax Number: ""
*ParamCustomphone Number/Fax Number: 1 string 1 32

*DefaultFont: Courier
*Font Courier: Standard "(002.004S)" Standard ROM
"""


class InstallError(Exception):
    pass


def backend_dir(prefix: str | os.PathLike = "/usr") -> Path:
    """CUPS's backend directory under ``prefix`` (Debian: /usr/lib/cups/backend)."""
    return Path(prefix) / "lib" / "cups" / "backend"


def reachable_by_others(path: str | os.PathLike) -> bool:
    """Can a user other than the owner execute ``path`` (every directory on the way x)?"""
    real = Path(os.path.realpath(path))
    if not os.stat(real).st_mode & 0o001:
        return False
    return all(os.stat(d).st_mode & 0o001 for d in real.parents)


def install_backend(directory: str | os.PathLike, *, python: str | None = None,
                    mode: int | None = None) -> Path:
    """Write the ``faxcore`` backend script into ``directory`` (made if missing); ``mode``
    by default 0755, or 0700 when ``python`` is not reachable by cupsd's user."""
    python = python or sys.executable
    if mode is None:
        mode = 0o755 if reachable_by_others(python) else 0o700
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "faxcore"
    tmp = d / ".faxcore.tmp"
    tmp.write_text(SCRIPT.format(python=python))
    os.chmod(tmp, mode)
    os.replace(tmp, path)  # cupsd never sees a half-written backend
    return path


def add_queue(name: str, uri: str, *, server: str | None = None,
              description: str = "Fax (faxcore)", raw: bool = False) -> None:
    """``lpadmin -p NAME -E -v URI -P faxcore.ppd``: a queue to the backend with the fax
    PPD (``raw``: no PPD), enabled and accepting."""
    cmd = ["lpadmin"]
    if server:
        cmd += ["-h", server]
    cmd += ["-p", name, "-E", "-v", uri, "-D", description, "-o", "printer-is-shared=false"]
    with tempfile.TemporaryDirectory(prefix="faxcore-ppd-") as tmp:
        if not raw:
            ppd = Path(tmp) / "faxcore.ppd"
            ppd.write_text(PPD, encoding="latin-1")
            cmd += ["-P", str(ppd)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InstallError(f"cannot run lpadmin: {exc}") from None
    if r.returncode != 0:
        raise InstallError(f"lpadmin failed ({r.returncode}): {r.stderr.strip()}")
