"""Accounts: the status gate for send jobs, free inbound metering, payments, reactivation.

``store = open_store(url)`` opens (creating and migrating as needed) an SQLite
(``sqlite:///path``, the embedded default, WAL mode) or PostgreSQL
(``postgresql://...``, psycopg 3) store holding accounts, plans, the ledger and the
job store. The rules and every decision taken where the requirements are silent are
documented in :mod:`faxcore.accounts.rules`; the job states in
:mod:`faxcore.accounts.jobs`.

Default plans (change them with ``store.set_plan``; stored in the ``plans`` table):

=========  ===================  ===========  ==============
code       name                 monthly fee  per sent page
=========  ===================  ===========  ==============
plus       FaxMicro Plus        $5.00        $0.10
tollfree   FaxMicro Toll Free   $10.00       $0.12
=========  ===================  ===========  ==============

Inbound pages are free on both. The monthly fee is charged at each billing instant.
"""

from faxcore.accounts.jobs import SEND_CHANNELS, Job, JobError, LeaseLost
from faxcore.accounts.rules import REACTIVATION_FEE_CENTS, Status
from faxcore.accounts.store import (
    AccountsError,
    AccountStatus,
    InboundResult,
    InvalidOperation,
    Payment,
    PaymentConflict,
    Plan,
    SendDecision,
    Store,
    UnknownAccount,
    open_store,
)

__all__ = [
    "REACTIVATION_FEE_CENTS", "SEND_CHANNELS", "AccountStatus", "AccountsError", "InboundResult",
    "InvalidOperation", "Job", "JobError", "LeaseLost", "Payment", "PaymentConflict", "Plan", "SendDecision",
    "Status", "Store", "UnknownAccount", "open_store",
]
