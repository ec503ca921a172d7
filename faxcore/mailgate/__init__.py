"""Email to fax: an SMTP listener inside ``faxcore serve``.

Mail to ``<number>@<fax domain>`` with PDF/TIFF/image attachments becomes a send job of
the account that owns the sender (SMTP AUTH with the account's API key, or an allow-listed
sender address); the result comes back by mail through the configured relay.

* :mod:`~faxcore.mailgate.config` the ``[mail]`` table;
* :mod:`~faxcore.mailgate.store` its tables (allow-listed senders, the mail of each job);
* :mod:`~faxcore.mailgate.message` MIME -> fax documents (and the cover page);
* :mod:`~faxcore.mailgate.handler` the SMTP dialogue (aiosmtpd) and the job submission;
* :mod:`~faxcore.mailgate.results` the result mails;
* :mod:`~faxcore.mailgate.gate` :class:`MailGate`, started with the service.
"""

from faxcore.mailgate.config import MailConfig, MailConfigError, parse_mail_config
from faxcore.mailgate.gate import MailGate

__all__ = ["MailConfig", "MailConfigError", "MailGate", "parse_mail_config"]
