"""Source image rules: URL validation, the public-only resolver and capped, re-checked fetches."""

from __future__ import annotations

import io
import socket
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image

from bot.engine.errors import SourceRefused
from bot.engine.sources import (
    MAX_URL_CHARS,
    PublicOnlyResolver,
    SourceFetcher,
    is_public_address,
    parse_url_list,
    validate_url,
)
from bot.surface import ui
from tests.refusals import refused as refusal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pytest_aiohttp import AiohttpServer


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("data:image/png;base64,AAAA", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("ftp://example.com/a.png", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("https://user:pw@example.com/a.png", "user name or password"),
        ("http://127.0.0.1/a.png", "private or reserved"),
        ("http://10.1.2.3/a.png", "private or reserved"),
        ("http://192.168.0.10/a.png", "private or reserved"),
        ("http://169.254.169.254/latest/meta-data", "private or reserved"),
        ("http://[::1]/a.png", "private or reserved"),
        ("http://[::ffff:127.0.0.1]/a.png", "private or reserved"),
        ("http://localhost:8080/a.png", "this machine"),
        ("http:///a.png", "no host"),
    ],
)
def test_bad_urls_are_refused_with_the_exact_problem(url: str, problem: str) -> None:
    with refusal(SourceRefused, match=problem):
        validate_url(url, allow_private=False)


def test_public_urls_pass_and_private_ones_pass_when_allowed() -> None:
    assert validate_url("https://cdn.example.com/a.png?x=1", allow_private=False).startswith("https://cdn.example")
    assert validate_url("http://127.0.0.1:9/a.png", allow_private=True) == "http://127.0.0.1:9/a.png"


def test_url_list_splits_on_spaces_newlines_and_commas() -> None:
    urls = parse_url_list(
        " https://a.example/1.png\nhttps://b.example/2.png, https://c.example/3.png ", allow_private=False
    )
    assert urls == ["https://a.example/1.png", "https://b.example/2.png", "https://c.example/3.png"]
    assert parse_url_list(None, allow_private=False) == []


def test_address_classification() -> None:
    assert is_public_address("93.184.216.34")
    assert not is_public_address("100.64.0.1")  # carrier-grade NAT
    assert not is_public_address("0.0.0.0")
    assert not is_public_address("fe80::1")
    assert not is_public_address("not an ip")


class _FixedResolver(AbstractResolver):
    def __init__(self, addresses: list[str]) -> None:
        self._addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0) for a in self._addresses
        ]

    async def close(self) -> None:
        return None


async def test_resolver_drops_private_addresses_and_refuses_names_that_only_have_them() -> None:
    mixed = PublicOnlyResolver(_FixedResolver(["10.0.0.1", "93.184.216.34"]))
    assert [r["host"] for r in await mixed.resolve("example.com")] == ["93.184.216.34"]
    rebinding = PublicOnlyResolver(_FixedResolver(["127.0.0.1"]))
    with pytest.raises(OSError, match="private"):
        await rebinding.resolve("evil.example")


@pytest.fixture
async def image_server(aiohttp_server: AiohttpServer) -> AsyncIterator[str]:
    png = png_bytes()

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    async def huge(_: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(_)
        for _i in range(40):
            await response.write(b"\x89PNG\r\n\x1a\n" + bytes(1024 * 1024))
        return response

    async def to_private(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://10.0.0.1/a.png")

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/a.png", image)
    app.router.add_get("/page", html)
    app.router.add_get("/huge", huge)
    app.router.add_get("/redirect-private", to_private)
    app.router.add_get("/loop", loop)
    app.router.add_get("/redirect", redirect)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


async def test_probe_accepts_a_png_and_reports_its_size(image_server: str) -> None:
    fetcher = SourceFetcher(allow_private=True)
    try:
        probed = await fetcher.probe(f"{image_server}/a.png")
        assert probed.content_type == "image/png"
        assert probed.size == len(png_bytes())
        assert await fetcher.fetch(f"{image_server}/a.png") == png_bytes()
    finally:
        await fetcher.close()


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/page", "not a JPEG, PNG or WebP"),
        ("/huge", "larger than 30 MB"),
        ("/missing", "HTTP 404"),
        ("/loop", "redirects too many times"),
    ],
)
async def test_probe_refuses_bad_sources(image_server: str, path: str, problem: str) -> None:
    fetcher = SourceFetcher(allow_private=True)
    try:
        with refusal(SourceRefused, match=problem):
            await fetcher.probe(f"{image_server}{path}", label="image 1")
    finally:
        await fetcher.close()


async def test_redirect_into_a_private_range_is_refused(image_server: str) -> None:
    # A public-looking name whose first hop is allowed (the test resolver maps it to the loopback test
    # server); the redirect Location is a private address and must be refused when re-checked.
    port = image_server.rsplit(":", 1)[1]
    strict = SourceFetcher(allow_private=False, resolver=_FixedResolver(["127.0.0.1"]))
    try:
        assert (await strict.probe(f"http://images.example.com:{port}/a.png")).content_type == "image/png"
        with refusal(SourceRefused, match="private or reserved"):
            await strict.probe(f"http://images.example.com:{port}/redirect-private")
    finally:
        await strict.close()


# Every IPv6 form that leads to a private IPv4 address, or is never a public destination (issue item 15).
HIDDEN_PRIVATE = [
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible (::/96)
    "::8.8.8.8",  # IPv4-compatible, refused whatever it embeds
    "64:ff9b::7f00:1",  # NAT64 well-known prefix → 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 → 169.254.169.254 (cloud metadata)
    "64:ff9b:1::808:808",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "2002:808:808::1",  # 6to4, refused whatever it embeds
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "fec0::1",  # site-local
    "240.0.0.1",  # reserved
    "::",
]


@pytest.mark.parametrize("address", HIDDEN_PRIVATE)
def test_ipv6_forms_around_private_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_stay_public(address: str) -> None:
    # NAT64 in front of a public IPv4 address is what DNS64 gives an IPv6-only host for any IPv4-only site.
    assert is_public_address(address)


@pytest.mark.parametrize("address", HIDDEN_PRIVATE)
def test_literal_urls_with_those_forms_are_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with refusal(SourceRefused, match="private or reserved"):
        validate_url(f"http://{host}/a.png", allow_private=False)


@pytest.mark.parametrize("address", HIDDEN_PRIVATE)
async def test_names_resolving_to_those_forms_are_refused_with_a_clear_message(address: str) -> None:
    fetcher = SourceFetcher(allow_private=False, resolver=PublicOnlyResolver(_FixedResolver([address])))
    try:
        with refusal(SourceRefused) as refused:
            await fetcher.probe("http://sneaky.example/a.png", label="link 1")
    finally:
        await fetcher.close()
    message = ui.refusal_text(refused.value)
    assert message == (
        "link 1 could not be fetched "
        "(`sneaky.example` points at a private or reserved address; use a public image link)."
    )
    assert "Cannot connect" not in message


def test_url_length_is_capped() -> None:
    base = "https://cdn.example.com/"
    assert validate_url(base + "a" * (MAX_URL_CHARS - len(base)), allow_private=False)
    with refusal(SourceRefused, match="links can be at most 2,048"):
        validate_url(base + "a" * (MAX_URL_CHARS - len(base) + 1), allow_private=False)


def test_a_backtick_in_a_refused_link_cannot_break_out_of_the_code_span() -> None:
    with refusal(SourceRefused) as refused:
        validate_url("ftp://x`[click](https://evil.example)`", allow_private=False)
    assert ui.refusal_text(refused.value).count("`") == 2


class _TestNames(AbstractResolver):
    """images.example.com is the loopback test server (allowed for the test); every other name goes through the
    real public-only check with the address given for it."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self._addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host == "images.example.com":
            return await _FixedResolver(["127.0.0.1"]).resolve(host, port, family)
        return await PublicOnlyResolver(_FixedResolver([self._addresses[host]])).resolve(host, port, family)

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("address", HIDDEN_PRIVATE)
async def test_redirects_to_those_forms_are_refused_as_literals_and_as_names(image_server: str, address: str) -> None:
    port = image_server.rsplit(":", 1)[1]
    host = f"[{address}]" if ":" in address else address
    fetcher = SourceFetcher(allow_private=False, resolver=_TestNames({"rebound.example": address}))
    try:
        start = f"http://images.example.com:{port}/redirect?to="
        assert (await fetcher.probe(f"{start}/a.png")).content_type == "image/png"  # a harmless redirect works
        with refusal(SourceRefused, match="private or reserved"):
            await fetcher.probe(f"{start}http://{host}:{port}/a.png")
        with refusal(SourceRefused, match=r"`rebound\.example` points at a private or reserved address"):
            await fetcher.probe(f"{start}http://rebound.example:{port}/a.png")
    finally:
        await fetcher.close()
