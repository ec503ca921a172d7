"""The web control panel of ``faxcore serve`` (``/panel``): server-rendered pages
(Jinja2, templates in ``faxcore/web/templates``), the billing rules' access levels
enforced per route, payments through a provider interface and signed notifications.

``install_panel(app, service)`` adds it to the server's FastAPI app (same process, same
database). It sits above :mod:`faxcore.server` in the layers: it uses the server's
queue, documents and inbox, and the server knows nothing of it (the CLI mounts it).
"""

from faxcore.web.panel import Denied, Panel, Support, install_panel
from faxcore.web.payments import Checkout, PaymentProvider, TestProvider, sign

__all__ = ["Checkout", "Denied", "Panel", "PaymentProvider", "Support", "TestProvider",
           "install_panel", "sign"]
