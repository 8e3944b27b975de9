"""The limits JobRunner's creations are checked against, in SQL: one definition for every form the store sends.

A creation is checked against the owner's spend cap (the reAPI cost of the jobs not yet sent plus that of the jobs
sent since the cap's day began that reAPI may have charged for) and the queue limits (jobs waiting, in all and per
member), while holding the creations lock, so that two creations never both see room for one more job.
"""

from __future__ import annotations

__all__ = ["CREATIONS_LOCK", "SPENT", "WAITING"]

# PostgreSQL advisory lock key taken by every limited creation (beside the migrations' 0x1A6E_B07).
CREATIONS_LOCK = 0x1A6E_B08
# The millicredits counted against the cap; one parameter: the cap's day start. The jobs not yet sent and the
# charged ones are disjoint (NULL vs. a time), so they are summed apart: each set then has an index of its own
# (jobs_claim, and the partial jobs_submit_started, which holds no row whose submit_started_at is NULL).
SPENT = (
    "(SELECT COALESCE(SUM(reapi_millicredits), 0) FROM jobs "
    "WHERE submit_started_at IS NULL AND state NOT IN ('delivered', 'failed')) + "
    "(SELECT COALESCE(SUM(reapi_millicredits), 0) FROM jobs WHERE submit_started_at >= ? AND charged = 1)"
)
WAITING = "SELECT COUNT(*) FROM jobs WHERE state = 'queued'"
