"""The usage statement of one month: outbound usage per job (pages charged and the
charge, from the ledger's page charges noted with their job) and inbound faxes metered at
no charge (the ledger's ``inbound`` events), with totals. Served by
``GET /v1/account/statement`` and shown on the control panel's account page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faxcore.accounts import Store
from faxcore.accounts.rules import INBOUND, PAGE_CHARGE, from_us, to_us
from faxcore.server.queue import job_note


def month_bounds(month: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of ``month`` ("YYYY-MM"; None: the month of ``now``), UTC.
    ValueError for anything else."""
    if month is None:
        y, m = now.year, now.month
    else:
        y_text, sep, m_text = month.partition("-")
        if not sep or len(y_text) != 4 or len(m_text) != 2 or not (
                y_text.isdigit() and m_text.isdigit()) or not 1 <= int(m_text) <= 12:
            raise ValueError(f"month must be YYYY-MM, got {month!r}")
        y, m = int(y_text), int(m_text)
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return start, end


def usage_statement(store: Store, account_id: int, now: datetime,
                    month: str | None = None) -> dict[str, Any]:
    """The month's outbound usage per job and inbound metering (up to ``now``)."""
    start, end = month_bounds(month, now)
    lo, hi = to_us(start), min(to_us(end), to_us(now) + 1)
    charged: dict[str, list[int]] = {}   # note -> [pages, cents]
    other_pages = other_cents = 0        # page charges with no job (``faxcore account charge``)
    inbound = []
    for at, kind, cents, pages, note in store.db.all(
            "SELECT at, kind, amount_cents, pages, note FROM ledger WHERE account_id = ? AND "
            "at >= ? AND at < ? AND kind IN (?, ?) ORDER BY at, id",
            (account_id, lo, hi, PAGE_CHARGE, INBOUND)):
        if kind == INBOUND:
            inbound.append({"at": from_us(at).isoformat(), "pages": int(pages or 0),
                            "from": note or "", "charge_cents": int(cents)})
        elif note:
            c = charged.setdefault(note, [0, 0])
            c[0] += int(pages or 0)
            c[1] += int(cents)
        else:
            other_pages += int(pages or 0)
            other_cents += int(cents)
    outbound = []
    seen: set[str] = set()
    for jid, dest, origin, state, pages, created in store.db.all(
            "SELECT id, destination, origin, state, pages, created_at FROM fax_jobs WHERE "
            "account_id = ? ORDER BY id", (account_id,)):
        note = job_note(int(jid))
        in_month = lo <= int(created) < hi
        if note not in charged and not in_month:
            continue
        seen.add(note)
        got = charged.get(note, [0, 0])
        outbound.append({"job": int(jid), "to": dest, "origin": origin, "state": state,
                         "pages": int(pages), "pages_charged": got[0], "charge_cents": got[1],
                         "created_at": from_us(int(created)).isoformat()})
    for note, (pages, cents) in charged.items():  # a note that is no job of ours
        if note not in seen:
            other_pages += pages
            other_cents += cents
    return {
        "account": account_id, "month": f"{start:%Y-%m}",
        "from": start.isoformat(), "until": min(end, now).isoformat(),
        "outbound": outbound, "inbound": inbound,
        "other_page_charges": {"pages": other_pages, "charge_cents": other_cents},
        "totals": {
            "outbound_faxes": len(outbound),
            "outbound_pages": sum(o["pages_charged"] for o in outbound) + other_pages,
            "outbound_cents": sum(o["charge_cents"] for o in outbound) + other_cents,
            "inbound_faxes": len(inbound),
            "inbound_pages": sum(i["pages"] for i in inbound),
            "inbound_cents": sum(i["charge_cents"] for i in inbound)},
    }
