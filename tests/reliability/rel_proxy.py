"""A TCP proxy between rxguard and PostgreSQL that the tests can cut and restore.

The shared PostgreSQL server must never be stopped (other suites use it), so
an outage is made here instead, on 127.0.0.1 and an ephemeral port:

* ``stop()`` — what clients see when PostgreSQL goes down: every open
  connection is reset and new connections are refused (the port is closed);
* ``unreachable()`` — the database host stops answering: open connections
  are reset, new ones are accepted but never answered, as with a host that
  drops packets or a server that hangs during start-up;
* ``restore()`` — traffic flows again on the same port.

It runs its own asyncio loop in a daemon thread and stops with :meth:`close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any

_CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.mode = "up"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._call(self._listen())

    # ------------------------------------------------------------------ control (any thread)

    def stop(self) -> None:
        self._call(self._set_mode("down"))

    def unreachable(self) -> None:
        self._call(self._set_mode("silent"))

    def restore(self) -> None:
        self._call(self._set_mode("up"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._set_mode("down"))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # ------------------------------------------------------------------ the loop's side

    async def _set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode != "up":
            self._reset_all()
        if mode == "down" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        elif mode != "down" and self._server is None:
            await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:  # RST, as a crashed or stopped server's host would send
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode != "up":
            return  # silent: hold the connection open and never answer
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while self.mode == "up":
                data = await reader.read(_CHUNK)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
