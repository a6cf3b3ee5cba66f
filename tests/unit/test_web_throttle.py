"""Sign-in throttling (token buckets) and the bounded argon2 pool, without a database."""

from __future__ import annotations

import asyncio
import threading

import pytest

from glossator.web._throttle import (
    PER_ACCOUNT,
    PER_ACCOUNT_AND_ADDRESS,
    PER_ADDRESS,
    BucketRule,
    SignInThrottle,
    TooManyAttempts,
)
from glossator.web.accounts import HashingPool, RetryLater


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail_until_refused(throttle: SignInThrottle, account: str, address: str) -> int:
    """Take tokens until the throttle refuses; return how many attempts went through."""
    for taken in range(1000):
        try:
            throttle.take(account, address)
        except TooManyAttempts:
            return taken
    raise AssertionError("never throttled")


class TestBuckets:
    def test_one_address_guessing_one_account_is_stopped_after_five(self) -> None:
        """The sixth failure in a row from one address for one account gets 429 and a wait."""
        clock = FakeClock()
        throttle = SignInThrottle(clock=clock)
        assert _fail_until_refused(throttle, "ada@example.org", "203.0.113.9") == 5
        with pytest.raises(TooManyAttempts) as refused:
            throttle.take("ada@example.org", "203.0.113.9")
        assert refused.value.status == 429
        assert 1 <= refused.value.retry_after <= PER_ACCOUNT_AND_ADDRESS.refill_seconds

    def test_the_wait_is_honest(self) -> None:
        """After Retry-After seconds one more attempt is allowed, and only one."""
        clock = FakeClock()
        throttle = SignInThrottle(clock=clock)
        _fail_until_refused(throttle, "ada@example.org", "203.0.113.9")
        with pytest.raises(TooManyAttempts) as refused:
            throttle.take("ada@example.org", "203.0.113.9")
        clock.now += refused.value.retry_after
        throttle.take("ada@example.org", "203.0.113.9")
        with pytest.raises(TooManyAttempts):
            throttle.take("ada@example.org", "203.0.113.9")

    def test_successes_do_not_count(self) -> None:
        """Tokens of an attempt that succeeded are given back: a user signing in often is fine."""
        throttle = SignInThrottle(clock=FakeClock())
        for _ in range(100):
            throttle.take("ada@example.org", "198.51.100.7")
            throttle.give_back("ada@example.org", "198.51.100.7")
        # After a hundred successes the full allowance of failures is still there.
        assert _fail_until_refused(throttle, "ada@example.org", "198.51.100.7") == 5

    def test_another_address_is_not_stopped_by_one_address_guessing(self) -> None:
        """The victim at their own address still gets attempts while an attacker is throttled."""
        throttle = SignInThrottle(clock=FakeClock())
        assert _fail_until_refused(throttle, "ada@example.org", "203.0.113.9") == 5
        # From their own address the victim still has the whole per-pair allowance.
        assert _fail_until_refused(throttle, "ada@example.org", "198.51.100.7") == 5

    def test_one_address_spraying_many_accounts_is_stopped(self) -> None:
        """Across accounts, one address gets PER_ADDRESS.capacity failures, then 429."""
        throttle = SignInThrottle(clock=FakeClock())
        for number in range(int(PER_ADDRESS.capacity)):
            throttle.take(f"user{number}@example.org", "203.0.113.9")
        with pytest.raises(TooManyAttempts):
            throttle.take("someone-else@example.org", "203.0.113.9")

    def test_many_addresses_guessing_one_account_are_stopped(self) -> None:
        """Across addresses, one account gets PER_ACCOUNT.capacity failures, then 429."""
        throttle = SignInThrottle(clock=FakeClock())
        for number in range(int(PER_ACCOUNT.capacity)):
            throttle.take("ada@example.org", f"10.0.{number // 256}.{number % 256}")
        with pytest.raises(TooManyAttempts):
            throttle.take("ada@example.org", "192.0.2.1")

    def test_a_refused_attempt_takes_nothing(self) -> None:
        """When one bucket is empty, the others keep their tokens."""
        throttle = SignInThrottle(
            account_and_address=BucketRule(1, 60), address=BucketRule(2, 60), clock=FakeClock()
        )
        throttle.take("ada@example.org", "203.0.113.9")
        for _ in range(5):
            with pytest.raises(TooManyAttempts):
                throttle.take("ada@example.org", "203.0.113.9")
        throttle.take("bob@example.org", "203.0.113.9")  # the address bucket still had one


class TestHashingPool:
    async def test_a_full_pool_refuses_with_503_instead_of_queueing(self) -> None:
        """With ``queue_limit`` hashes waiting or running, one more is refused at once."""
        pool = HashingPool(workers=1, queue_limit=3)
        release = threading.Event()
        running = [asyncio.ensure_future(pool.run(release.wait)) for _ in range(3)]
        try:
            await asyncio.sleep(0)  # let the three enter the pool
            assert pool.pending == 3
            with pytest.raises(RetryLater) as refused:
                await pool.run(release.wait)
            assert refused.value.status == 503
            assert refused.value.retry_after >= 1
        finally:
            release.set()
            await asyncio.gather(*running)
        assert pool.pending == 0
        assert await pool.run(str.upper, "free again") == "FREE AGAIN"

    async def test_no_more_than_workers_hashes_run_at_once(self) -> None:
        """Eight calls on a two-thread pool: never more than two at the same time."""
        pool = HashingPool(workers=2, queue_limit=16)
        lock = threading.Lock()
        running = peak = 0

        def work(_: str) -> None:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            threading.Event().wait(0.02)
            with lock:
                running -= 1

        await asyncio.gather(*(pool.run(work, "x") for _ in range(8)))
        assert peak <= 2
        assert pool.started == 8
