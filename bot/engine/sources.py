"""Source images for edits: URL rules, and a guarded fetch that cannot be steered into private networks."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from bot.engine.errors import FetchFailure, SourceProblem, SourceRefused
from bot.engine.images import sniff_type

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MAX_SOURCES",
    "MAX_SOURCE_BYTES",
    "MAX_URL_CHARS",
    "PrivateAddressError",
    "ProbedImage",
    "PublicOnlyResolver",
    "SourceFetcher",
    "SourceImage",
    "is_public_address",
    "parse_url_list",
    "plan_sources",
    "validate_url",
]

MAX_SOURCES = 10
# Longer links are not image links a member pasted; reAPI and most servers refuse them anyway.
MAX_URL_CHARS = 2048
MAX_SOURCE_BYTES = 30 * 1024 * 1024
_MAX_REDIRECTS = 3
_SPLIT = re.compile(r"[\s,]+")


# NAT64's well-known prefix (RFC 6052): on an IPv6-only host, DNS64 answers with these for IPv4-only sites, so
# they are judged by the IPv4 address in their last 32 bits, like IPv4-mapped addresses.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Never a destination for a public image, whatever they embed: refused outright.
_NEVER_PUBLIC_V6 = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible ::a.b.c.d (deprecated), with :: and ::1
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # RFC 8215 local-use NAT64
    ipaddress.IPv6Network("2002::/16"),  # 6to4 (deprecated; relays reach any IPv4 address)
    ipaddress.IPv6Network("2001::/32"),  # Teredo
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated)
)


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (not loopback, private, link-local, reserved …).

    IPv6 forms that lead to an IPv4 address are judged by it (IPv4-mapped, NAT64 ``64:ff9b::/96``, so
    ``[64:ff9b::7f00:1]`` is loopback) or refused outright (IPv4-compatible, local NAT64, 6to4, Teredo).
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _is_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return _is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(ip in network for network in _NEVER_PUBLIC_V6):
            return False
    return _is_public(ip)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def validate_url(raw: str, *, allow_private: bool) -> str:
    """Check one image URL against the rules reAPI and safety impose; return it normalised.

    Raises
    ------
    SourceRefused
        Naming the exact problem: scheme, credentials, missing host, or a private/loopback address.
    """
    if len(raw) > MAX_URL_CHARS:
        raise SourceRefused(SourceProblem.URL_TOO_LONG, url=raw, length=len(raw), limit=MAX_URL_CHARS)
    try:
        url = URL(raw)
    except ValueError:
        raise SourceRefused(SourceProblem.NOT_A_URL, url=raw) from None
    if url.scheme not in ("http", "https"):
        raise SourceRefused(SourceProblem.BAD_SCHEME, url=raw, scheme=url.scheme or "no scheme")
    if url.user is not None or url.password is not None:
        raise SourceRefused(SourceProblem.CREDENTIALS, url=raw)
    host = url.host
    if not host:
        raise SourceRefused(SourceProblem.NO_HOST, url=raw)
    if not allow_private:
        literal = host.strip("[]")
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            raise SourceRefused(SourceProblem.LOCALHOST, url=raw)
        try:
            ipaddress.ip_address(literal.split("%", 1)[0])
        except ValueError:
            pass  # a name: its addresses are checked when the bot connects
        else:
            if not is_public_address(literal):
                raise SourceRefused(SourceProblem.PRIVATE_ADDRESS, url=raw)
    return str(url)


def parse_url_list(text: str | None, *, allow_private: bool) -> list[str]:
    """Split the ``urls`` option (spaces, newlines or commas) and validate each link."""
    if not text:
        return []
    return [validate_url(part, allow_private=allow_private) for part in _SPLIT.split(text.strip()) if part]


class PrivateAddressError(OSError):
    """A host name resolved only to addresses the bot must not connect to."""


class PublicOnlyResolver(AbstractResolver):
    """Resolves names like the default resolver, then drops private addresses (no DNS rebinding to LAN)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        public = [r for r in results if is_public_address(r["host"])]
        if not public:
            raise PrivateAddressError(f"{host} resolves only to private or reserved addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


_ACCEPTED_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})


@dataclass(frozen=True, slots=True)
class SourceImage:
    """One image a member wants edited: where reAPI fetches it and how the result links back to it."""

    url: str  # passed to reAPI as is (Discord attachment URLs included)
    link: str  # shown as lineage on the result: a jump link to the message, or the URL
    label: str  # how error messages name it, e.g. "`cat.png`" or "link 2"
    content_type: str | None = None  # as declared by Discord for attachments
    size: int | None = None  # as declared by Discord for attachments


def plan_sources(images: Sequence[SourceImage]) -> list[SourceImage]:
    """Check what can be checked without the network: how many, and the declared type and size.

    Raises
    ------
    SourceRefused
        No image, more than 10, or an attachment that is not JPEG/PNG/WebP or is over 30 MB.
    """
    if not images:
        raise SourceRefused(SourceProblem.NO_IMAGES)
    if len(images) > MAX_SOURCES:
        raise SourceRefused(SourceProblem.TOO_MANY, count=len(images), limit=MAX_SOURCES)
    for image in images:
        declared = (image.content_type or "").split(";")[0].strip().lower()
        if declared and declared not in _ACCEPTED_TYPES:
            raise SourceRefused(SourceProblem.WRONG_TYPE, image=image.label, declared=declared)
        if image.size is not None and image.size > MAX_SOURCE_BYTES:
            raise SourceRefused(SourceProblem.TOO_LARGE, image=image.label, size=image.size, limit=MAX_SOURCE_BYTES)
    return list(images)


@dataclass(frozen=True, slots=True)
class ProbedImage:
    """What a source URL turned out to hold."""

    url: str
    content_type: str
    size: int


class SourceFetcher:
    """Fetches or probes source images with byte caps, timeouts and address checks on every hop."""

    def __init__(
        self,
        *,
        allow_private: bool,
        max_bytes: int = MAX_SOURCE_BYTES,
        timeout: float = 20.0,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._max_bytes = max_bytes
        if resolver is None:
            resolver = DefaultResolver() if allow_private else PublicOnlyResolver()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver, limit=20),
            timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=5),
            headers={"User-Agent": "imagine-bot (source image check)"},
        )

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._session.close()

    async def check(self, images: Sequence[SourceImage]) -> None:
        """Probe every source concurrently; the first problem found is raised (see :meth:`probe`)."""
        results = await asyncio.gather(
            *(self.probe(i.url, label=i.label, head_only=i.size is not None) for i in images), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def probe(self, url: str, *, label: str | None = None, head_only: bool = False) -> ProbedImage:
        """Check that ``url`` serves a JPEG, PNG or WebP within the size cap; keeps only the first bytes.

        ``head_only`` stops after the magic bytes: for attachments whose size Discord already reported.

        Raises
        ------
        SourceRefused
            Unreachable, not an image of an accepted type, or too large; the message names which.
        """
        data, size = await self._get(url, label=label, keep=16, head_only=head_only)
        kind = sniff_type(data)
        name = label or url
        if kind is None:
            raise SourceRefused(SourceProblem.NOT_AN_IMAGE, image=name)
        return ProbedImage(url=url, content_type=kind, size=size)

    async def fetch(self, url: str, *, label: str | None = None) -> bytes:
        """Download a whole image (within the cap)."""
        data, _ = await self._get(url, label=label, keep=self._max_bytes, head_only=False)
        return data

    async def _get(self, url: str, *, label: str | None, keep: int, head_only: bool) -> tuple[bytes, int]:
        name = label or url
        current = validate_url(url, allow_private=self._allow_private)
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                async with self._session.get(current, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        location = response.headers.get("Location", "")
                        current = validate_url(str(URL(current).join(URL(location))), allow_private=self._allow_private)
                        continue
                    if response.status != 200:
                        raise SourceRefused(SourceProblem.HTTP_STATUS, image=name, status=response.status)
                    return await self._read_capped(response, name, keep, head_only)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise SourceRefused(
                    SourceProblem.UNREACHABLE, image=name, host=URL(current).host or current, why=_why(exc)
                ) from None
        raise SourceRefused(SourceProblem.TOO_MANY_REDIRECTS, image=name)

    async def _read_capped(
        self, response: aiohttp.ClientResponse, name: str, keep: int, head_only: bool
    ) -> tuple[bytes, int]:
        declared = response.content_length
        if declared is not None and declared > self._max_bytes:
            raise SourceRefused(SourceProblem.TOO_LARGE, image=name, size=declared, limit=self._max_bytes)
        kept = bytearray()
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_bytes:
                raise SourceRefused(SourceProblem.LARGER_THAN, image=name, limit=self._max_bytes)
            if len(kept) < keep:
                kept.extend(chunk[: keep - len(kept)])
            if head_only and len(kept) >= keep:
                break
        return bytes(kept), size


def _why(exc: BaseException) -> FetchFailure:
    """Why a fetch failed (aiohttp's own text is "Cannot connect to host … [None]", useless to a member)."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return FetchFailure.TIMEOUT
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, PrivateAddressError):
        return FetchFailure.PRIVATE
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return FetchFailure.DNS
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return FetchFailure.CERTIFICATE
    if isinstance(exc, aiohttp.ClientConnectorError):
        return FetchFailure.UNREACHABLE
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return FetchFailure.BROKEN
    return FetchFailure.UNUSABLE
