"""The connector's calls, as pure functions: shapes Bitrix24 expects, deadlines in working
hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from app.core.outbox import OutboxMessage
from app.webhooks import bitrix_commands as bc

OPTS = bc.Options(
    currency="RUB",
    deal_min_value=10000,
    default_timezone="Europe/Moscow",
    workday_start=time(9),
    workday_end=time(18),
    workdays=frozenset({1, 2, 3, 4, 5}),
    ping_offsets_minutes=(0, 15),
)
ZONES = ["Europe/Moscow", "Asia/Tokyo", "America/New_York", "Asia/Kathmandu", "UTC"]


def working(moment: datetime) -> bool:
    return moment.isoweekday() in OPTS.workdays and OPTS.workday_start <= moment.time() < (
        OPTS.workday_end
    )


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
)
def test_deadlines_fall_in_the_first_working_moment(due: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    deadline = bc.in_working_hours(due, tz, OPTS)
    assert deadline >= due and working(deadline.astimezone(tz))
    if working(due.astimezone(tz)):
        assert deadline == due
    else:  # nothing earlier would do: the start of a working day
        assert deadline.astimezone(tz).time() == OPTS.workday_start
        assert deadline - due < timedelta(days=4)


def message(type_: str, payload: dict[str, object]) -> OutboxMessage:
    return OutboxMessage(
        message_id="msg_1",
        type=type_,
        payload=payload,
        customer_id="c1",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_only_universal_methods_and_lower_case_fields() -> None:
    person = bc.Person("c1", name="Анна", email="a@example.com", address="Москва, Тверская 1")
    method, params = bc.new_contact(person)
    assert method == "crm.item.add" and params["entityTypeId"] == 3
    assert params["fields"]["fm"] == [
        {"typeId": "EMAIL", "valueType": "WORK", "value": "a@example.com"}
    ]
    assert params["fields"]["name"] == "Анна" and "Тверская" in params["fields"]["comments"]
    lapsed = message(
        "customer.lapsed", {"customer_id": "c1", "status": "lapsed", "value_at_risk": "12000.50"}
    )
    cmds = bc.commands_for(lapsed, 5, person, OPTS)
    assert cmds["comment"][1]["fields"]["ENTITY_ID"] == 5  # `fields`, lower case
    deal = cmds["deal"][1]
    assert cmds["deal"][0] == "crm.item.add" and deal["entityTypeId"] == 2
    assert deal["fields"]["opportunity"] == 12000.5 and deal["fields"]["currencyId"] == "RUB"
    touch = message("touch.due", {"customer_id": "c1", "touch_id": 42, "due_at": "bad"})
    cmds = bc.commands_for(touch, 5, person, OPTS)
    assert (
        "#42" in cmds["todo"][1]["description"]
        and "#42" in cmds["touch_comment"][1]["fields"]["COMMENT"]
    )
    assert {m for m, _ in cmds.values()} | {m for m, _ in bc.lookups(person).values()} <= {
        "crm.activity.todo.add",
        "crm.timeline.comment.add",
        "crm.item.list",
        "crm.duplicate.findbycomm",
    }


def test_found_contact_reads_every_answer_shape() -> None:
    assert bc.found_contact({"by_origin": {"items": [{"id": 7}]}}) == (7, "origin")
    assert bc.found_contact({"by_origin": {"items": []}, "by_email": []}) is None
    assert bc.found_contact({"by_email": {"CONTACT": [9, 4]}}) == (4, "email")
    assert bc.found_contact({"by_phone": {"CONTACT": ["3"]}}) == (3, "phone")
