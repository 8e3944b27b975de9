"""FakeDiscord's HTTP plumbing: parsing, recording, faults, rules and rate limits around each route."""

from __future__ import annotations

import asyncio
import json
import re
import traceback
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.discord_payloads import (
    error_body,
)
from tests.fakes.fake_records import (
    API_PREFIX,
    MESSAGE_WRITE,
    SETTLE_ITERATIONS,
    Handler,
    RecordedFile,
    RecordedRequest,
    Reply,
    Req,
    dumps,
    not_found,
)
from tests.fakes.fake_rest import FakeRest


class FakeHttp(FakeRest):
    """The HTTP side every REST route goes through (a part of FakeDiscord)."""

    # ------------------------------------------------------------------ HTTP plumbing

    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        full_path = request.path
        is_api = full_path.startswith(API_PREFIX + "/")
        path = full_path[len(API_PREFIX) :] if is_api else full_path
        method = request.method.upper()
        query = dict(request.query.items())
        auth = request.headers.get("Authorization")
        bot_auth = auth == f"Bot {self.token}"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        body: Any = None
        files: list[RecordedFile] = []
        received_at = asyncio.get_running_loop().time()
        try:
            body, files = await self._read_body(request)
        except ConnectionError:
            # The client went away mid-body (a bot killed or stopped during an upload): Discord never saw a
            # whole request, so nothing happens; it is no fault of the fake's and not a malformed request.
            self.dropped.append((method, path))
            await self._notify()
            return web.Response(status=400)
        except Exception:
            self.errors.append(traceback.format_exc())

        response: web.Response | None = None
        if is_api:
            reply = await self._api(method, path, query, body, files, bot_auth)
        elif method == "GET" and path.startswith("/attachments/"):
            parts = path.split("/")
            stored = self._files.get((parts[2], parts[3])) if len(parts) >= 5 else None
            if stored is None or stored.filename != "/".join(parts[4:]):
                reply = not_found("Attachment", 0)
            else:
                reply = Reply(200, f"<{len(stored.data)} bytes>")
                response = web.Response(body=stored.data, content_type=stored.content_type)
        else:
            reply = Reply(404, error_body(f"Unknown route (fake discord): {method} {path}", 10000))

        if response is None and reply.body is None:
            response = web.Response(status=reply.status, headers=reply.headers)
        elif response is None:
            response = web.Response(
                status=reply.status,
                body=dumps(reply.body).encode(),
                content_type="application/json",  # exactly this: discord.py's json_or_text compares verbatim
                headers=reply.headers,
            )
        record = RecordedRequest(
            index=len(self.requests),
            method=method,
            path=path,
            query=query,
            json=body,
            files=files,
            time=received_at,
            bot_auth=bot_auth,
            has_auth=auth is not None,
            headers=headers,
            status=reply.status,
            response=reply.body,
        )
        # Recorded before the client sees the response (so it is in `requests` once the bot's call returns), but
        # waiters only see it after the response was delivered and the client (same event loop) had a few loop
        # iterations to process it: a test that waited for a callback can then e.g. click the sent button.
        self.requests.append(record)
        self._unsettled.add(record.index)
        try:
            try:
                await response.prepare(request)
                await response.write_eof()
            except ConnectionError:
                return response  # the client went away after sending it all: the request stands, unanswered
            for _ in range(SETTLE_ITERATIONS):
                await asyncio.sleep(0)
        finally:
            self._unsettled.discard(record.index)
            await self._notify()
        return response

    async def _read_body(self, request: web.Request) -> tuple[Any, list[RecordedFile]]:
        if not request.can_read_body:
            return None, []
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[RecordedFile] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                data = await part.read(decode=False)
                if part.name == "payload_json":
                    payload = json.loads(data.decode())
                else:
                    files.append(
                        RecordedFile(part.name or "", part.filename, part.headers.get("Content-Type"), bytes(data))
                    )
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw.decode()), []
        except ValueError:
            return raw.decode(errors="replace"), []

    async def _api(
        self, method: str, path: str, query: dict[str, str], body: Any, files: list[RecordedFile], bot_auth: bool
    ) -> Reply:
        for route_method, pattern, handler, needs_auth in self._routes():
            match = pattern.fullmatch(path)
            if match is None or route_method != method:
                continue
            if needs_auth and not bot_auth:
                return Reply(401, error_body("401: Unauthorized", 0))
            fault = self._take_fault(method, path)
            if fault is not None:
                return fault
            await self._wait_if_held(method, path)
            req = Req(method, path, query, body, files, {k: v for k, v in match.groupdict().items() if v is not None})
            limited = self._rate_limited(req)
            if limited is not None and limited.status != 200:
                return limited
            try:
                reply = await handler(req)
            except Exception as exc:
                self.errors.append(traceback.format_exc())
                return Reply(400, error_body(f"fake discord internal error: {exc!r}", 0))
            if limited is not None:
                reply.headers = {**limited.headers, **reply.headers}
            return reply
        fault = self._take_fault(method, path)
        if fault is not None:
            return fault
        return Reply(404, error_body(f"Unknown route (fake discord): {method} {path}", 10000))

    def _rate_limited(self, req: Req) -> Reply | None:
        """The channel write limit for a message write (None when off or not a write): a 429 to answer, or the
        headers (status 200 here) that go on the handler's reply."""
        if self.rate_limit is None or req.method not in ("POST", "PATCH", "DELETE"):
            return None
        channel_id = req.params.get("channel_id")
        token = None
        if "token" in req.params and not req.path.endswith("/callback"):
            token = req.params["token"]
            inter = self._interactions_by_token.get(token)
            channel_id = inter.channel_id if inter is not None else None
        elif not MESSAGE_WRITE.fullmatch(req.path):
            return None
        if channel_id is None:
            return None
        verdict = self.rate_limit.take(channel_id, token=token)
        return Reply(verdict.status or 200, verdict.body, verdict.headers)

    def _routes(self) -> list[tuple[str, re.Pattern[str], Handler, bool]]:
        if self._route_table is not None:
            return self._route_table
        webhook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        webhook_message = webhook + r"/messages/(?P<message_id>@original|\d+)"
        channel_message = r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)"
        reaction = channel_message + r"/reactions/(?P<emoji>[^/]+)/@me"
        global_cmds = r"/applications/(?P<app_id>\d+)/commands"
        guild_cmds = r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands"
        table: list[tuple[str, str, Handler, bool]] = [
            ("GET", r"/users/@me", self._r_get_me, True),
            ("GET", r"/users/@me/guilds", self._r_my_guilds, True),
            ("GET", r"/users/(?P<user_id>\d+)", self._r_get_user, True),
            ("POST", r"/users/@me/channels", self._r_create_dm, True),
            ("GET", r"/oauth2/applications/@me", self._r_get_application, True),
            ("GET", r"/applications/@me", self._r_get_application, True),
            ("GET", r"/gateway", self._r_get_gateway, False),
            ("GET", r"/gateway/bot", self._r_get_gateway, True),
            ("PUT", global_cmds, self._r_put_commands, True),
            ("GET", global_cmds, self._r_get_commands, True),
            ("PUT", guild_cmds, self._r_put_commands, True),
            ("GET", guild_cmds, self._r_get_commands, True),
            ("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback", self._r_callback, False),
            ("POST", webhook, self._r_followup, False),
            ("GET", webhook_message, self._r_webhook_message, False),
            ("PATCH", webhook_message, self._r_webhook_message, False),
            ("DELETE", webhook_message, self._r_webhook_message, False),
            ("GET", r"/channels/(?P<channel_id>\d+)", self._r_get_channel, True),
            ("GET", r"/channels/(?P<channel_id>\d+)/messages", self._r_list_messages, True),
            ("POST", r"/channels/(?P<channel_id>\d+)/messages", self._r_create_message, True),
            ("GET", channel_message, self._r_channel_message, True),
            ("PATCH", channel_message, self._r_channel_message, True),
            ("DELETE", channel_message, self._r_channel_message, True),
            ("POST", r"/channels/(?P<channel_id>\d+)/typing", self._r_no_content, True),
            ("PUT", reaction, self._r_no_content, True),
            ("DELETE", reaction, self._r_no_content, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)", self._r_get_guild, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)/channels", self._r_get_guild_channels, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", self._r_get_member, True),
        ]
        self._route_table = [(m, re.compile(p), h, a) for m, p, h, a in table]
        return self._route_table
