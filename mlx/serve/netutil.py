"""Listening sockets shared by worker processes through ``SO_REUSEPORT``."""

from __future__ import annotations

import socket

HAS_REUSEPORT = hasattr(socket, "SO_REUSEPORT")


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, not yet listening.

    The parent binds one first (it fixes the port, turns port 0 into a real one and
    fails early when the port is taken, and never listens, so the kernel never hands
    it a connection); each worker then binds and listens on the same port and the
    kernel spreads new connections across the workers.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if HAS_REUSEPORT:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
    except OSError:
        sock.close()
        raise
    return sock
