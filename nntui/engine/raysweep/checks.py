"""Around a Ray sweep: its flags checked, its errors (and Ray's, in a line), the head found and
probed, Ray's own output kept off the terminal, the driver's exit. Nothing here imports Ray
at its top level: --help and bad input stay instant, and the engine imports without Ray
installed."""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import math
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nntui.engine.errors import ConfigError, NntuiError

INSTALL_HINT = "pip install 'nntui[ray]'"
DEFAULT_RETRIES = 2
MAX_RETRIES = 100
PROBE_TIMEOUT_S = 5.0


# ----------------------------------------------------------------------------- errors, checks


class RayMissing(NntuiError):
    """--ray without Ray installed (exit 2)."""

    def __init__(self) -> None:
        super().__init__(f"--ray needs Ray, which is not installed here: {INSTALL_HINT}")


class ClusterUnreachable(NntuiError):
    """The cluster cannot be reached, or stopped answering mid-sweep (exit 1; the sweep resumes)."""


def ray_installed() -> bool:
    """Without importing it (about a second): --help and bad input stay instant."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a blocked or half-installed package
        return False


_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*$")


def parse_address(text: str, flag: str = "--ray") -> str:
    """`auto` or HOST:PORT (a name, an IPv4 address, or [IPv6]:PORT), as `ray start` prints it."""
    text = text.strip()
    if text == "auto":
        return text
    if "://" in text:
        raise ConfigError(flag, text, "give the head's HOST:PORT as `ray start --head` prints it (e.g. 10.0.0.5:6379); "
                          "Ray Client (ray://) and dashboard (http://) addresses are not supported: run nntui sweep "
                          "on a node of the cluster")
    host, sep, port = text.rpartition(":")
    bad = ConfigError(flag, text, "expected HOST:PORT, the head's address as `ray start --head` prints it "
                      "(e.g. 10.0.0.5:6379), or auto")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise bad
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise bad from None
        return text
    if not _HOST.match(host) or (host.replace(".", "").isdigit() and not _is_ipv4(host)):
        raise bad
    return text


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def parse_gpus(text: str) -> float:
    """GPUs per trial: 0 (none), a fraction (0.25: four trials share one), or a whole number."""
    allowed = "expected GPUs per trial: 0.25 packs four trials on a GPU, 1 gives each its own"
    try:
        value = float(text)
    except ValueError:
        raise ConfigError("--ray-gpus", text, allowed) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError("--ray-gpus", text, allowed)
    if value > 1 and not value.is_integer():
        raise ConfigError("--ray-gpus", text, "more than one GPU per trial must be a whole number (Ray's rule)")
    if value > 64:
        raise ConfigError("--ray-gpus", text, "expected at most 64 GPUs per trial")
    return value


def check_retries(retries: int) -> int:
    if not 0 <= retries <= MAX_RETRIES:
        raise ConfigError("--retries", retries, f"expected 0 to {MAX_RETRIES} retries of a trial whose worker died")
    return retries


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def resolve_auto() -> str | None:
    """`auto`: RAY_ADDRESS, else the head that `ray start` started on this machine last (Ray's
    own lookup), else None."""
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if env:
        return env
    try:
        from ray._private.services import get_ray_address_from_environment

        found = get_ray_address_from_environment("auto", None)
    except ConnectionError:
        return None
    except Exception:  # Ray moved its private helper: read the file `ray start` writes
        path = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        try:
            found = path.read_text().strip() or None
        except OSError:
            return None
    return str(found) if found else None


def probe(address: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if something listens at `address`, else why not (refused, timed out, no such host)."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror as exc:
        return f"the host name does not resolve ({exc.strerror or exc})"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[int]:
    """Ray's C++ core writes its retry warnings straight to file descriptor 2 while it
    connects; a refusal is one line, so they go to a scratch file meanwhile. Yields a
    descriptor of the real stderr (for a message that must get out meanwhile)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield 2
        return
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield saved
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _silence_driver_prints() -> None:
    """Ray prints its raylet's and autoscaler's notes (a worker died, a request cannot be
    scheduled yet) on the driver's stdout, where --json puts the leaderboard. The sweep reports
    those itself, in its own words: drop them. (A private hook: skipped if Ray renames it.)"""
    with contextlib.suppress(Exception):
        from ray._private import worker

        def dropped(data: Any, ignore_prefix: bool) -> None:
            return None

        if hasattr(worker, "print_to_stdstream"):
            worker.print_to_stdstream = dropped


def _ray() -> Any:
    """The ray module, imported on first use (it is optional) and typed Any: some of its public
    functions carry no annotations, and their calls would fail `mypy --strict`."""
    import ray

    return ray


# ----------------------------------------------------------------------------- Ray's errors, the driver's exit


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def task_death(exc: BaseException) -> str:
    """A task's end in a few words: the Ray error (or, for an exception in the task's own code,
    that exception) and its first line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and type(exc).__name__.startswith("RayTaskError"):
        exc = cause
    return f"{type(exc).__name__}: {first_line(exc)}"


def leave(pool: object | None, code: int) -> int:
    """The end of an `nntui sweep` process, once every file is written: a Ray driver leaves at
    once (the cluster ends the job when its connection closes). Its teardown otherwise took most
    of a second of a 10 s sweep (ray.shutdown 0.3 s, then Ray's and torch's interpreter exit),
    and crashed with SIGSEGV when the head had gone away. A local sweep returns `code`."""
    if pool is None:
        return code
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def forget_ray_atexit() -> None:
    """ray.init registered ray.shutdown to run at exit; with the head gone it can block."""
    with contextlib.suppress(Exception):
        import atexit

        ray = _ray()
        atexit.unregister(ray.shutdown)
        from ray._private import worker

        atexit.unregister(worker.shutdown)
