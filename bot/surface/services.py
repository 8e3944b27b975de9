"""The services the composition root (``bot.surface.app``) builds once and hands to cogs and components.

A module of its own so that components discord.py rebuilds from a click (buttons, modals) can reach them
through ``interaction.client.services`` without importing the bot class (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import discord

    from bot.config import Settings
    from bot.engine.accounts import Accounts
    from bot.engine.credits import CreditLedger
    from bot.engine.members import Preferences
    from bot.engine.ports import Alerts, Notifier
    from bot.engine.runner import JobRunner
    from bot.engine.server_rules import ServerRules
    from bot.engine.sources import SourceFetcher
    from bot.reapi import ReapiClient
    from bot.reapi.simulator import ReapiSimulator
    from bot.store import Store
    from bot.surface.channel_writes import ChannelWrites

__all__ = ["Services", "services_of"]


@dataclass(slots=True)
class Services:
    """Everything the cogs and dynamic items use, built once in setup_hook."""

    settings: Settings
    store: Store
    reapi: ReapiClient
    simulator: ReapiSimulator | None
    ledger: CreditLedger
    notifier: Notifier
    runner: JobRunner
    sources: SourceFetcher
    accounts: Accounts
    alerts: Alerts
    preferences: Preferences
    server_rules: ServerRules
    writes: ChannelWrites  # the per-channel budget of bot-token writes (bot.surface.channel_writes)

    @property
    def simulated(self) -> bool:
        """Whether results come from the built-in simulator."""
        return self.simulator is not None


def services_of(interaction: discord.Interaction[Any]) -> Services:
    """The services of the bot that received ``interaction`` (an ImagineBot)."""
    services: Services = interaction.client.services
    return services
