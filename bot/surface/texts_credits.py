"""Every sentence of /credits, /history and /admin: balances, allowances, the history's lines, grants, bans and
usage reports.

A sibling of ``bot.surface.texts`` under the same rule: builders elsewhere (``bot.surface.account_ui``, the cogs)
decide where the words go, never what they say.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine.credits import refill_time
from bot.surface.i18n import _, translate_module
from bot.surface.texts import credits_text
from bot.surface.texts_refusals import banned_where

__all__ = [
    "allowance_value",
    "at_utc",
    "balance_now",
    "balance_reset",
    "balance_set",
    "balance_value",
    "ban_result",
    "banned_note",
    "credits_of",
    "every",
    "granted",
    "history_page",
    "next_refill",
    "unban_result",
    "usage_day",
    "usage_spend",
    "usage_title",
    "usage_top",
    "usage_totals",
]


# -- /credits and /history ----------------------------------------------------------------------------------------

OTHERS_CREDITS_ADMIN_ONLY = "Only bot owners and server admins (Manage Server) can see other members' credits."
SOMEONE_ELSES_HISTORY = "This is someone else's history: use `/history`."
HISTORY_PREV = "Prev"
HISTORY_NEXT = "Next"
CREDITS_YOURS = "Your credits"
BALANCE = "Balance"
UNLIMITED = "Unlimited (bot owner)"
COST_PER_IMAGE = "Cost per image"
ALLOWANCE = "Allowance"
AT_CAP = "You are at the cap: refills add nothing until you spend."
NO_ALLOWANCE = "None here: credits come only from admins."
HISTORY_TITLE = "Your images"
HISTORY_EMPTY = "Nothing here yet: try `/imagine`."
HISTORY_PAST_END = "No more images: this is past the last page."
RESULT_LINK = "result"
RESULT_SHOWN_PRIVATELY = "shown only to you"  # an ephemeral result: Discord keeps no message anyone can link to
HISTORY_STATES = {"delivered": "delivered", "failed": "failed"}
_UNITS = (
    (604_800, "every week", "every {n} weeks"),
    (86_400, "every day", "every {n} days"),
    (3_600, "every hour", "every {n} hours"),
    (60, "every minute", "every {n} minutes"),
)


def credits_of(name: str) -> str:
    """The /credits title when an admin looks at someone else's."""
    return _("Credits of {name}").format(name=name)


def banned_note(scope: str) -> str:
    """The /credits line of a banned member."""
    return _("🚫 Banned from creating images {where}.").format(where=banned_where(scope))


def balance_value(balance: int, held: int, *, everywhere: bool) -> str:
    """The /credits balance field; ``held`` credits are reserved for images in progress."""
    where = _("everywhere") if everywhere else _("in this server")
    reserved = "\n" + _("{held} reserved for images in progress").format(held=credits_text(held)) if held else ""
    return _("**{balance}** ({where})").format(balance=credits_text(balance), where=where) + reserved


def every(seconds: float) -> str:
    """A refill period in words: 'every day', 'every 6 hours'."""
    for size, one, many in _UNITS:
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return _(one) if n == 1 else _(many).format(n=n)
    return _("every {seconds:g} seconds").format(seconds=seconds)


def at_utc(period: str, anchor: float) -> str:
    """A refill period anchored at a time of day."""
    start = datetime.fromtimestamp(anchor, UTC)
    return _("{period} at {time} UTC").format(period=period, time=f"{start:%H:%M}")


def allowance_value(allowance: int, schedule: str, cap: int) -> str:
    """The /credits allowance field's first line."""
    return _("+{allowance} {schedule}, up to {cap}").format(allowance=allowance, schedule=schedule, cap=cap)


def next_refill(at: float) -> str:
    """The /credits line saying when the next refill comes."""
    return _("Next refill {when}").format(when=refill_time(at))


def history_page(page: int) -> str:
    """The /history footer."""
    return _("Page {page}").format(page=page)


# -- /admin ------------------------------------------------------------------------------------------------------

ADMIN_ONLY = "Only bot owners and server admins (Manage Server) can use `/admin`."
OWNERS_CANNOT_BE_BANNED = "Bot owners cannot be banned."
BALANCES_SHARED = "Balances are shared by every server this bot is in, so only bot owners can change them."
NEED_MANAGE_SERVER_CREDITS = "You need the Manage Server permission here to change credits."
BAN_EVERYWHERE_OWNERS_ONLY = "Only bot owners can ban or unban everywhere."
NEED_MANAGE_SERVER_BANS = "You need the Manage Server permission here to ban or unban."


def granted(amount: int, mention: str) -> str:
    """/admin credits grant, done."""
    return _("Granted {amount} to {mention}.").format(amount=credits_text(amount), mention=mention)


def balance_set(mention: str) -> str:
    """/admin credits set, done."""
    return _("Set the balance of {mention}.").format(mention=mention)


def balance_reset(mention: str) -> str:
    """/admin credits reset, done."""
    return _("Reset the balance of {mention}.").format(mention=mention)


def balance_now(done: str, balance: int, *, everywhere: bool) -> str:
    """A balance change's answer: what was done, then the new balance."""
    now = _("Their balance is now {balance}.") if everywhere else _("Their balance in this server is now {balance}.")
    return f"{done} {now.format(balance=credits_text(balance))}"


def _ban_where(scope: str) -> str:
    return _("on this bot (every server and DMs)") if scope == "global" else _("in this server")


def ban_result(mention: str, scope: str, *, added: bool) -> str:
    """/admin ban, done (or nothing to do)."""
    where = _ban_where(scope)
    done = _("{mention} can no longer create images {where}.") if added else _("{mention} was already banned {where}.")
    return done.format(mention=mention, where=where)


def unban_result(mention: str, scope: str, *, removed: bool) -> str:
    """/admin unban, done (or nothing to do)."""
    where = _ban_where(scope)
    done = _("{mention} may create images {where} again.") if removed else _("{mention} was not banned {where}.")
    return done.format(mention=mention, where=where)


def usage_title(days: int, *, this_server: bool) -> str:
    """/admin usage title."""
    title = _("Usage, last {days} day") if days == 1 else _("Usage, last {days} days")
    return title.format(days=days) + (_(" (this server)") if this_server else "")


def usage_day(date: str, delivered: int, failed: int, credits: int, charged: int) -> str:
    """One day's line in /admin usage."""
    return _("`{date}` {delivered} delivered · {failed} failed · {credits} · {charged} sent to reAPI").format(
        date=date, delivered=delivered, failed=failed, credits=credits_text(credits), charged=charged
    )


def usage_top(n: int, user_id: int, delivered: int, credits: int) -> str:
    """One line of /admin usage's top members."""
    line = (
        _("{n}. <@{user_id}>: {delivered} image, {credits}")
        if delivered == 1
        else _("{n}. <@{user_id}>: {delivered} images, {credits}")
    )
    return line.format(n=n, user_id=user_id, delivered=delivered, credits=credits_text(credits))


def usage_totals(images: int, credits: int) -> str:
    """/admin usage totals field."""
    return _("{images} images, {credits}").format(images=images, credits=credits_text(credits))


def usage_spend(spent: int, cap: int, in_flight: int) -> str:
    """/admin usage, bot-wide: today's reAPI spend against the cap."""
    shown_cap = _("{cap:,} reAPI credits").format(cap=cap) if cap else _("no cap")
    value = _("{spent:,} spent today (UTC) of {cap}").format(spent=spent, cap=shown_cap)
    if in_flight:
        value += _(", {in_flight:,} more waiting").format(in_flight=in_flight)
    return value


NO_ACTIVITY = "No activity."
TOP_MEMBERS = "Top members"
NOBODY_YET = "Nobody yet."
TOTALS = "Totals"
WAITING = "Waiting to be sent"
REAPI_SPEND = "reAPI spend"


translate_module(__name__)
