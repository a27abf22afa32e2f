"""Handlers of ``invoices.asl.json``, registered path-style in ``sfn.yaml``
(``handlers/billing.build_invoice``), as a project's own handler files are.

``build_invoice`` prices one customer's month: a monthly fee plus a price per unit used,
and the average price per unit. It has a bug on purpose, the one the README's "fail, fix,
redrive" story finds and fixes: a customer who used nothing this month (``"units": 0``)
fails with ``ZeroDivisionError``. The fix is one line::

    "perUnit": round(total / units, 4),              # before
    "perUnit": round(total / units, 4) if units else None,   # after

``request_approval`` stands in for an email to the person who approves a billing run: it
prints the task token and how to answer it (``sfn logs`` shows it). ``send_invoices``
"sends" the approved invoices.
"""

import logging
import time

MONTHLY_FEE = 20.0
PRICE_PER_UNIT = 0.25
#: Seconds one invoice takes to build (rendering a PDF, say): long enough to watch.
WORK_SECONDS = 0.5

log = logging.getLogger(__name__)


def build_invoice(event, context):
    customer, period = event["customer"], event["period"]
    units = customer["units"]
    time.sleep(WORK_SECONDS)
    total = round(MONTHLY_FEE + units * PRICE_PER_UNIT, 2)
    invoice = {
        "invoiceId": f"INV-{period}-{customer['id']}",
        "customer": customer["id"],
        "units": units,
        "total": total,
        "perUnit": round(total / units, 4),
    }
    log.info("built %s: %s units, %.2f EUR", invoice["invoiceId"], units, total)
    return invoice


def request_approval(event, context):
    invoices = event["invoices"]
    total = sum(invoice["total"] for invoice in invoices)
    print(
        f"Approval needed: billing run {event['period']}, {len(invoices)} invoices, "
        f"{total:.2f} EUR."
    )
    print(
        f"Approve with: sfn send-task-success {event['taskToken']} "
        '\'{"approvedBy": "<your name>"}\''
    )
    return {"notified": "billing-approvers@example.com"}


def send_invoices(event, context):
    for invoice in event["invoices"]:
        log.info("sent %s to %s", invoice["invoiceId"], invoice["customer"])
    return {
        "period": event["period"],
        "sent": len(event["invoices"]),
        "total": round(sum(invoice["total"] for invoice in event["invoices"]), 2),
        "approvedBy": event["approvedBy"],
    }
