"""Source image rules: URL validation, the public-only resolver and capped, re-checked fetches."""

from __future__ import annotations

import io
import socket
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image

from bot.errors import InvalidInput
from bot.sources import PublicOnlyResolver, SourceFetcher, is_public_address, parse_url_list, validate_url

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
    with pytest.raises(InvalidInput, match=problem):
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

    app = web.Application()
    app.router.add_get("/a.png", image)
    app.router.add_get("/page", html)
    app.router.add_get("/huge", huge)
    app.router.add_get("/redirect-private", to_private)
    app.router.add_get("/loop", loop)
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
        with pytest.raises(InvalidInput, match=problem):
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
        with pytest.raises(InvalidInput, match="private or reserved"):
            await strict.probe(f"http://images.example.com:{port}/redirect-private")
    finally:
        await strict.close()
