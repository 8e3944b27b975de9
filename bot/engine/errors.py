"""The engine's refusals: why a member's request was turned down, as fields, never as sentences.

Every refusal means nothing was stored or charged. The Discord surface words them (``bot.surface.ui``), so the
engine's decisions can be logged as data, shown in another language, or tested without their wording.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.reapi.specs import OptionProblem

__all__ = [
    "Banned",
    "CooldownActive",
    "FetchFailure",
    "InsufficientCredits",
    "InvalidOptions",
    "MemberPaused",
    "ModelRefused",
    "ModelUnavailable",
    "NsfwNotAllowed",
    "QueueFull",
    "ReapiPaused",
    "Refusal",
    "SettingProblem",
    "SettingRejected",
    "SourceProblem",
    "SourceRefused",
    "SpendCapReached",
    "TermBlocked",
    "UnavailableHere",
]


class Refusal(Exception):
    """The engine refused a member's request; nothing was stored or charged."""

    def __init__(self, **facts: Any) -> None:
        super().__init__(", ".join(f"{k}={v!r}" for k, v in facts.items()) or type(self).__name__)
        self.facts = facts


class Banned(Refusal):
    """An admin banned the member from creating images, in ``scope`` ('global' or 'guild:<id>')."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope=scope)
        self.scope = scope


class InsufficientCredits(Refusal):
    """The member's spendable ``balance`` is below the ``cost``; credits come back at ``next_refill_at``."""

    def __init__(self, *, balance: int, cost: int, next_refill_at: float) -> None:
        super().__init__(balance=balance, cost=cost, next_refill_at=next_refill_at)
        self.balance = balance
        self.cost = cost
        self.next_refill_at = next_refill_at


class QueueFull(Refusal):
    """``limit`` jobs already wait: the member's own (``per_user``) or everyone's."""

    def __init__(self, *, limit: int, per_user: bool) -> None:
        super().__init__(limit=limit, per_user=per_user)
        self.limit = limit
        self.per_user = per_user


class SpendCapReached(Refusal):
    """The owner's daily reAPI budget is used up until ``reset_at`` (midnight UTC)."""

    def __init__(self, *, reset_at: float) -> None:
        super().__init__(reset_at=reset_at)
        self.reset_at = reset_at


class ReapiPaused(Refusal):
    """reAPI refused the bot (``reason`` "402": out of credits, "401": key refused); paused until ``until``."""

    def __init__(self, *, until: float, reason: str) -> None:
        super().__init__(until=until, reason=reason)
        self.until = until
        self.reason = reason


class CooldownActive(Refusal):
    """The member started jobs too quickly (``jobs.cooldown_*``); they may start another at ``retry_at``."""

    def __init__(self, retry_at: float) -> None:
        super().__init__(retry_at=retry_at)
        self.retry_at = retry_at


class InvalidOptions(Refusal):
    """The job's options cannot make a valid reAPI request (e.g. an aspect ratio reAPI does not know)."""


class SourceProblem(StrEnum):
    """Why an image given to /edit (or a link to one) cannot be used."""

    URL_TOO_LONG = "url_too_long"  # facts: url, length, limit
    NOT_A_URL = "not_a_url"  # url
    BAD_SCHEME = "bad_scheme"  # url, scheme
    CREDENTIALS = "credentials"  # url
    NO_HOST = "no_host"  # url
    LOCALHOST = "localhost"  # url
    PRIVATE_ADDRESS = "private_address"  # url
    NO_IMAGES = "no_images"
    TOO_MANY = "too_many"  # count, limit
    WRONG_TYPE = "wrong_type"  # image, declared
    TOO_LARGE = "too_large"  # image, size (bytes), limit (bytes)
    LARGER_THAN = "larger_than"  # image, limit (bytes): the download passed the cap
    NOT_AN_IMAGE = "not_an_image"  # image
    HTTP_STATUS = "http_status"  # image, status
    UNREACHABLE = "unreachable"  # image, host, why (a FetchFailure value)
    TOO_MANY_REDIRECTS = "too_many_redirects"  # image


class FetchFailure(StrEnum):
    """Why an image link could not be fetched (the ``why`` fact of ``SourceProblem.UNREACHABLE``)."""

    TIMEOUT = "timeout"
    PRIVATE = "private"  # the name resolved to a private or reserved address
    DNS = "dns"
    CERTIFICATE = "certificate"
    UNREACHABLE = "unreachable"
    BROKEN = "broken"  # the connection broke off
    UNUSABLE = "unusable"  # the answer could not be read


class SourceRefused(Refusal):
    """An image source was refused; ``problem`` says why and ``facts`` hold what the sentence names."""

    def __init__(self, problem: SourceProblem, **facts: Any) -> None:
        super().__init__(problem=problem.value, **facts)
        self.problem = problem


# -- server settings and moderation (bot.engine.guild_settings, bot.engine.moderation) -----------------------


class UnavailableHere(Refusal):
    """The server's admins do not allow the bot in this channel (``/settings channels``)."""


class TermBlocked(Refusal):
    """The prompt holds a blocked term; ``by_server``: the server's list, else the operator's.

    The term itself is deliberately not a fact: it must not be repeated back, not even in a log line.
    """

    def __init__(self, *, by_server: bool) -> None:
        super().__init__(by_server=by_server)
        self.by_server = by_server


class NsfwNotAllowed(Refusal):
    """The prompt looks NSFW and the server's rule (``rule``: an ``NsfwRule`` value) forbids it here."""

    def __init__(self, *, rule: str) -> None:
        super().__init__(rule=rule)
        self.rule = rule


class MemberPaused(Refusal):
    """The member reached ``strikes`` content-policy failures today and may create images again at ``until``."""

    def __init__(self, *, strikes: int, until: float) -> None:
        super().__init__(strikes=strikes, until=until)
        self.strikes = strikes
        self.until = until


class SettingProblem(StrEnum):
    """Why a server setting was refused (``/settings``)."""

    TERM_EMPTY = "term_empty"
    TERM_TOO_LONG = "term_too_long"  # limit
    TERM_CHARACTERS = "term_characters"
    TERM_TOO_SHORT = "term_too_short"
    TOO_MANY_TERMS = "too_many_terms"  # limit
    TERM_NOT_LISTED = "term_not_listed"
    TOO_MANY_CHANNELS = "too_many_channels"  # limit
    UNKNOWN_MODEL = "unknown_model"  # allowed (comma-separated)
    UNKNOWN_ASPECT_RATIO = "unknown_aspect_ratio"  # allowed
    COST_OUT_OF_RANGE = "cost_out_of_range"  # low, high
    ALLOWANCE_OUT_OF_RANGE = "allowance_out_of_range"  # high
    UNKNOWN_CHOICE = "unknown_choice"  # allowed
    NOTHING_TO_CHANGE = "nothing_to_change"
    BUSY = "busy"  # other admins kept changing the settings at the same moment


class SettingRejected(Refusal):
    """A ``/settings`` change was refused; ``problem`` says why and ``facts`` hold what the sentence names."""

    def __init__(self, problem: SettingProblem, **facts: Any) -> None:
        super().__init__(problem=problem.value, **facts)
        self.problem = problem


class ModelUnavailable(Refusal):
    """``model`` is not one of the models the operator enabled (``allowed``, the default first)."""

    def __init__(self, *, model: str, allowed: tuple[str, ...]) -> None:
        super().__init__(model=model, allowed=allowed)
        self.model = model
        self.allowed = allowed


class ModelRefused(InvalidOptions):
    """The job's model would refuse it: ``problem`` (a ``bot.reapi.specs.OptionProblem``) says what and why."""

    def __init__(self, problem: OptionProblem) -> None:
        super().__init__(kind=problem.kind.value, model=problem.model, given=problem.given)
        self.problem = problem
