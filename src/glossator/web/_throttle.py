"""Sign-in throttling: token buckets per client address, per account, and per both.

Every sign-in attempt takes one token from three buckets before any password is hashed:

==========================  ========  ==============  ======================================
bucket                      capacity  refill          stops
==========================  ========  ==============  ======================================
(account, client address)   5         1 per minute    one address guessing one password
client address              30        1 per 10 s      one address spraying many accounts
account                     50        1 per 30 s      many addresses guessing one password
==========================  ========  ==============  ======================================

A successful sign-in gives its tokens back, so only failures count; an empty bucket
answers 429 with ``Retry-After`` (the seconds until it holds a token again) without
hashing anything. "Account" is the address as typed (normalised), whether or not it has
an account, so the answers tell nothing about which addresses exist. The per-account
bucket lets a determined attacker with many addresses delay one user's sign-in; it is
large on purpose, so that takes many addresses, and an administrator's
``glossator user create`` is not throttled.

State is kept in memory, per server process, bounded in size (full buckets are dropped
first); a restart forgets it. Behind a reverse proxy every client has the proxy's
address (``serve`` does not trust forwarded headers), so only the account buckets help
there.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Final

from glossator.errors import ValidationError
from glossator.services import normalise_email
from glossator.web import accounts
from glossator.web.accounts import RetryLater

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

    from glossator.services import UserRecord

__all__ = ["BucketRule", "SignInThrottle", "TooManyAttempts", "authenticate_request"]


class TooManyAttempts(RetryLater):
    """Too many failed sign-ins from this address or for this account (429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            retry_after,
            f"too many failed sign-ins; try again in {max(1, retry_after)} seconds",
        )


@dataclasses.dataclass(frozen=True)
class BucketRule:
    """A token bucket's size and refill rate."""

    capacity: float
    refill_seconds: float  # one token comes back every this many seconds


PER_ACCOUNT_AND_ADDRESS: Final = BucketRule(5, 60)
PER_ADDRESS: Final = BucketRule(30, 10)
PER_ACCOUNT: Final = BucketRule(50, 30)
#: Buckets kept at most; beyond it, full buckets (and then the oldest) are dropped.
MAX_BUCKETS: Final = 100_000


@dataclasses.dataclass
class _Bucket:
    tokens: float
    updated: float


class SignInThrottle:
    """The three kinds of bucket of one server process."""

    def __init__(
        self,
        *,
        account_and_address: BucketRule = PER_ACCOUNT_AND_ADDRESS,
        address: BucketRule = PER_ADDRESS,
        account: BucketRule = PER_ACCOUNT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use the given rules (the defaults are documented above) and clock."""
        self._rules = {"pair": account_and_address, "address": address, "account": account}
        self._clock = clock
        self._buckets: dict[tuple[str, ...], _Bucket] = {}

    def _level(self, key: tuple[str, ...], now: float) -> _Bucket:
        rule = self._rules[key[0]]
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(rule.capacity, now)
            if len(self._buckets) >= MAX_BUCKETS:
                self._prune(now)
            self._buckets[key] = bucket
        else:
            gained = (now - bucket.updated) / rule.refill_seconds
            bucket.tokens = min(rule.capacity, bucket.tokens + gained)
            bucket.updated = now
        return bucket

    def _prune(self, now: float) -> None:
        for key in list(self._buckets):
            rule = self._rules[key[0]]
            bucket = self._buckets[key]
            if bucket.tokens + (now - bucket.updated) / rule.refill_seconds >= rule.capacity:
                del self._buckets[key]
        while len(self._buckets) >= MAX_BUCKETS:  # all busy: forget the oldest
            del self._buckets[next(iter(self._buckets))]

    @staticmethod
    def _keys(account: str, address: str) -> list[tuple[str, ...]]:
        return [("pair", account, address), ("address", address), ("account", account)]

    def take(self, account: str, address: str) -> None:
        """Take a token from each bucket of this attempt, or none at all.

        Raises:
            TooManyAttempts: A bucket is empty; its ``retry_after`` says for how long.
        """
        now = self._clock()
        buckets = [(key, self._level(key, now)) for key in self._keys(account, address)]
        waits = [
            (1 - bucket.tokens) * self._rules[key[0]].refill_seconds
            for key, bucket in buckets
            if bucket.tokens < 1
        ]
        if waits:
            raise TooManyAttempts(math.ceil(max(waits)))
        for _, bucket in buckets:
            bucket.tokens -= 1

    def give_back(self, account: str, address: str) -> None:
        """Return the tokens of an attempt that succeeded (or was never judged)."""
        now = self._clock()
        for key in self._keys(account, address):
            bucket = self._level(key, now)
            bucket.tokens = min(self._rules[key[0]].capacity, bucket.tokens + 1)


def _account_key(email: str) -> str:
    try:
        return normalise_email(email)
    except ValidationError:
        return email.strip().lower()[:320]


async def authenticate_request(request: Request, email: str, password: str) -> UserRecord | None:
    """:func:`accounts.authenticate`, throttled by the app's :class:`SignInThrottle`.

    Raises:
        TooManyAttempts: Too many failures for this address or account (429).
        RetryLater: The hashing pool is full (503); the attempt does not count.
    """
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    account = _account_key(email)
    address = request.client.host if request.client is not None else "unknown"
    throttle.take(account, address)
    user = None
    try:
        user = await accounts.authenticate(email, password)
    except RetryLater:
        throttle.give_back(account, address)
        raise
    if user is not None:
        throttle.give_back(account, address)
    return user
