"""`imagine-bot ledger check` (the real console entry point) against the database of a real end-to-end run."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.reapi.simulator import Outcome
from bot.store import open_store
from tests.e2e.conftest import stop_bot
from tests.e2e.test_credits import settled
from tests.e2e.test_imagine import final_edit, imagine
from tests.store.conftest import sql_execute

if TYPE_CHECKING:
    from pathlib import Path

    from bot.config import Settings
    from bot.reapi.simulator import ReapiSimulator
    from bot.surface.app import ImagineBot
    from tests.fakes.fake_discord import FakeDiscord

StartBot = Callable[..., Awaitable["ImagineBot"]]


async def cli(cwd: Path, *args: str) -> tuple[int, str]:
    """Run ``python -m bot ARGS`` (what the imagine-bot script runs); return (exit code, stdout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINEBOT_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_ledger_check_passes_after_a_real_run_and_fails_when_the_ledger_is_tampered_with(
    fake: FakeDiscord,
    sim: ReapiSimulator,
    start_bot: StartBot,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    settings = make_settings()
    bot = await start_bot(settings)
    await final_edit(fake, await imagine(fake, "a delivered image"), files=True)
    sim.next_outcomes.append(Outcome.fail())
    await final_edit(fake, await imagine(fake, "a refunded image"), files=False)
    await settled(bot)  # the failure is shown first, then refunded: let the refund land
    await stop_bot(bot)
    config = tmp_path / "ops.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n', encoding="utf-8")

    code, out = await cli(tmp_path, "ledger", "check", "--config", str(config))
    assert code == 0, out
    assert "1 accounts, 5 entries, 2 reservations (0 in flight)" in out
    assert out.splitlines()[-1].startswith("OK")

    tampering = [
        ("UPDATE accounts SET balance = balance + 1", "UPDATE accounts SET balance = balance - 1"),
        # A job's ledger entries are read from its row: the refunded job said delivered reads as captured.
        (
            "UPDATE jobs SET state = 'delivered' WHERE state = 'failed'",
            "UPDATE jobs SET state = 'failed' WHERE error_code IS NOT NULL",
        ),
    ]
    store = await open_store(settings.database.url)
    try:
        for corrupt, _ in tampering:
            await sql_execute(store, corrupt)
    finally:
        await store.close()
    code, out = await cli(tmp_path, "ledger", "check", "--config", str(config))
    assert code == 1, out
    assert "MISMATCH: 2 problem(s)" in out
    assert "balance 50 but the ledger sums to 48" in out
    assert "spent 1 but its delivered jobs cost 2" in out

    store = await open_store(settings.database.url)  # repaired, so the fixture's own check passes
    try:
        for _, repair in tampering:
            await sql_execute(store, repair)
    finally:
        await store.close()
