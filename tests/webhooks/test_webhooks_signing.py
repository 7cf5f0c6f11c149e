"""Standard Webhooks signatures (pure), checked against the independent `standardwebhooks`
implementation and against the specification's own example."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.webhooks import signing

# The example of the Standard Webhooks specification (and of its reference libraries).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specification_example() -> None:
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert signing.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE)


def test_a_new_secret_is_32_random_bytes_behind_the_prefix() -> None:
    one, two = signing.new_secret(), signing.new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"), validate=True)) == 32
    Webhook(one)  # the independent library accepts it


@settings(max_examples=50, deadline=None)
@given(msg_id=st.text(min_size=1, max_size=40).filter(lambda s: "." not in s), body=st.binary())
def test_the_independent_library_verifies_what_we_sign(msg_id: str, body: bytes) -> None:
    secret = signing.new_secret()
    now = int(time.time())
    text = json.dumps({"b": base64.b64encode(body).decode()}).encode()
    headers = signing.headers([secret], msg_id, now, text)
    assert Webhook(secret).verify(text, headers) == json.loads(text)
    reference = Webhook(secret).sign(msg_id, datetime.fromtimestamp(now, UTC), text.decode())
    assert headers["webhook-signature"] == reference


def test_headers_during_a_rotation_carry_both_signatures_in_order() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    body = b'{"type": "x"}'
    h = signing.headers([new, old], "msg_1", 1_700_000_000, body)
    assert h == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": signing.sign(new, "msg_1", 1_700_000_000, body)
        + " "
        + signing.sign(old, "msg_1", 1_700_000_000, body),
        "content-type": "application/json",
    }
    for secret in (old, new):
        assert signing.verify(secret, "msg_1", 1_700_000_000, body, h["webhook-signature"])
    assert not signing.verify(
        signing.new_secret(), "msg_1", 1_700_000_000, body, h["webhook-signature"]
    )


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "body"),
    [
        ("msg_other", SPEC_TIMESTAMP, SPEC_BODY),
        (SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY),
        (SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY + b" "),
    ],
)
def test_any_change_of_id_time_or_body_breaks_the_signature(
    msg_id: str, timestamp: int, body: bytes
) -> None:
    assert not signing.verify(SPEC_SECRET, msg_id, timestamp, body, SPEC_SIGNATURE)
    with pytest.raises(WebhookVerificationError):
        Webhook(SPEC_SECRET).verify(
            body,
            {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": SPEC_SIGNATURE,
            },
        )


def test_verify_looks_at_every_signature_of_the_header() -> None:
    other = signing.sign(signing.new_secret(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    header = f"{other} {SPEC_SIGNATURE}"
    assert signing.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header)
    assert not signing.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, other)
    assert not signing.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, "")
