"""FakeDiscord's REST routes: each Discord endpoint the bot calls."""

from __future__ import annotations

import copy

from tests.fakes.discord_payloads import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    JSON,
    MESSAGE_CHAT_INPUT_COMMAND,
    MESSAGE_CONTEXT_MENU_COMMAND,
    MESSAGE_DEFAULT,
    READ_MESSAGE_HISTORY,
    error_body,
)
from tests.fakes.discord_rules import (
    command_errors,
    invalid_token,
    unknown_interaction,
)
from tests.fakes.fake_records import FakeInteraction, Reply, Req, not_found
from tests.fakes.fake_users import FakeUsers


class FakeRest(FakeUsers):
    """The REST handlers (a part of FakeDiscord)."""

    # ------------------------------------------------------------------ REST handlers

    async def _read_or_delete(self, msg: JSON, req: Req) -> Reply | None:
        """GET or DELETE of a stored message, alike on the webhook and the channel routes; None for an edit."""
        if req.method == "GET":
            # REST reads are subject to the MESSAGE_CONTENT rule just like gateway events.
            gated = copy.deepcopy(msg)
            if self.enforce_message_content_intent:
                in_guild = self._channels[msg["channel_id"]].get("guild_id") is not None
                self._gate_message(gated, in_guild=in_guild, intents=self.intents)
            return Reply(200, gated)
        if req.method == "DELETE":
            self._delete_message(msg)
            await self._echo("MESSAGE_DELETE", msg)
            return Reply(204)
        return None

    async def _r_no_content(self, req: Req) -> Reply:
        return Reply(204)

    async def _r_get_me(self, req: Req) -> Reply:
        return Reply(200, {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})

    async def _r_my_guilds(self, req: Req) -> Reply:
        """GET /users/@me/guilds: partial guilds the bot is a member of, with its guild-level permissions."""
        bot_id = self.bot_user["id"]
        guilds = [
            {
                "id": gid,
                "name": guild["name"],
                "icon": None,
                "owner": guild["owner_id"] == bot_id,
                "permissions": str(self.permissions(bot_id, gid)),
                "features": [],
            }
            for gid, guild in self._guilds.items()
            if (gid, bot_id) in self._members
        ]
        return Reply(200, guilds)

    async def _r_get_user(self, req: Req) -> Reply:
        user = self._users.get(req.params["user_id"])
        return Reply(200, user) if user else not_found("User", 10013)

    async def _r_create_dm(self, req: Req) -> Reply:
        user = self._users.get(str((req.json or {}).get("recipient_id")))
        if user is None:
            return not_found("User", 10013)
        return Reply(200, self.dm_channel(user))

    async def _r_get_application(self, req: Req) -> Reply:
        return Reply(200, {**self.application, "bot": self.bot_user})

    async def _r_get_gateway(self, req: Req) -> Reply:
        body: JSON = {"url": self.gateway_url}
        if req.path.endswith("/bot"):
            body["shards"] = 1
            body["session_start_limit"] = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return Reply(200, body)

    async def _r_put_commands(self, req: Req) -> Reply:
        if req.params["app_id"] != self.application_id:
            return not_found("Application", 10002)
        refused = command_errors(req.json)
        if refused is not None:
            return Reply(*refused)
        scope = req.params.get("guild_id")
        previous = {(c["name"], int(c.get("type", 1))): c["id"] for c in self._commands.get(scope, [])}
        stored: list[JSON] = []
        for cmd in req.json or []:
            ctype = int(cmd.get("type", 1))
            out = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **cmd,
                "id": previous.get((cmd["name"], ctype)) or self.snowflake(),
                "application_id": self.application_id,
                "version": self.snowflake(),
                "type": ctype,
            }
            if scope is not None:
                out["guild_id"] = scope
            stored.append(out)
        self._commands[scope] = stored
        return Reply(200, copy.deepcopy(stored))

    async def _r_get_commands(self, req: Req) -> Reply:
        return Reply(200, copy.deepcopy(self._commands.get(req.params.get("guild_id"), [])))

    async def _r_callback(self, req: Req) -> Reply:
        inter = self._interactions_by_id.get(req.params["interaction_id"])
        if inter is None or inter.token != req.params["token"]:
            return not_found("interaction", 10062)
        if inter.response_type is not None:
            return Reply(400, error_body("Interaction has already been acknowledged.", 40060))
        if inter.sent_at is not None and self.now() - inter.sent_at > self.ack_deadline:
            status, body = unknown_interaction()
            return Reply(status, body)
        payload = req.json or {}
        cb_type = int(payload.get("type", 0))
        data: JSON = payload.get("data") or {}
        if cb_type in (4, 7):
            refused = self._message_refusal(data, req.files, inter.upload_limit)
            if refused is not None:
                return refused
        inter.response_type = cb_type
        msg: JSON | None = None
        if cb_type in (4, 5):
            kind = MESSAGE_DEFAULT
            if inter.type == 2:
                kind = MESSAGE_CHAT_INPUT_COMMAND if inter.command_type == 1 else MESSAGE_CONTEXT_MENU_COMMAND
            if cb_type == 4:
                msg = self._create_bot_message(inter.channel_id, data, req.files, message_type=kind, interaction=inter)
            else:
                loading = {"content": "", "flags": int(data.get("flags") or 0) & FLAG_EPHEMERAL}
                msg = self._create_bot_message(
                    inter.channel_id, loading, [], message_type=kind, extra_flags=FLAG_LOADING, interaction=inter
                )
            inter.original_message_id = msg["id"]
            await self._echo("MESSAGE_CREATE", msg)
        elif cb_type in (6, 7) and inter.message_id is not None:
            inter.original_message_id = inter.message_id
            target = self._messages.get(inter.message_id)
            if cb_type == 7 and target is not None:
                msg = self._edit_message(target, data, req.files)
                await self._echo("MESSAGE_UPDATE", msg)
        elif cb_type == 9:
            inter.modal = copy.deepcopy(data)
            self._modals[str(data.get("custom_id"))] = inter.modal
            self._modal_origins[str(data.get("custom_id"))] = inter

        if req.query.get("with_response", "").lower() not in ("1", "true"):
            return Reply(204)
        interaction_info: JSON = {"id": inter.id, "type": inter.type}
        resource: JSON = {"type": cb_type}
        if msg is not None:
            interaction_info["response_message_id"] = msg["id"]
            interaction_info["response_message_loading"] = bool(msg["flags"] & FLAG_LOADING)
            interaction_info["response_message_ephemeral"] = bool(msg["flags"] & FLAG_EPHEMERAL)
            resource["message"] = copy.deepcopy(msg)
        return Reply(200, {"interaction": interaction_info, "resource": resource})

    def _webhook_interaction(self, req: Req) -> FakeInteraction | None:
        inter = self._interactions_by_token.get(req.params["token"])
        if inter is None or inter.application_id != req.params["app_id"]:
            return None
        return inter

    def _webhook_refusal(self, inter: FakeInteraction, req: Req) -> Reply | None:
        """Interaction webhooks need a live token, not channel permissions; writes obey the message rules."""
        if not self.token_alive(inter):
            return self._refusal(invalid_token())
        if req.method in ("POST", "PATCH"):
            return self._message_refusal(req.json, req.files, inter.upload_limit)
        return None

    async def _r_followup(self, req: Req) -> Reply:
        inter = self._webhook_interaction(req)
        if inter is None or inter.response_type is None:
            return not_found("Webhook", 10015)
        payload = req.json or {}
        refused = self._webhook_refusal(inter, req)
        if refused is not None:
            return refused
        original = self.original_message(inter)
        if inter.response_type == 5 and original is not None and original["flags"] & FLAG_LOADING:
            # Discord: the first follow-up after a deferred response replaces the loading message.
            msg = self._edit_message(original, payload, req.files)
            await self._echo("MESSAGE_UPDATE", msg)
        else:
            msg = self._create_bot_message(inter.channel_id, payload, req.files, interaction=inter)
            inter.followup_message_ids.append(msg["id"])
            await self._echo("MESSAGE_CREATE", msg)
        if req.query.get("wait", "").lower() in ("1", "true"):
            return Reply(200, copy.deepcopy(msg))
        return Reply(204)

    async def _r_webhook_message(self, req: Req) -> Reply:
        inter = self._webhook_interaction(req)
        if inter is None:
            return not_found("Webhook", 10015)
        refused = self._webhook_refusal(inter, req)
        if refused is not None:
            return refused
        mid = req.params["message_id"]
        if mid == "@original":
            mid = inter.original_message_id or ""
        elif mid != inter.original_message_id and mid not in inter.followup_message_ids:
            return not_found("Message", 10008)
        msg = self._messages.get(mid)
        if msg is None:
            return not_found("Message", 10008)
        read_or_deleted = await self._read_or_delete(msg, req)
        if read_or_deleted is not None:
            return read_or_deleted
        self._edit_message(msg, req.json or {}, req.files)
        await self._echo("MESSAGE_UPDATE", msg)
        return Reply(200, copy.deepcopy(msg))

    async def _r_get_channel(self, req: Req) -> Reply:
        channel = self._channels.get(req.params["channel_id"])
        return Reply(200, copy.deepcopy(channel)) if channel else not_found("Channel", 10003)

    def _bot_channel(self, req: Req) -> JSON | Reply:
        """The channel of a bot-token channel route, or Discord's answer instead (unknown channel, its rules)."""
        channel = self._channels.get(req.params["channel_id"])
        if channel is None:
            return not_found("Channel", 10003)
        refused = self._channel_refusal(channel, req)
        return channel if refused is None else refused

    async def _r_list_messages(self, req: Req) -> Reply:
        cid = req.params["channel_id"]
        channel = self._bot_channel(req)
        if isinstance(channel, Reply):
            return channel
        if channel.get("guild_id") and not self.channel_permissions(self.bot_user["id"], cid) & READ_MESSAGE_HISTORY:
            return Reply(200, [])  # Discord: without READ_MESSAGE_HISTORY the history is simply empty
        msgs = self.channel_messages(cid, include_ephemeral=False)
        if "before" in req.query:
            msgs = [m for m in msgs if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            msgs = [m for m in msgs if int(m["id"]) > int(req.query["after"])]
        limit = int(req.query.get("limit", 50))
        newest_first = list(reversed(msgs))[:limit]
        return Reply(200, copy.deepcopy(newest_first))

    async def _r_create_message(self, req: Req) -> Reply:
        cid = req.params["channel_id"]
        channel = self._bot_channel(req)
        if isinstance(channel, Reply):
            return channel
        payload = req.json or {}
        if not (payload.get("content") or payload.get("embeds") or req.files or payload.get("components")):
            return Reply(400, error_body("Cannot send an empty message", 50006))
        refused = self._message_refusal(payload, req.files, self.upload_limit)
        if refused is not None:
            return refused
        msg = self._create_bot_message(cid, payload, req.files)
        await self._echo("MESSAGE_CREATE", msg)
        return Reply(200, copy.deepcopy(msg))

    async def _r_channel_message(self, req: Req) -> Reply:
        channel = self._channels.get(req.params["channel_id"])
        if channel is None:
            return not_found("Channel", 10003)
        refused = self._channel_refusal(channel, req)
        if refused is not None:
            return refused
        msg = self._messages.get(req.params["message_id"])
        if msg is None or msg["channel_id"] != req.params["channel_id"] or msg["flags"] & FLAG_EPHEMERAL:
            return not_found("Message", 10008)
        read_or_deleted = await self._read_or_delete(msg, req)
        if read_or_deleted is not None:
            return read_or_deleted
        if msg["author"]["id"] != self.bot_user["id"]:
            return Reply(403, error_body("Cannot edit a message authored by another user", 50005))
        refused = self._message_refusal(req.json, req.files, self.upload_limit)
        if refused is not None:
            return refused
        self._edit_message(msg, req.json or {}, req.files)
        await self._echo("MESSAGE_UPDATE", msg)
        return Reply(200, copy.deepcopy(msg))

    async def _r_get_guild(self, req: Req) -> Reply:
        if req.params["guild_id"] not in self._guilds:
            return not_found("Guild", 10004)
        guild = self.guild_payload(req.params["guild_id"])
        for key in ("channels", "members", "threads", "presences", "voice_states", "joined_at", "member_count"):
            guild.pop(key, None)
        return Reply(200, guild)

    async def _r_get_guild_channels(self, req: Req) -> Reply:
        guild = self._guilds.get(req.params["guild_id"])
        if guild is None:
            return not_found("Guild", 10004)
        return Reply(200, [copy.deepcopy(self._channels[c]) for c in guild["channel_ids"]])

    async def _r_get_member(self, req: Req) -> Reply:
        member = self._members.get((req.params["guild_id"], req.params["user_id"]))
        return Reply(200, copy.deepcopy(member)) if member else not_found("Member", 10007)
