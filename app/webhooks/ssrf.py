"""Refuse webhook targets that resolve to private, loopback or otherwise internal addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeTarget(ValueError):
    pass


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check(url: str, allow_private: bool) -> None:
    """Raise UnsafeTarget unless every address the host resolves to is public (or allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("the URL must be http(s) with a host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except OSError as exc:
        raise UnsafeTarget(f"the host {parts.hostname!r} does not resolve") from exc
    addresses = {str(info[4][0]) for info in infos}
    bad = sorted(a for a in addresses if _internal(a))
    if bad:
        raise UnsafeTarget(f"{parts.hostname} resolves to internal address(es) {', '.join(bad)}")
