"""A real Ray cluster for the Ray tests: one head per test session, on loopback only.

`ray start --head --num-cpus 2 --node-ip-address 127.0.0.1 --port <free> ...` with its own
temp dir, so the session stops exactly the processes it started (`ray stop` would stop every
Ray cluster on the machine, someone else's too). What keeps it on loopback:

- RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: Ray otherwise replaces 127.0.0.1 by the machine's own
  interface address (`resolve_ip_for_localhost`), for the node and for every driver, and its
  servers listen there. (Drivers need it too, or they look for a node at that address.)
- HOME with a ray_bootstrap_config.yaml: the head's usage-stats module otherwise asks the cloud
  metadata endpoints (169.254.169.254, metadata.google.internal) which cloud it runs on,
  even with --disable-usage-stats.
- RAY_USAGE_STATS_REPORT_URL on loopback: with usage stats disabled the head still sends one
  "disabled" report to Ray's server; here it goes to a closed port on 127.0.0.1.

`NetWatch` samples the sockets of every process the tests started (the cluster's, this
pytest process and its children: the sweeps) twice a second, from /proc; tests assert that
none had a peer outside 127.0.0.0/8 (or ::1) and that nothing listened beyond loopback.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

if importlib.util.find_spec("ray") is None:  # the optional extra: pip install 'nntui[ray]'
    pytest.skip("Ray is not installed (pip install 'nntui[ray]'); the Ray sweep tests need a real cluster",
                allow_module_level=True)

LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
    "OMP_NUM_THREADS": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ----------------------------------------------------------------------------- processes


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def with_descendants(roots: set[int]) -> set[int]:
    parents = {pid: _ppid(pid) for pid in all_pids()}
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if pid not in found and ppid in found:
                found.add(pid)
                grew = True
    return found


# ----------------------------------------------------------------------------- sockets


def _addr(text: str) -> tuple[str, int]:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(host, 16)))
    else:
        ip = socket.inet_ntop(socket.AF_INET6, b"".join(struct.pack("<I", int(host[i:i + 8], 16))
                                                         for i in range(0, 32, 8)))
    return ip, int(port, 16)


def socket_table() -> dict[int, tuple[str, tuple[str, int], tuple[str, int], str]]:
    """inode → (protocol, local, remote, state) for every TCP/UDP socket of this namespace."""
    table = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
                parts = line.split()
                table[int(parts[9])] = (proto, _addr(parts[1]), _addr(parts[2]), parts[3])
    return table


def socket_inodes(pid: int) -> set[int]:
    out = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    out.add(int(link[8:-1]))
    return out


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def is_unspecified(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_unspecified


@dataclass
class NetWatch:
    """Samples the sockets of the test's processes; `problems` lists what left loopback."""

    roots: set[int]
    """This pytest process (the sweeps are its children, followed)."""
    markers: list[str]
    """Clusters' temp dirs: their processes carry them in their command lines (workers are followed)."""
    samples: int = 0
    problems: list[str] = field(default_factory=list)
    sockets_seen: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def pids(self) -> set[int]:
        marked = {pid for pid in all_pids() if any(m in _cmdline(pid) for m in self.markers)}
        return with_descendants(self.roots | marked)

    def sample(self) -> None:
        table = socket_table()
        for pid in self.pids():
            for inode in socket_inodes(pid):
                entry = table.get(inode)
                if entry is None:
                    continue  # a unix socket
                self.sockets_seen += 1
                proto, local, remote, state = entry
                listening = (proto.startswith("tcp") and state == "0A") or (
                    proto.startswith("udp") and is_unspecified(remote[0]))
                where = f"{_cmdline(pid)[:80]!r} (pid {pid}): {proto} {local[0]}:{local[1]} -> {remote[0]}:{remote[1]}"
                if listening:
                    if not is_loopback(local[0]):
                        self.problems.append(f"listens beyond loopback: {where}")
                elif not is_loopback(remote[0]):
                    self.problems.append(f"talks beyond loopback: {where}")
        self.samples += 1

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(0.5):
                with contextlib.suppress(Exception):
                    self.sample()

        self._thread = threading.Thread(target=loop, name="netwatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


# ----------------------------------------------------------------------------- the cluster


@dataclass
class RayCluster:
    address: str
    temp_dir: Path
    env: dict[str, str]
    """The environment for sweeps run against this cluster (loopback settings, no RAY_ADDRESS)."""
    net: NetWatch

    def processes(self) -> set[int]:
        marker = str(self.temp_dir)
        own = {os.getpid()}
        return with_descendants({pid for pid in all_pids() if marker in _cmdline(pid)}) - own

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM this cluster's processes (its temp dir is in their command lines; workers are
        the raylet's children), SIGKILL what is left after `grace` (gcs_server can ignore SIGTERM)."""
        pids = self.processes()
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not all(_gone(p) for p in pids):
            time.sleep(0.1)
        for pid in self.processes() | {p for p in pids if not _gone(p)}:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _gone(pid: int) -> bool:
    """Exited (or a zombie waiting for its parent to read it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def start_cluster(cpus: int = 2) -> RayCluster:
    """`ray start --head` on a free loopback port, with its own temp dir (short: Ray's unix
    sockets live under it, and a socket path may not exceed 107 bytes)."""
    temp = Path(tempfile.mkdtemp(prefix="nntui-ray-", dir="/tmp"))
    home = temp / "home"
    home.mkdir()
    (home / "ray_bootstrap_config.yaml").write_text("{}\n")
    env = {**os.environ, **LOOPBACK_ENV, "HOME": str(home)}
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    ray_bin = Path(sys.executable).with_name("ray")
    cmd = [str(ray_bin), "start", "--head", "--num-cpus", str(cpus), "--node-ip-address", "127.0.0.1",
           "--port", str(port), "--include-dashboard=false", "--disable-usage-stats",
           "--dashboard-host", "127.0.0.1", "--temp-dir", str(temp / "r")]
    net = NetWatch(roots={os.getpid()}, markers=[str(temp)])
    cluster = RayCluster(f"127.0.0.1:{port}", temp, env, net)
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        cluster.stop()
        raise
    if done.returncode != 0:
        cluster.stop()
        raise RuntimeError(f"ray start failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """The session's cluster: 2 CPUs on loopback, its sockets watched until the end."""
    cluster = start_cluster()
    cluster.net.start()
    try:
        yield cluster
    finally:
        cluster.net.stop()
        cluster.stop()
        shutil.rmtree(cluster.temp_dir, ignore_errors=True)


@pytest.fixture
def spare_cluster(ray_cluster: RayCluster) -> Iterator[RayCluster]:
    """A second, 1-CPU cluster for a test to take away; watched by the session's NetWatch."""
    cluster = start_cluster(cpus=1)
    ray_cluster.net.markers.append(str(cluster.temp_dir))
    try:
        yield cluster
    finally:
        cluster.stop(grace=2.0)
        shutil.rmtree(cluster.temp_dir, ignore_errors=True)
