"""FakeDiscord's message state: creating, editing and deleting messages as Discord would."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from tests.fakes.discord_payloads import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    JSON,
    MESSAGE_DEFAULT,
    MESSAGE_REPLY,
    SENDABLE_FLAGS,
    iso_now,
    make_message,
    mentioned_ids,
    normalize_embed,
    partial_member,
)
from tests.fakes.fake_gateway import FakeGateway

if TYPE_CHECKING:
    from tests.fakes.fake_records import FakeInteraction, RecordedFile


class FakeMessages(FakeGateway):
    """Message state shared by the REST routes (a part of FakeDiscord)."""

    # ------------------------------------------------------------------ message state helpers

    def gateway_message(self, message: JSON) -> JSON:
        """A stored (REST-shaped) message as MESSAGE_CREATE carries it (guild_id, member, mention members)."""
        out = copy.deepcopy(message)
        channel = self._channels.get(message["channel_id"])
        gid = channel.get("guild_id") if channel else None
        if gid:
            out["guild_id"] = gid
            author_member = self._members.get((gid, message["author"]["id"]))
            if author_member is not None and "webhook_id" not in message:
                out["member"] = partial_member(author_member)
            mentions = []
            for user in out.get("mentions", []):
                m = self._members.get((gid, user["id"]))
                mentions.append({**user, "member": partial_member(m)} if m else user)
            out["mentions"] = mentions
        return out

    def _mentions_for(self, content: str, allowed: JSON | None) -> list[JSON]:
        ids = mentioned_ids(content)
        if allowed is not None:
            parse = allowed.get("parse") or []
            if "users" not in parse:
                permitted = {str(u) for u in allowed.get("users") or []}
                ids = [i for i in ids if i in permitted]
        return [copy.deepcopy(self._users[i]) for i in ids if i in self._users]

    def _attachments_for(
        self, channel_id: str, payload: JSON, files: list[RecordedFile], existing: list[JSON], ephemeral: bool
    ) -> list[JSON]:
        by_field = {f.field_name: f for f in files}
        used: set[str] = set()
        result: list[JSON] = []
        spec = payload.get("attachments")
        if spec is None:
            result = list(existing)
        else:
            existing_by_id = {str(a["id"]): a for a in existing}
            for item in spec:
                aid = str(item.get("id"))
                part = by_field.get(f"files[{aid}]")
                if part is not None and part.field_name not in used:
                    used.add(part.field_name)
                    filename = item.get("filename") or part.filename or "file"
                    result.append(
                        self._store_file(
                            channel_id,
                            filename,
                            part.data,
                            part.content_type,
                            description=item.get("description"),
                            ephemeral=ephemeral,
                        )
                    )
                elif aid in existing_by_id:
                    result.append(existing_by_id[aid])
        for part in files:
            if part.field_name not in used and part.filename is not None:
                result.append(
                    self._store_file(channel_id, part.filename, part.data, part.content_type, ephemeral=ephemeral)
                )
        return result

    def _create_bot_message(
        self,
        channel_id: str,
        payload: JSON,
        files: list[RecordedFile],
        *,
        message_type: int = MESSAGE_DEFAULT,
        extra_flags: int = 0,
        interaction: FakeInteraction | None = None,
    ) -> JSON:
        flags = (int(payload.get("flags") or 0) & SENDABLE_FLAGS) | extra_flags
        if interaction is None:
            flags &= ~FLAG_EPHEMERAL
        content = payload.get("content") or ""
        msg = make_message(
            self.snowflake(),
            channel_id,
            copy.deepcopy(self.bot_user),
            content,
            message_type=message_type,
            flags=flags,
            tts=bool(payload.get("tts")),
            mentions=self._mentions_for(content, payload.get("allowed_mentions")),
            attachments=self._attachments_for(channel_id, payload, files, [], bool(flags & FLAG_EPHEMERAL)),
            embeds=payload.get("embeds"),
            components=payload.get("components"),
        )
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        reference = payload.get("message_reference")
        if reference:
            ref = {k: str(v) if k.endswith("_id") and v is not None else v for k, v in reference.items()}
            ref.setdefault("channel_id", channel_id)
            ref.setdefault("type", 0)
            target = self._messages.get(str(ref.get("message_id")))
            msg["message_reference"] = ref
            msg["referenced_message"] = copy.deepcopy(target)
            if ref["type"] == 0:
                msg["type"] = MESSAGE_REPLY
                replied = (payload.get("allowed_mentions") or {}).get("replied_user", True)
                if target is not None and replied and all(u["id"] != target["author"]["id"] for u in msg["mentions"]):
                    msg["mentions"].append(copy.deepcopy(target["author"]))
        if interaction is not None:
            msg["webhook_id"] = self.application_id
            msg["application_id"] = self.application_id
            msg["interaction_metadata"] = self._interaction_metadata(interaction)
            if interaction.type == 2:
                msg["interaction"] = {
                    "id": interaction.id,
                    "type": interaction.type,
                    "name": interaction.payload["data"]["name"],
                    "user": copy.deepcopy(interaction.user),
                }
        self._messages[msg["id"]] = msg
        channel = self._channels.get(channel_id)
        if channel is not None and not flags & FLAG_EPHEMERAL:
            channel["last_message_id"] = msg["id"]
        return msg

    def _interaction_metadata(self, interaction: FakeInteraction) -> JSON:
        meta: JSON = {
            "id": interaction.id,
            "type": interaction.type,
            "user": copy.deepcopy(interaction.user),
            "authorizing_integration_owners": dict(interaction.payload["authorizing_integration_owners"]),
        }
        data = interaction.payload["data"]
        if interaction.type == 2:
            meta["name"] = data["name"]
            meta["command_type"] = data.get("type", 1)
            if data.get("type") == 3:
                meta["target_message_id"] = data["target_id"]
            elif data.get("type") == 2:
                meta["target_user"] = copy.deepcopy(self._users.get(data["target_id"]))
        elif interaction.type == 3 and interaction.message_id:
            meta["interacted_message_id"] = interaction.message_id
        elif interaction.type == 5 and interaction.triggered_by is not None:
            meta["triggering_interaction_metadata"] = self._interaction_metadata(interaction.triggered_by)
        if interaction.original_message_id:
            meta["original_response_message_id"] = interaction.original_message_id
        return meta

    def _edit_message(self, msg: JSON, payload: JSON, files: list[RecordedFile]) -> JSON:
        was_loading = bool(msg["flags"] & FLAG_LOADING)
        if "content" in payload:
            msg["content"] = payload["content"] or ""
            msg["mentions"] = self._mentions_for(msg["content"], payload.get("allowed_mentions"))
        if "embeds" in payload:
            msg["embeds"] = [normalize_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            msg["components"] = list(payload["components"] or [])
        if payload.get("flags") is not None:
            keep = msg["flags"] & FLAG_EPHEMERAL
            msg["flags"] = (int(payload["flags"]) & SENDABLE_FLAGS & ~FLAG_EPHEMERAL) | keep
        if "attachments" in payload or files:
            ephemeral = bool(msg["flags"] & FLAG_EPHEMERAL)
            msg["attachments"] = self._attachments_for(msg["channel_id"], payload, files, msg["attachments"], ephemeral)
        msg["flags"] &= ~FLAG_LOADING
        if not was_loading:
            msg["edited_timestamp"] = iso_now()
        return msg

    async def _echo(self, event: str, msg: JSON) -> None:
        if not self.echo_messages or not self._sessions or msg["flags"] & FLAG_EPHEMERAL:
            return
        if event == "MESSAGE_DELETE":
            data: JSON = {"id": msg["id"], "channel_id": msg["channel_id"]}
            channel = self._channels.get(msg["channel_id"])
            if channel and channel.get("guild_id"):
                data["guild_id"] = channel["guild_id"]
            await self.dispatch(event, data)
        else:
            await self.dispatch(event, self.gateway_message(msg))

    def _delete_message(self, msg: JSON) -> None:
        self._messages.pop(msg["id"], None)
        self.deleted_messages.append(msg)
