"""The restart-playing TCP proxy (tests/tcp_proxy.py) against a small echo server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from tests.tcp_proxy import TcpProxy

WAIT = 5  # seconds: every wait below ends at once unless something is broken


@dataclass
class Echo:
    """A server that answers each chunk upper-cased and remembers what it was sent."""

    received: bytearray = field(default_factory=bytearray)
    connections: list[asyncio.StreamReader] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(reader)
        self.connected.set()
        try:
            while chunk := await reader.read(65536):
                self.received += chunk
                writer.write(chunk.upper())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            writer.close()


@pytest.fixture
async def echo() -> AsyncIterator[tuple[Echo, int]]:
    echo = Echo()
    server = await asyncio.start_server(echo.serve, "127.0.0.1", 0)
    async with server:
        yield echo, server.sockets[0].getsockname()[1]


@pytest.fixture
async def proxy(echo: tuple[Echo, int]) -> AsyncIterator[TcpProxy]:
    async with TcpProxy("127.0.0.1", echo[1]) as proxy:
        yield proxy


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[TcpProxy], Awaitable[Connection]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Opens client connections to a proxy; closes them all when the test ends."""
    opened: list[asyncio.StreamWriter] = []

    async def connect(proxy: TcpProxy) -> Connection:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", proxy.port), WAIT
        )
        opened.append(writer)
        return reader, writer

    yield connect
    for writer in opened:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def ask(connection: Connection, data: bytes) -> bytes:
    reader, writer = connection
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), WAIT)


async def ends(reader: asyncio.StreamReader) -> bool:
    """True once the other side closed the connection (EOF or reset)."""
    try:
        return await asyncio.wait_for(reader.read(65536), WAIT) == b""
    except ConnectionResetError:
        return True


async def test_it_passes_bytes_both_ways_in_order(
    proxy: TcpProxy, echo: tuple[Echo, int], connect: Connect
) -> None:
    server, _ = echo
    data = bytes(range(97, 123)) * 40_000  # a megabyte of a–z, in many chunks

    connection = await connect(proxy)
    answer = await ask(connection, data)

    assert answer == data.upper()
    assert bytes(server.received) == data
    assert proxy.open_connections == 1


async def test_cut_closes_both_sides_of_every_connection(
    proxy: TcpProxy, echo: tuple[Echo, int], connect: Connect
) -> None:
    server, _ = echo
    first, second = await connect(proxy), await connect(proxy)
    assert await ask(first, b"a") == b"A" and await ask(second, b"b") == b"B"

    dropped = proxy.cut()

    assert dropped == 2
    assert await ends(first[0]) and await ends(second[0])
    assert all([await ends(reader) for reader in server.connections])
    assert proxy.open_connections == 0


async def test_refused_while_down_but_open_connections_live_on(
    proxy: TcpProxy, connect: Connect
) -> None:
    connection = await connect(proxy)

    proxy.refuse()

    with pytest.raises(ConnectionRefusedError):
        await connect(proxy)
    assert await ask(connection, b"still here") == b"STILL HERE"


async def test_it_accepts_again_on_the_same_port(proxy: TcpProxy, connect: Connect) -> None:
    port = proxy.port
    proxy.refuse()
    proxy.cut()

    await proxy.accept()

    assert proxy.port == port
    assert await ask(await connect(proxy), b"back") == b"BACK"


async def test_down_cuts_refuses_and_then_accepts_again(proxy: TcpProxy, connect: Connect) -> None:
    before = await connect(proxy)

    async with proxy.down():
        assert not proxy.listening
        assert await ends(before[0])
        with pytest.raises(ConnectionRefusedError):
            await connect(proxy)

    assert await ask(await connect(proxy), b"up") == b"UP"


async def test_cut_on_next_reply_delivers_the_request_but_not_the_answer(
    proxy: TcpProxy, echo: tuple[Echo, int], connect: Connect
) -> None:
    server, _ = echo
    reader, writer = await connect(proxy)
    assert await ask((reader, writer), b"begin;") == b"BEGIN;"

    proxy.cut_on_next_reply()
    writer.write(b"commit;")

    assert await ends(reader)
    await asyncio.wait_for(server.closed.wait(), WAIT)
    assert bytes(server.received) == b"begin;commit;"
    assert await ask(await connect(proxy), b"next") == b"NEXT"  # one reply only


async def test_a_client_is_dropped_when_the_target_is_down(connect: Connect) -> None:
    with socket.socket() as target:
        target.bind(("127.0.0.1", 0))  # bound but not listening: connects are refused
        async with TcpProxy(*target.getsockname()) as proxy:
            reader, _ = await connect(proxy)

            assert await ends(reader)
            assert proxy.open_connections == 0
