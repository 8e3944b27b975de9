"""FakeDiscord's users: the slash commands, clicks, modal submits and messages tests cause."""

from __future__ import annotations

import copy
import secrets
from typing import TYPE_CHECKING, Any

from tests.fakes.discord_payloads import (
    EVERYONE_PERMISSIONS,
    JSON,
    MESSAGE_DEFAULT,
    MESSAGE_REPLY,
    make_message,
    mentioned_ids,
    partial_member,
)
from tests.fakes.fake_messages import FakeMessages
from tests.fakes.fake_records import FakeInteraction, Session, dumps

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


def _custom_ids(components: list[JSON]) -> set[str]:
    found: set[str] = set()
    for comp in components:
        if "custom_id" in comp:
            found.add(str(comp["custom_id"]))
        for key in ("components", "accessory", "component"):
            child = comp.get(key)
            if isinstance(child, list):
                found |= _custom_ids(child)
            elif isinstance(child, dict):
                found |= _custom_ids([child])
    return found


def _submit_component(comp: JSON, values: dict[str, Any], counter: Iterator[int]) -> JSON:
    """One component of a modal-submit payload, mirroring the modal the bot sent."""
    ctype = int(comp["type"])
    cid = comp.get("id") or next(counter)
    if ctype == 1:  # ActionRow (legacy modal layout)
        return {"type": 1, "id": cid, "components": [_submit_component(c, values, counter) for c in comp["components"]]}
    if ctype == 18:  # Label (discord.py 2.6+): {"component": <input>}
        return {"type": 18, "id": cid, "component": _submit_component(comp["component"], values, counter)}
    if ctype == 10:  # TextDisplay
        return {"type": 10, "id": cid, "content": comp.get("content", "")}
    custom_id = str(comp.get("custom_id"))
    out: JSON = {"type": ctype, "id": cid, "custom_id": custom_id}
    given = values.pop(custom_id, None)
    if ctype == 4:  # TextInput
        out["value"] = str(given) if given is not None else str(comp.get("value") or "")
    elif ctype == 21:  # RadioGroup
        out["value"] = given
    elif ctype == 23:  # Checkbox
        out["value"] = bool(given)
    else:  # selects (3, 5-8), file upload (19), checkbox group (22)
        out["values"] = [str(v) for v in given] if given is not None else []
    return out


class FakeUsers(FakeMessages):
    """Events the "users" cause (a part of FakeDiscord)."""

    # ------------------------------------------------------------------ events the "users" cause

    async def set_bot_channel_permissions(self, channel_id: str | int, *, allow: int = 0, deny: int = 0) -> JSON:
        """An admin gives the bot its own overwrite in a guild channel (replacing any earlier one); returns the channel.

        Interactions from the channel then carry the resulting ``app_permissions``, bot-token message routes
        there enforce them, and a connected bot gets CHANNEL_UPDATE so its cache agrees.
        """
        channel = self._channels[str(channel_id)]
        if channel.get("guild_id") is None:
            raise ValueError("permission overwrites exist only in guild channels")
        bot_id = self.bot_user["id"]
        overwrites = [o for o in channel["permission_overwrites"] if o["id"] != bot_id]
        overwrites.append({"id": bot_id, "type": 1, "allow": str(allow), "deny": str(deny)})
        channel["permission_overwrites"] = overwrites
        if self._sessions:
            await self.dispatch("CHANNEL_UPDATE", copy.deepcopy(channel))
        return channel

    async def send_message(
        self,
        content: str,
        *,
        author: JSON | None = None,
        channel_id: str | None = None,
        mentions: list[JSON] | None = None,
        attachments: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
        components: list[JSON] | None = None,
        message_reference: JSON | None = None,
        referenced_message: JSON | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        """A user posts a message: stored (REST GET finds it) and dispatched as MESSAGE_CREATE.
        ``mentions`` defaults to the known users ``<@id>``-mentioned in ``content``; ``reply_to`` (a
        message dict) is shorthand for ``message_reference`` + ``referenced_message``."""
        author = author or self.member_user
        cid = str(channel_id or (reply_to["channel_id"] if reply_to else self.channel_id))
        channel = self._channels.get(cid)
        if channel is None:
            raise KeyError(f"unknown channel {cid}")
        if reply_to is not None:
            message_reference = {"type": 0, "message_id": reply_to["id"], "channel_id": reply_to["channel_id"]}
            referenced_message = reply_to
        if mentions is None:
            mentions = [self._users[uid] for uid in mentioned_ids(content) if uid in self._users]
        msg = make_message(
            self.snowflake(),
            cid,
            author,
            content,
            message_type=MESSAGE_REPLY if message_reference else MESSAGE_DEFAULT,
            mentions=mentions,
            attachments=attachments,
            embeds=embeds,
            components=components,
        )
        if message_reference is not None:
            ref = {k: str(v) if k.endswith("_id") else v for k, v in message_reference.items()}
            ref.setdefault("type", 0)
            ref.setdefault("channel_id", cid)
            if channel.get("guild_id"):
                ref.setdefault("guild_id", channel["guild_id"])
            msg["message_reference"] = ref
            if referenced_message is None:
                referenced_message = self._messages.get(str(ref.get("message_id")))
            msg["referenced_message"] = copy.deepcopy(referenced_message)
        self._messages[msg["id"]] = msg
        channel["last_message_id"] = msg["id"]
        await self.dispatch("MESSAGE_CREATE", self.gateway_message(msg))
        return msg

    async def delete_message(self, message_id: str | int) -> None:
        """Someone (the member, a moderator) deletes a message: gone from REST, MESSAGE_DELETE to the bot."""
        msg = self._messages[str(message_id)]
        self._delete_message(msg)
        await self._echo("MESSAGE_DELETE", msg)

    def _new_interaction(
        self,
        itype: int,
        data: JSON,
        *,
        user: JSON | None,
        channel_id: str | None,
        dm: bool,
        message: JSON | None = None,
    ) -> FakeInteraction:
        user = user or self.member_user
        self._register_user(user)
        iid = self.snowflake()
        token = f"fake-interaction-{secrets.token_hex(24)}"
        payload: JSON = {
            "id": iid,
            "application_id": self.application_id,
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": self.user_locales.get(str(user["id"]), "en-US"),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.upload_limit,
        }
        guild_id: str | None = None
        if dm:
            channel = self.dm_channel(user)
            payload.update(
                channel_id=channel["id"],
                channel=copy.deepcopy(channel),
                user=copy.deepcopy(user),
                context=1,
                authorizing_integration_owners={"0": "0"},
                app_permissions=str(EVERYONE_PERMISSIONS),
            )
        else:
            channel = self._channels[str(channel_id or self.channel_id)]
            guild_id = channel["guild_id"]
            member = self._members.get((guild_id, user["id"])) or self.add_member(user, guild_id=guild_id)
            perms = str(self.channel_permissions(user["id"], channel["id"]))
            payload.update(
                guild_id=guild_id,
                guild={"id": guild_id, "locale": "en-US", "features": []},
                guild_locale="en-US",
                channel_id=channel["id"],
                channel={**copy.deepcopy(channel), "permissions": perms},
                member={**copy.deepcopy(member), "permissions": perms},
                context=0,
                authorizing_integration_owners={"0": guild_id},
                app_permissions=str(self.channel_permissions(self.bot_user["id"], channel["id"])),
            )
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        interaction = FakeInteraction(
            id=iid,
            token=token,
            application_id=self.application_id,
            type=itype,
            channel_id=channel["id"],
            guild_id=guild_id,
            user=user,
            payload=payload,
            message_id=message["id"] if message is not None else None,
            command_type=data.get("type") if itype == 2 else None,
        )
        self._interactions_by_id[iid] = interaction
        self._interactions_by_token[token] = interaction
        return interaction

    async def _send_interaction(self, interaction: FakeInteraction) -> FakeInteraction:
        interaction.sent_at = self.now()  # Discord's 3-second ACK clock starts when it sends the event
        interaction.shards = [session.shard[0] for session in self._owners(interaction.guild_id)]
        await self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    async def send_at_once(self, interactions: Sequence[FakeInteraction]) -> None:
        """Send built interactions (:meth:`make_slash_command`) as one burst: every frame is made first, then all
        are written back to back (the event loop runs nothing in between unless the socket's buffer is full), so
        they reach the bot together however busy this process is; sent one by one, a burst's spread depends on how
        fast the fake gets through it."""
        event = "INTERACTION_CREATE"
        async with self._gw_lock:
            frames: list[tuple[FakeInteraction, Session, str]] = []
            for interaction in interactions:
                owners = self._owners(interaction.guild_id)
                interaction.shards = [session.shard[0] for session in owners]
                if not owners:
                    interaction.sent_at = self.now()
                    self.undelivered.append({"t": event, "d": copy.deepcopy(interaction.payload)})
                for session in owners:
                    data = self._gate_event(event, copy.deepcopy(interaction.payload), session)
                    frames.append((interaction, session, dumps(self._next_frame(session, event, data))))
            for interaction, session, text in frames:
                interaction.sent_at = self.now()  # Discord's 3-second ACK clock starts when it sends the event
                await self._send_to(session, text)
        await self._notify()

    def _command_ref(self, name: str, command_type: int, guild_id: str | None) -> tuple[str, str | None]:
        """(command id, data.guild_id) — from the synced commands when present (guild ones first)."""
        for scope in dict.fromkeys((guild_id, None)):
            for cmd in self._commands.get(scope, []):
                if cmd["name"] == name and int(cmd.get("type", 1)) == command_type:
                    return cmd["id"], scope
        key = (name, command_type)
        if key not in self._adhoc_command_ids:
            self._adhoc_command_ids[key] = self.snowflake()
        return self._adhoc_command_ids[key], None

    def _resolve_option(self, option: JSON, resolved: JSON, guild_id: str | None) -> JSON:
        opt = dict(option)
        value = opt.get("value")
        if "type" not in opt:
            if isinstance(value, dict) and "filename" in value:
                opt["type"] = 11
            elif isinstance(value, dict) and "username" in value:
                opt["type"] = 6
            elif isinstance(value, bool):
                opt["type"] = 5
            elif isinstance(value, int):
                opt["type"] = 4
            elif isinstance(value, float):
                opt["type"] = 10
            else:
                opt["type"] = 3
        otype = int(opt["type"])
        if otype in (1, 2):
            opt["options"] = [self._resolve_option(o, resolved, guild_id) for o in opt.get("options", [])]
            return opt
        if otype == 11:
            attachment = value if isinstance(value, dict) else self._attachments.get(str(value))
            if attachment is None:
                raise KeyError(f"unknown attachment {value!r} (use fake.add_attachment)")
            opt["value"] = attachment["id"]
            resolved.setdefault("attachments", {})[attachment["id"]] = copy.deepcopy(attachment)
        elif otype in (6, 9) and (isinstance(value, dict) or str(value) in self._users):
            user = value if isinstance(value, dict) else self._users[str(value)]
            opt["value"] = user["id"]
            resolved.setdefault("users", {})[user["id"]] = copy.deepcopy(user)
            member = self._members.get((guild_id, user["id"])) if guild_id else None
            if member is not None:
                perms = str(self.permissions(user["id"], guild_id))
                resolved.setdefault("members", {})[user["id"]] = {**partial_member(member), "permissions": perms}
        elif otype == 7 and str(value) in self._channels:
            channel = self._channels[str(value)]
            opt["value"] = channel["id"]
            resolved.setdefault("channels", {})[channel["id"]] = {**copy.deepcopy(channel), "permissions": "0"}
        return opt

    async def send_slash_command(
        self,
        name: str,
        options: list[JSON] | None = None,
        *,
        user: JSON | None = None,
        channel_id: str | None = None,
        resolved: JSON | None = None,
        guild_id: str | None = None,
        dm: bool = False,
    ) -> FakeInteraction:
        """INTERACTION_CREATE for ``/name`` (``"group sub"`` / ``"group subgroup sub"`` for subcommands).

        Options are raw option dicts; ``type`` is inferred when missing, and a ``value`` that is an
        attachment dict (``add_attachment``) or user dict is put into ``data.resolved`` automatically.
        Guild interaction by default (``channel_id`` or ``guild_id``'s first channel); ``dm=True`` for a bot DM."""
        interaction = self.make_slash_command(
            name, options, user=user, channel_id=channel_id, resolved=resolved, guild_id=guild_id, dm=dm
        )
        return await self._send_interaction(interaction)

    def make_slash_command(
        self,
        name: str,
        options: list[JSON] | None = None,
        *,
        user: JSON | None = None,
        channel_id: str | None = None,
        resolved: JSON | None = None,
        guild_id: str | None = None,
        dm: bool = False,
    ) -> FakeInteraction:
        """The interaction :meth:`send_slash_command` would send, built but not sent (see :meth:`send_at_once`)."""
        if channel_id is None and guild_id is not None:
            channel_id = self._guilds[str(guild_id)]["channel_ids"][0]
        guild_id = None if dm else self._channels[str(channel_id or self.channel_id)]["guild_id"]
        root, *path = name.split()
        command_id, command_guild = self._command_ref(root, 1, guild_id)
        res: JSON = copy.deepcopy(resolved) if resolved else {}
        opts = [self._resolve_option(o, res, guild_id) for o in options or []]
        if len(path) == 2:
            opts = [{"name": path[0], "type": 2, "options": [{"name": path[1], "type": 1, "options": opts}]}]
        elif len(path) == 1:
            opts = [{"name": path[0], "type": 1, "options": opts}]
        data: JSON = {"id": command_id, "name": root, "type": 1, "options": opts}
        if res:
            data["resolved"] = res
        if command_guild is not None:
            data["guild_id"] = command_guild
        return self._new_interaction(2, data, user=user, channel_id=channel_id, dm=dm)

    async def send_message_command(
        self, name: str, target_message: JSON, *, user: JSON | None = None
    ) -> FakeInteraction:
        """Message context-menu command (data.type 3) on ``target_message``."""
        target = self._messages.get(target_message["id"], target_message)
        channel = self._channels[target["channel_id"]]
        guild_id = channel.get("guild_id")
        command_id, command_guild = self._command_ref(name, 3, guild_id)
        resolved_message = self.gateway_message(target)
        resolved_message.pop("guild_id", None)
        data: JSON = {
            "id": command_id,
            "name": name,
            "type": 3,
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: resolved_message}},
        }
        if command_guild is not None:
            data["guild_id"] = command_guild
        interaction = self._new_interaction(2, data, user=user, channel_id=target["channel_id"], dm=guild_id is None)
        return await self._send_interaction(interaction)

    async def send_user_command(self, name: str, target_user: JSON, *, user: JSON | None = None) -> FakeInteraction:
        """User context-menu command (data.type 2) on ``target_user``."""
        command_id, command_guild = self._command_ref(name, 2, self.guild_id)
        res: JSON = {}
        self._resolve_option({"name": "target", "type": 6, "value": target_user}, res, self.guild_id)
        data: JSON = {"id": command_id, "name": name, "type": 2, "target_id": target_user["id"], "resolved": res}
        if command_guild is not None:
            data["guild_id"] = command_guild
        return await self._send_interaction(self._new_interaction(2, data, user=user, channel_id=None, dm=False))

    async def send_component_click(
        self,
        custom_id: str,
        *,
        message: JSON,
        user: JSON | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
    ) -> FakeInteraction:
        """A button click (component_type 2) or select (3/5/6/7/8 with ``values``) on ``message``
        (the fake's current copy of it is used)."""
        current = self._messages.get(message["id"], message)
        if current.get("components") and custom_id not in _custom_ids(current["components"]):
            raise ValueError(f"message {current['id']} has no component with custom_id {custom_id!r}")
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        if values is not None or component_type != 2:
            data["values"] = list(values or [])
        channel = self._channels[current["channel_id"]]
        interaction = self._new_interaction(
            3,
            data,
            user=user,
            channel_id=current["channel_id"],
            dm=channel["type"] == 1,
            message=current,
        )
        return await self._send_interaction(interaction)

    async def send_modal_submit(
        self,
        custom_id: str,
        values: dict[str, Any],
        *,
        user: JSON | None = None,
        message: JSON | None = None,
        channel_id: str | None = None,
    ) -> FakeInteraction:
        """Submit a modal. When the bot opened a modal with this custom_id (type 9 callback), the submitted
        components mirror its layout (Label type 18 -> ``component``, ActionRow type 1 -> ``components``), the
        channel/user default to the opening interaction's and, if it was a component click, its message is
        attached; otherwise each value becomes an ActionRow with a TextInput. ``values``: custom_id -> str
        (text inputs) or list[str] (selects); unknown custom_ids raise ValueError."""
        modal = self._modals.get(custom_id)
        remaining = dict(values)
        if modal is None:
            components: list[JSON] = [
                {"type": 1, "components": [{"type": 4, "custom_id": k, "value": str(v)}]} for k, v in values.items()
            ]
            remaining.clear()
        else:
            counter = iter(range(1, 1000))
            components = [_submit_component(c, remaining, counter) for c in modal.get("components", [])]
        if remaining:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(remaining)}")
        data: JSON = {"custom_id": custom_id, "components": components}
        origin = self._modal_origins.get(custom_id)
        if origin is not None:
            user = user or origin.user
            if message is None and origin.message_id is not None:
                message = self._messages.get(origin.message_id)  # opened from a component: Discord includes it
        current = self._messages.get(message["id"], message) if message is not None else None
        if channel_id is None:
            channel_id = current["channel_id"] if current else origin.channel_id if origin else self.channel_id
        cid = str(channel_id)
        interaction = self._new_interaction(
            5, data, user=user, channel_id=cid, dm=self._channels[cid]["type"] == 1, message=current
        )
        interaction.triggered_by = origin
        return await self._send_interaction(interaction)
