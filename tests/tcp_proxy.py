"""A TCP proxy for tests that plays a server restarting: cut, refuse, accept again.

Put between the bot and PostgreSQL, it shows the bot what a real restart does without
touching the real server: every open connection dies at once (`cut`), new connections are
refused while the server is down (`refuse`: the listening socket is closed, so a connect
gets ECONNREFUSED), and then it accepts again on the same port (`accept`). Closing a
connection's server side also makes the server roll back whatever transaction it had open.

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+asyncpg://root@127.0.0.1:{proxy.port}/test"
        async with proxy.down():  # cut and refused until the block ends
            ...

`cut` and `refuse` are plain functions, so a SQLAlchemy event listener (which cannot
await) can call them in the middle of a transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType

CHUNK = 64 * 1024


@dataclass(eq=False)
class _Pair:
    """One client connection and the connection to the target made for it."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        """Drop both sides at once (nothing flushed), as a dying server does."""
        for pump in self.pumps:
            pump.cancel()
        self.client.transport.abort()
        self.upstream.transport.abort()

    def close(self) -> None:
        """Close both sides once either has (what was written is still sent)."""
        for pump in self.pumps:
            pump.cancel()
        self.client.close()
        self.upstream.close()


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`, both ways, byte for byte."""

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port  # 0 until started: then the port the OS gave, kept for good
        self.accepted = 0  # client connections accepted so far
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()
        self._cuts = 0  # a connection accepted before a cut dies even if still connecting
        self._cut_on_reply = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TcpProxy:
        await self.accept()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    async def accept(self) -> None:
        """Listen (again) on `port`; the first call picks the port."""
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    def refuse(self) -> None:
        """Close the listening socket: new connections are refused, open ones live on."""
        if self._server is not None:
            self._server.close()  # the socket is closed here; wait_closed would wait for clients
            self._server = None

    def cut(self) -> int:
        """Drop every open connection, both sides at once; how many were dropped."""
        self._cuts += 1
        pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            pair.abort()
        return len(pairs)

    def cut_on_next_reply(self) -> None:
        """Pass what the client sends next, but drop the target's answer to it and cut.

        The server has then done what it was asked (a COMMIT, say) while the client never
        hears so: the "done, but the connection died before saying so" case.
        """
        self._cut_on_reply = True

    @contextlib.asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        """The server restarting: every connection cut, and refused until the block ends."""
        self.refuse()
        self.cut()
        try:
            yield
        finally:
            await self.accept()

    async def close(self) -> None:
        """Stop listening, drop every connection, and wait for the proxy's tasks to end."""
        self.refuse()
        self.cut()  # ends every pump, and so every connection's task
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client: connect to the target and copy both ways until either side ends."""
        task = asyncio.current_task()
        assert task is not None
        self._track(task)
        self.accepted += 1
        cuts = self._cuts
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = _Pair(writer, up_writer)
        if cuts != self._cuts:  # cut while connecting to the target
            pair.abort()
            return
        self._pairs.add(pair)
        pair.pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer, from_target=True)),
        ]
        for pump in pair.pumps:
            self._track(pump)
        try:
            await asyncio.wait(pair.pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if pair in self._pairs:  # one side closed: close the other (not a cut)
                self._pairs.discard(pair)
                pair.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        from_target: bool = False,
    ) -> None:
        """Copy one direction until either side closes."""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(CHUNK):
                if from_target and self._cut_on_reply:
                    self._cut_on_reply = False
                    self.cut()
                    return
                writer.write(chunk)
                await writer.drain()
