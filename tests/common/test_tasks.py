import asyncio
import logging

from common.tasks import Tasks


async def test_a_failing_task_is_logged_counted_restarted_and_marks_the_service_not_ready(
        caplog):
    tasks = Tasks(logging.getLogger("test"), first_delay_s=0.2)
    runs = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError(f"boom {len(runs)}")
        await asyncio.sleep(3600)

    keeper = asyncio.create_task(tasks.keep("writer", flaky))
    await asyncio.sleep(0.05)
    assert tasks.failures["writer"] == 1 and not tasks.ready
    while len(runs) < 3:
        await asyncio.sleep(0.02)
    assert tasks.failures["writer"] == 2 and tasks.ready
    assert "task writer failed (1 so far)" in caplog.text and "RuntimeError: boom 1" in caplog.text
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)


async def test_a_task_that_returns_is_done_and_one_not_vital_never_blocks_readiness():
    tasks = Tasks(logging.getLogger("test"), first_delay_s=10)

    async def fails() -> None:
        raise ValueError("x")

    keeper = asyncio.create_task(tasks.keep("retention", fails, vital=False))
    await asyncio.sleep(0.05)
    assert tasks.failures["retention"] == 1 and tasks.ready
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)

    async def done() -> None:
        return None

    await tasks.keep("once", done)
    assert tasks.failures["once"] == 0
