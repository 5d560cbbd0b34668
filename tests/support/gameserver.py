"""A stand-in Source game server on 127.0.0.1, for tests, benchmarks and the demo.

It answers A2S_INFO over UDP the way servers have since 2020 (a first request gets a challenge,
the request that repeats it gets the answer) and Source RCON over TCP (auth, exec, answers over
4096 bytes split into several packets, the empty packet a client sends after a split answer
mirrored). Players and bots are scripted (`server.players = 3`), `server.down()` makes it answer
nothing until `server.up()`, and every RCON command received is recorded (`server.commands`).
`changelevel <map>` changes the map; `mission_reload` and `changelevel` make it silent for
`reload_seconds`, as a real server is while it loads.

In a test::

    with StandInGameServer(password="secret", players=3) as server:
        ...  # server.port (A2S and RCON), server.commands

Many at once share one UDP thread (`StandInFleet`, bench/servers.py). Standalone, for the demo:
``python -m tests.support.gameserver --port 27015 --password secret``.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field

HEADER = b"\xff\xff\xff\xff"
A2S_INFO_REQUEST = b"T" + b"Source Engine Query\x00"
AUTH, AUTH_RESPONSE, EXECCOMMAND, RESPONSE_VALUE = 3, 2, 2, 0
PACKET_PAYLOAD_MAX = 4096
# A command whose answer is long enough to come in several packets.
LONG_ANSWER_COMMAND = "cvarlist"


@dataclass
class StandInGameServer:
    """One stand-in server; A2S and RCON share its port (as srcds does, UDP and TCP)."""

    password: str = "secret"
    map: str = "c2m1_highway"
    players: int = 0
    bots: int = 0
    max_players: int = 8
    name: str = "left4me stand-in"
    port: int = 0
    rcon: bool = True
    reload_seconds: float = 0.0
    commands: list[str] = field(default_factory=list)
    queries: int = 0
    _silent_until: float = 0.0
    _down: bool = False
    _challenge: int = field(default_factory=lambda: int.from_bytes(os.urandom(4), "little"))
    _udp: socket.socket | None = None
    _tcp: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conns: list[socket.socket] = field(default_factory=list)

    # --- life -----------------------------------------------------------------------------

    def bind(self) -> None:
        """Open the UDP (and TCP) sockets on one free port."""
        for _attempt in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", self.port))
            port = udp.getsockname()[1]
            if not self.rcon:
                self._udp, self.port = udp, port
                return
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                udp.close()
                tcp.close()
                if self.port:
                    raise
                continue
            tcp.listen(16)
            tcp.settimeout(0.2)  # the accept loop sees stop() soon
            self._udp, self._tcp, self.port = udp, tcp, port
            return
        raise RuntimeError("no free port for both UDP and TCP")

    def start(self) -> StandInGameServer:
        self.bind()
        assert self._udp is not None
        self._spawn(serve_a2s, {self._udp.fileno(): self}, self._stop)
        if self._tcp is not None:
            self._spawn(self._accept_loop)
        return self

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for conn in list(self._conns):
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for sock in (self._udp, self._tcp):
            if sock is not None:
                with suppress(OSError):
                    sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> StandInGameServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def down(self) -> None:
        """Answer nothing (A2S dropped, RCON connections closed at once) until up()."""
        self._down = True

    def up(self) -> None:
        self._down = False

    @property
    def silent(self) -> bool:
        return self._down or time.monotonic() < self._silent_until

    # --- A2S ------------------------------------------------------------------------------

    def a2s_answer(self, data: bytes) -> bytes | None:
        """The datagram to send back for `data`, None for none."""
        if self.silent or not data.startswith(HEADER + A2S_INFO_REQUEST):
            return None
        rest = data[len(HEADER + A2S_INFO_REQUEST) :]
        if (
            len(rest) != 4
            or struct.unpack("<l", rest)[0] != struct.unpack("<l", self._challenge.to_bytes(4, "little"))[0]
        ):
            return HEADER + b"A" + self._challenge.to_bytes(4, "little")
        self.queries += 1
        return HEADER + self._info()

    def _info(self) -> bytes:
        def cstr(text: str) -> bytes:
            return text.encode() + b"\x00"

        body = (
            b"I" + bytes([17]) + cstr(self.name) + cstr(self.map) + cstr("left4dead2") + cstr("Left 4 Dead 2")
        )
        body += struct.pack("<H", 550) + bytes([self.players + self.bots, self.max_players, self.bots])
        body += b"dl" + bytes([0, 1]) + cstr("2.2.4.3") + bytes([0x80]) + struct.pack("<H", self.port)
        return body

    # --- RCON -----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._tcp is not None
        while not self._stop.is_set():
            try:
                conn, _peer = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.silent:
                conn.close()
                continue
            self._conns.append(conn)
            self._spawn(self._session, conn)

    def _session(self, conn: socket.socket) -> None:
        authed = False
        with conn:
            conn.settimeout(30)
            try:
                while not self._stop.is_set():
                    packet = _read_packet(conn)
                    if packet is None or self._down:
                        return
                    authed = self._handle(conn, authed, *packet)
            except (OSError, ConnectionError):
                return

    def _handle(self, conn: socket.socket, authed: bool, request_id: int, kind: int, body: bytes) -> bool:
        if kind == AUTH:
            ok = body.decode(errors="replace") == self.password
            conn.sendall(_packet(request_id if ok else -1, AUTH_RESPONSE, b""))
            return ok
        if kind == RESPONSE_VALUE:  # the empty packet after a split answer: mirrored, ends it
            conn.sendall(_packet(request_id, RESPONSE_VALUE, b""))
            return authed
        if not authed:
            conn.sendall(_packet(-1, AUTH_RESPONSE, b""))
            return authed
        answer = self.run(body.decode(errors="replace")).encode()
        for start in range(0, max(len(answer), 1), PACKET_PAYLOAD_MAX):
            conn.sendall(_packet(request_id, RESPONSE_VALUE, answer[start : start + PACKET_PAYLOAD_MAX]))
        return authed

    def run(self, command: str) -> str:
        with self._lock:
            self.commands.append(command)
        word, _, rest = command.partition(" ")
        if word == "changelevel" and rest:
            self.map = rest.strip()
            self._reload()
            return f"changelevel to {self.map}"
        if word == "mission_reload":
            self._reload()
            return "Reloading missions"
        if word == "update_addon_paths":
            return "Updating addon paths"
        if word == "say":
            return ""
        if word == LONG_ANSWER_COMMAND:
            return "\n".join(f'cvar_{i:05d} : 0 : , "sv" : a console variable' for i in range(400))
        return f'Unknown command "{word}"'

    def _reload(self) -> None:
        if self.reload_seconds:
            self._silent_until = time.monotonic() + self.reload_seconds


def _packet(request_id: int, kind: int, body: bytes) -> bytes:
    payload = struct.pack("<ii", request_id, kind) + body + b"\x00\x00"
    return struct.pack("<i", len(payload)) + payload


def _recv_exactly(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_packet(conn: socket.socket) -> tuple[int, int, bytes] | None:
    head = _recv_exactly(conn, 4)
    if head is None:
        return None
    (size,) = struct.unpack("<i", head)
    rest = _recv_exactly(conn, size)
    if rest is None or size < 10:
        return None
    request_id, kind = struct.unpack("<ii", rest[:8])
    return request_id, kind, rest[8:-2]


def serve_a2s(servers: dict[int, StandInGameServer], stop: threading.Event) -> None:
    """Answer A2S on every server's UDP socket from one thread (fd -> server)."""
    selector = selectors.DefaultSelector()
    sockets = {fd: server._udp for fd, server in servers.items()}
    for fd, sock in sockets.items():
        assert sock is not None
        selector.register(sock, selectors.EVENT_READ, fd)
    try:
        while not stop.is_set():
            for key, _events in selector.select(timeout=0.2):
                sock = sockets[key.data]
                assert sock is not None
                try:
                    data, peer = sock.recvfrom(2048)
                except OSError:
                    continue
                answer = servers[key.data].a2s_answer(data)
                if answer is not None:
                    with suppress(OSError):
                        sock.sendto(answer, peer)
    except (OSError, ValueError):
        return  # a socket was closed: stopping
    finally:
        selector.close()


class StandInFleet:
    """`count` A2S-only stand-ins answered by one thread (benchmarks)."""

    def __init__(self, count: int, **options: object) -> None:
        self.servers = [StandInGameServer(rcon=False, **options) for _ in range(count)]  # type: ignore[arg-type]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StandInFleet:
        for server in self.servers:
            server.bind()
        by_fd = {server._udp.fileno(): server for server in self.servers if server._udp is not None}
        self._thread = threading.Thread(target=serve_a2s, args=(by_fd, self._stop), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for server in self.servers:
            server.stop()

    def __iter__(self) -> Iterator[StandInGameServer]:
        return iter(self.servers)


def main() -> None:
    parser = argparse.ArgumentParser(description="a stand-in L4D2 server: A2S and RCON on one port")
    parser.add_argument("--port", type=int, default=27015)
    parser.add_argument("--password", default="secret")
    parser.add_argument("--players", type=int, default=0)
    parser.add_argument("--map", default="c2m1_highway")
    args = parser.parse_args()
    server = StandInGameServer(port=args.port, password=args.password, players=args.players, map=args.map)
    server.start()
    print(f"stand-in game server on 127.0.0.1:{server.port} (A2S udp, RCON tcp); Ctrl-C stops it", flush=True)
    shown = 0
    try:
        while True:
            time.sleep(1)
            for command in server.commands[shown:]:
                print("received:", command, flush=True)
            shown = len(server.commands)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
