"""FakeDiscord's gateway: sessions per shard, IDENTIFY/RESUME, heartbeats and dispatch."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import traceback
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_payloads import (
    INTENT_MESSAGE_CONTENT,
    JSON,
)
from tests.fakes.fake_records import GatewayConnection, GatewayFrame, Session, dumps, event_guild
from tests.fakes.fake_world import FakeWorld


class FakeGateway(FakeWorld):
    """The websocket gateway (a part of FakeDiscord)."""

    # ------------------------------------------------------------------ gateway

    async def _send(self, conn: GatewayConnection, frame: JSON | str) -> bool:
        """Write one frame (or its JSON text) to a gateway connection; False if it is gone."""
        if conn.closed or conn.ws.closed:
            return False
        try:
            await conn.ws.send_str(frame if isinstance(frame, str) else dumps(frame))
        except (ConnectionError, RuntimeError):
            conn.closed = True
            return False
        return True

    @staticmethod
    def _next_frame(session: Session, event: str, data: Any) -> JSON:
        """The session's next dispatch frame, kept for RESUME replay."""
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        return frame

    async def _send_to(self, session: Session, frame: JSON | str) -> None:
        """Send to the session's live connection, if any (the frame stays in its replay buffer either way)."""
        if session.active is not None and not await self._send(session.active, frame):
            session.active = None

    async def _dispatch_locked(self, session: Session, event: str, data: Any) -> int:
        await self._send_to(session, self._next_frame(session, event, data))
        return session.seq

    def _owners(self, guild_id: str | None) -> list[Session]:
        return [session for session in self._sessions.values() if session.owns(guild_id)]

    async def dispatch(self, event: str, data: Any) -> int:
        """Send a dispatch event to the session of its guild's shard, with that session's next sequence number
        (queued for RESUME replay when the bot is disconnected). Returns the sequence number (0: no session owns
        the event's shard; it is kept in :attr:`undelivered`)."""
        if not self._sessions:
            raise RuntimeError("no gateway session yet (await fake.wait_until_ready() first)")
        seq = 0
        async with self._gw_lock:
            owners = self._owners(event_guild(event, data))
            for session in owners:
                seq = await self._dispatch_locked(session, event, self._gate_event(event, copy.deepcopy(data), session))
            if not owners:
                self.undelivered.append({"t": event, "d": copy.deepcopy(data)})
        await self._notify()
        return seq

    def _gate_event(self, event: str, data: Any, session: Session) -> Any:
        """Blank message content like Discord does for bots without the MESSAGE_CONTENT intent."""
        if not self.enforce_message_content_intent or event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            return data
        if not isinstance(data, dict):
            return data
        in_guild = "guild_id" in data
        if isinstance(data.get("referenced_message"), dict):
            # The replied-to message is a message of its own: the same rule applies to it.
            self._gate_message(data["referenced_message"], in_guild=in_guild, intents=session.intents)
        return self._gate_message(data, in_guild=in_guild, intents=session.intents)

    def _gate_message(self, data: JSON, *, in_guild: bool, intents: int | None) -> JSON:
        """Blank one message's content unless the bot wrote it, is mentioned, it is a DM, or it has the intent."""
        if intents is None or intents & INTENT_MESSAGE_CONTENT:
            return data
        bot_id = self.bot_user["id"]
        author_id = (data.get("author") or {}).get("id")
        mentioned = any(u.get("id") == bot_id for u in data.get("mentions") or [])
        if author_id == bot_id or not in_guild or mentioned:
            return data
        data.update(content="", embeds=[], attachments=[], components=[])
        data.pop("poll", None)
        return data

    async def drop_gateway(self, code: int = 4000, *, shard: tuple[int, int] | None = None) -> None:
        """Close the bot's gateway connection (the last IDENTIFY's, or ``shard``'s) with a resumable close code
        (discord.py then RESUMEs)."""
        async with self._gw_lock:
            session = self._latest if shard is None else self._sessions[shard]
            conn = None if session is None else session.active
            if session is not None:
                session.active = None
        if conn is None:
            raise RuntimeError("no active gateway connection to drop")
        conn.closed = True
        await conn.ws.close(code=code, message=b"fake discord dropped the connection")
        await self._notify()

    async def _gateway_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws=ws, number=len(self._connections) + 1, query=dict(request.query))
        self._connections.append(conn)
        await self._notify()
        try:
            await self._send(
                conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        await self._on_gateway_frame(conn, json.loads(msg.data))
                    except Exception:
                        self.errors.append(traceback.format_exc())
                        await ws.close(code=4000, message=b"fake discord internal error")
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            conn.closed = True
            async with self._gw_lock:
                for session in self._sessions.values():
                    if session.active is conn:
                        session.active = None
            await self._notify()
        return ws

    async def _on_gateway_frame(self, conn: GatewayConnection, frame: JSON) -> None:
        op = int(frame.get("op", -1))
        data: Any = frame.get("d")
        recorded: Any = copy.deepcopy(data)
        if isinstance(recorded, dict) and "token" in recorded:
            recorded["token"] = "<redacted>"
        loop_time = asyncio.get_running_loop().time()
        self.gateway_received.append(GatewayFrame(len(self.gateway_received), conn.number, op, recorded, loop_time))
        await self._notify()

        if op == 1:  # HEARTBEAT
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif not isinstance(data, dict):
            return
        elif op == 2:  # IDENTIFY
            await self._identify(conn, data, recorded)
        elif op == 6:  # RESUME
            await self._resume(conn, data)
        elif op == 8:  # REQUEST_GUILD_MEMBERS
            await self._request_members(data)

    async def _identify(self, conn: GatewayConnection, data: JSON, recorded: JSON) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard_field = data.get("shard")
        try:
            shard = (0, 1) if shard_field is None else (int(shard_field[0]), int(shard_field[1]))
        except (TypeError, ValueError, IndexError):
            shard = (-1, 0)
        if not 0 <= shard[0] < shard[1]:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        self.identify_payloads.append(recorded)
        async with self._gw_lock:
            # A new IDENTIFY for a shard replaces that shard's session (the old one gets nothing more).
            session = Session(id=secrets.token_hex(16), intents=data.get("intents"), shard=shard, active=conn)
            self._sessions.pop(shard, None)
            self._sessions[shard] = self._latest = session
            guild_ids = [gid for gid in self._guilds if session.owns(gid)]
            ready: JSON = {
                "v": 10,
                "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"},
                "guilds": [{"id": gid, "unavailable": True} for gid in guild_ids],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": self.application_id, "flags": int(self.application.get("flags", 0))},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth": {},
                "_trace": ["fake-discord"],
            }
            if shard_field is not None:
                ready["shard"] = list(shard)
            await self._dispatch_locked(session, "READY", ready)
            for gid in guild_ids:
                await self._dispatch_locked(session, "GUILD_CREATE", self.guild_payload(gid))
            self.ready_count += 1
        await self._notify()

    async def _resume(self, conn: GatewayConnection, data: JSON) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        async with self._gw_lock:
            session = next((s for s in self._sessions.values() if s.id == data.get("session_id")), None)
            if session is None:
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            last = int(data.get("seq") or 0)
            for frame in session.events:
                if frame["s"] > last:
                    await self._send(conn, frame)
            session.seq += 1
            await self._send(conn, {"op": 0, "t": "RESUMED", "s": session.seq, "d": {"_trace": ["fake-discord"]}})
            session.active = conn
            self.resume_count += 1
        await self._notify()

    async def _request_members(self, data: JSON) -> None:
        gid = str(data.get("guild_id"))
        if gid not in self._guilds or not self._sessions:
            return
        user_ids = {str(u) for u in data.get("user_ids") or []}
        query = (data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        members = [
            copy.deepcopy(m)
            for (g, uid), m in self._members.items()
            if g == gid and (not user_ids or uid in user_ids) and m["user"]["username"].lower().startswith(query)
        ]
        if limit:
            members = members[:limit]
        chunk: JSON = {"guild_id": gid, "members": members, "chunk_index": 0, "chunk_count": 1, "not_found": []}
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)
