"""traffic: Discord REST calls per job over its whole life, identical edits and 429s, against the floor.

The simulator takes a few seconds per image and the bot runs with its default polling and progress intervals, so
progress edits have time to happen. Targets (issue 12): ≤ 5 REST calls per job, no identical edit, no 429.
"""

from __future__ import annotations

import re

from bench.harness import Check, Result, World, mean, settled

__all__ = ["run"]

MAX_CALLS_PER_JOB = 5.0
_CHANNEL_MESSAGES = re.compile(r"/channels/\d+/messages(?:/\d+)?")


async def run(*, smoke: bool) -> Result:
    """Floor first, then the bot on ``count`` jobs, one per member, all dispatched at once."""
    count = 6 if smoke else 24
    delay = 1.0 if smoke else 5.0
    result = Result("traffic")
    async with World(sim_delay=delay) as world:
        async with world.floor_bot():
            floor_inters = await world.imagine(world.new_users(count))
            await world.callbacks(floor_inters, timeout=30)
            await world.floor_posts(floor_inters, timeout=30)
        by_token = world.requests_by_token()
        floor_calls = [len(by_token[i.token]) for i in floor_inters]
        first_bot_request = len(world.fake.requests)
        settings = world.settings("traffic", max_queued=max(500, count))
        async with world.imagine_bot(settings) as bot:
            inters = await world.imagine(world.new_users(count))
            await world.callbacks(inters, timeout=30)
            await world.outcomes(inters, timeout=30 + count * delay)
            await settled(bot, timeout=30)
        by_token = world.requests_by_token()
        calls = [len(by_token.get(i.token, [])) for i in inters]
        identical = 0
        for inter in inters:
            last: dict[str, object] = {}
            for request in by_token.get(inter.token, []):
                if request.method != "PATCH":
                    continue
                body = {"json": request.json, "files": [f.data for f in request.files]}
                if last.get(request.path) == body:
                    identical += 1
                last[request.path] = body
        bot_requests = world.fake.requests[first_bot_request:]
        throttled = sum(1 for r in bot_requests if r.status == 429)
        unattributed = sum(1 for r in bot_requests if _CHANNEL_MESSAGES.fullmatch(r.path))
    per_job = mean(calls)
    floor_per_job = mean(floor_calls)
    result.figures = {
        "jobs": f"{count}, simulator {delay:.0f} s per image, default [jobs] intervals",
        "bot REST calls per job (mean / max)": f"{per_job:.2f} / {max(calls)}",
        "floor REST calls per job": f"{floor_per_job:.2f}",
        "identical edits": str(identical),
        "429 answers": str(throttled),
        "channel-message calls not tied to an interaction": str(unattributed),
    }
    result.floor_ratio, result.floor_ratio_of = per_job / floor_per_job, "REST calls per job"
    result.checks += [
        Check("REST calls per job (max over jobs)", float(max(calls)), MAX_CALLS_PER_JOB),
        Check("identical edits", float(identical), 0),
        Check("429 answers", float(throttled), 0),
    ]
    result.notes.append(
        "the fake Discord answers 429 only when a test injects one (it has no rate limiter), so the 429 count"
        " shows the bot never needed a retry here, not that it stays under Discord's real limits"
    )
    return result
