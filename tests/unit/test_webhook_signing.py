"""Standard Webhooks signing, checked against the reference library, and the relay's pure rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from floorgate.edge.webhooks.relay import RetryPolicy, retry_after_seconds
from floorgate.edge.webhooks.signing import BadSecret, headers, new_secret, secret_key, signature

pytestmark = pytest.mark.unit


def test_our_signature_is_the_reference_librarys() -> None:
    secret = new_secret()
    body = b'{"type":"pick.confirmed","timestamp":"2026-11-24T10:00:00.000Z","data":{}}'
    now = int(datetime.now(UTC).timestamp())
    ours = signature(secret, "evt_1", now, body)
    theirs = Webhook(secret).sign("evt_1", datetime.fromtimestamp(now, UTC), body.decode())
    assert ours == theirs
    Webhook(secret).verify(body, headers([secret], "evt_1", now, body))


def test_a_rotation_signs_with_both_secrets_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = b"{}"
    now = int(datetime.now(UTC).timestamp())
    signed = headers([new, old], "evt_2", now, body)
    assert len(signed["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, signed)
    Webhook(new).verify(body, signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, signed)


def test_a_tampered_body_does_not_verify() -> None:
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())
    signed = headers([secret], "evt_3", now, b'{"qty":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"qty":9}', signed)


@pytest.mark.parametrize("bad", ["whsec_", "whsec_!!!!"])
def test_a_secret_that_is_not_base64_is_refused(bad: str) -> None:
    with pytest.raises(BadSecret):
        secret_key(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("0", 0.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=2_000_000_000.0) == expected


def test_retry_after_as_a_future_http_date_is_the_seconds_until_then() -> None:
    now = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds("Tue, 24 Nov 2026 10:01:30 GMT", now) == pytest.approx(90.0)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    rng = random.Random(3)
    delays = [policy.delay(n, rng) for n in range(1, 12)]
    for attempts, delay in enumerate(delays, 1):
        ceiling = min(60.0, 2 ** (attempts - 1))
        assert ceiling * 0.5 <= delay <= ceiling
    assert delays[-1] <= 60.0


def test_the_default_schedule_keeps_retrying_for_hours() -> None:
    policy = RetryPolicy()
    rng = random.Random(0)
    total = sum(policy.delay(n, rng) for n in range(1, policy.max_attempts))
    assert total > 3 * 3600
