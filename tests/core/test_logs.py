"""No personal data in any log line (issue 19): checked over the whole run, after every test.

tests/conftest.py captures every log record written in this process during the session, at
the deployment's levels (INFO, drivers at WARNING), and collects the e-mails and phones each
test's database held (customers and event payloads) when it is dropped. This test runs last.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from app.customers.models import Customer
from tests.conftest import LOG_LINES, PERSONAL_DATA

# Anything shaped like an e-mail address, whether or not a test stored it.
EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")


def _findings(lines: list[str], personal: set[str]) -> list[tuple[str, str]]:
    text = "\n".join(lines)
    found = [(value, "stored") for value in sorted(personal) if len(value) >= 5 and value in text]
    return found + [(m.group(), "e-mail shaped") for m in EMAIL.finditer(text)]


def test_the_scan_finds_what_it_looks_for() -> None:
    lines = ['{"message": "unhandled error: Key (email)=(ivan@example.ru)"}', "+7 900 111-22-33"]
    assert _findings(lines, {"+7 900 111-22-33"}) == [
        ("+7 900 111-22-33", "stored"),
        ("ivan@example.ru", "e-mail shaped"),
    ]
    assert _findings(['{"route": "/v1/customers/{customer_id}", "status": 200}'], set()) == []


@pytest.mark.runs_last
def test_no_e_mail_or_phone_of_the_run_in_any_log_line() -> None:
    assert LOG_LINES in logging.getLogger().handlers
    logging.getLogger("touchpoint.test").info("the capture works")
    assert LOG_LINES.lines and "the capture works" in LOG_LINES.lines[-1]
    found = _findings(LOG_LINES.lines, PERSONAL_DATA)
    assert found == [], f"{len(found)} personal values in {len(LOG_LINES.lines)} log lines"


async def test_a_database_error_never_carries_the_values_it_was_given(app: Any) -> None:
    """The #3 traceback printed customers' phones: statement parameters are hidden."""
    phone = "+7 (999) 123-45-67, +7 (495) 765-43-21"
    async with app.state.db.sessionmaker() as s, s.begin():
        s.add(Customer(external_id="dup", phone=phone))
    with pytest.raises(DBAPIError) as caught:
        async with app.state.db.sessionmaker() as s, s.begin():
            s.add(Customer(external_id="dup", phone=phone))  # the same external id again
    assert "parameters hidden" in str(caught.value)
    assert "123-45-67" not in str(caught.value) and "123-45-67" not in repr(caught.value)
