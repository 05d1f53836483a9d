"""Background-task helpers: the shared tick that periodic work wakes on."""

from __future__ import annotations

import asyncio

import pytest

from coachiq.core import tasks
from coachiq.core.tasks import cancel_all, next_tick, sleep_aligned


async def test_next_tick_is_the_next_multiple_of_the_period() -> None:
    loop = asyncio.get_running_loop()
    before = loop.time()
    tick = next_tick(0.25)
    assert before < tick <= loop.time() + 0.25
    assert tick / 0.25 == pytest.approx(round(tick / 0.25), abs=1e-6)


async def test_loops_of_different_periods_wake_together_on_shared_ticks() -> None:
    loop = asyncio.get_running_loop()
    woken: dict[str, list[float]] = {"fast": [], "slow": []}

    async def every(name: str, period: float, times: int) -> None:
        for _ in range(times):
            await sleep_aligned(period)
            woken[name].append(loop.time())

    await asyncio.gather(every("fast", 0.05, 4), every("slow", 0.1, 2))
    # Each slow tick is also a fast tick, and both loops ran in the same pass of the event loop.
    for slow in woken["slow"]:
        assert any(abs(slow - fast) < 0.002 for fast in woken["fast"])


async def test_cancelling_an_aligned_sleep_leaves_no_timer_behind() -> None:
    task = asyncio.create_task(sleep_aligned(10.0))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    scheduled = [h for h in asyncio.get_running_loop()._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert not any(h.when() > asyncio.get_running_loop().time() + 5 for h in scheduled)


async def test_a_phase_shifts_the_ticks() -> None:
    loop = asyncio.get_running_loop()
    tick = next_tick(1.0, phase=0.25)
    assert loop.time() < tick <= loop.time() + 1.0
    assert (tick - 0.25) == pytest.approx(round(tick - 0.25), abs=1e-6)


async def test_cancel_all_cancels_again_a_task_that_lost_its_cancellation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "CANCEL_AGAIN_S", 0.05)
    swallowed = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.append(True)  # as some library code does
        await asyncio.sleep(3600)

    running = [asyncio.create_task(stubborn()), asyncio.create_task(asyncio.sleep(3600))]
    await asyncio.sleep(0)
    await cancel_all(running)
    assert swallowed == [True]
    assert running == []


async def test_cancel_all_logs_a_task_that_had_failed_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("broken")

    failed = asyncio.create_task(broken(), name="broken-task")
    other = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await cancel_all([failed, other])
    assert other.cancelled()
    assert "task broken-task had failed: broken" in caplog.text
