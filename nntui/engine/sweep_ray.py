"""Sweeps on a Ray cluster: `nntui sweep --ray [ADDRESS]`.

    pool = RayPool(parse_address("10.0.0.5:6379"), gpus=0.25, retries=2)
    pool.connect()                          # ClusterUnreachable (exit 1) or ConfigError (exit 2)
    Sweep(base, grid, out, jobs=MAX_JOBS, backend=pool).run(listener)

`RayPool` is another `TrialBackend` (sweep.py): the same driver, leaderboard, run directories,
resume and signals as the local pool; only where trials run changes. nntui never starts a
cluster: it connects to one that `ray start` made, or says it cannot.

- **One trial, one Ray task** asking for 1 CPU (and `gpus` of a GPU, the trial's device
  then cuda). Plain tasks, not Ray Tune: a lecture trial trains for about a second, and
  Tune's per-trial actors and result directories would cost more than that.
- **Progress comes back live** through a `Hub` actor placed on the driver's node: every
  ~0.4 s a worker pushes what it has (pickled once, on the worker), and the driver drains
  the hub. The hub's answer to each push carries the stop flag: a Ctrl-C reaches a trial
  within a push, and the trial then saves and sends its last checkpoint, as a local one does.
- **Run directories without a shared file system**: a worker streams the engine's own
  events (every metrics row, the fits of the film, the summary's numbers) and each
  checkpoint object; the driver feeds them to a `RunDirSink`, the class a local trial
  writes with, so every file is the same and written atomically on the driver's disk.
  With `shared_out` the workers run `sweep.run_trial` on the shared --out themselves and
  only the thinned progress comes back.
- **Faults**: a worker process that dies mid-trial (killed, out of memory, its node gone)
  is retried from the last checkpoint the driver received, whose bytes ride with the task,
  up to `retries` times, then marked failed. A cluster that stops answering ends the sweep
  with one line (exit 1); what was received is saved and the same command resumes.

Ray is an optional extra (`pip install 'nntui[ray]'`): nothing here imports it before
`connect`, and tasks import this module again on the workers (it stays light: no torch at
its top level).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import importlib.util
import ipaddress
import math
import os
import pickle
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nntui.engine.atomic import atomic_write
from nntui.engine.errors import ConfigError, NntuiError
from nntui.engine.sweep import (
    CHECKPOINT,
    CHUNK_SECONDS,
    FIT_INTERVAL_S,
    Forwarder,
    TrialEvent,
    TrialFinished,
    TrialJob,
    TrialMessage,
    TrialStarted,
    TrialStatus,
    mark_failed,
    read_summary,
    run_trial,
    trial_outcome,
)

if TYPE_CHECKING:
    from nntui.engine.checkpoint import Checkpoint
    from nntui.engine.control import Control
    from nntui.engine.events import Event
    from nntui.engine.rundir import RunDirSink
    from nntui.engine.trainer import Trainer

INSTALL_HINT = "pip install 'nntui[ray]'"
CPUS_PER_TRIAL = 1.0
MAX_JOBS = 1024
"""What `Sweep(jobs=...)` gets without --jobs: the cluster's own size decides (see `limit`)."""
DEFAULT_RETRIES = 2
MAX_RETRIES = 100
SEND_INTERVAL_S = 0.4
"""A worker pushes at most this often: with the trainer's 0.25 s chunks, every metrics row
reaches the driver within about half a second."""
MAX_UNACKED = 8
"""Pushes a worker has in flight before it waits for the oldest (a slow driver slows the
trials rather than filling the workers' memory)."""

PREFETCH = 2
"""Tasks queued in Ray beyond the free slots, so a slot freed is refilled without waiting
for the driver's next poll."""
STOP_GRACE_S = 10.0
"""After a stop, how long a running trial has to save and report before its task is killed."""
HUB_TIMEOUT_S = 20.0
"""The driver's longest wait for the hub's answer before it asks whether the cluster is still there."""
HUB_LOST_S = 30.0
"""The hub unreachable this long while the head still answers: the sweep ends (exit 1)."""
PUSH_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 60.0
"""ray.init retries an address that does not answer for minutes: nntui gives up after this."""
PROBE_TIMEOUT_S = 5.0
RESOURCES_EVERY_S = 5.0
"""How often the driver re-reads the cluster's size (nodes join and leave)."""


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


def pool_from_flags(address: str | None, gpus: str | None, retries: int | None, shared_out: bool,
                    out: str | None) -> RayPool | None:
    """`nntui sweep`'s Ray flags → a RayPool (not yet connected), or None for a local sweep.
    Every refusal is a ConfigError (or RayMissing): one line, exit 2, before anything runs."""
    if address is None:
        for flag, given in (("--ray-gpus", gpus is not None), ("--retries", retries is not None),
                            ("--ray-shared-out", shared_out)):
            if given:
                raise ConfigError(flag, gpus if flag == "--ray-gpus" else retries if flag == "--retries" else True,
                                  "it is for a sweep on a Ray cluster: add --ray [ADDRESS]")
        return None
    if not ray_installed():
        raise RayMissing()
    address = parse_address(address)
    n_gpus = parse_gpus(gpus) if gpus is not None else 0.0
    n_retries = check_retries(retries if retries is not None else DEFAULT_RETRIES)
    if shared_out and not out:
        raise ConfigError("--ray-shared-out", True, "the workers need the sweep's folder: add --out SWEEPDIR, "
                          "a path every node of the cluster sees (a shared file system)")
    return RayPool(address, gpus=n_gpus, retries=n_retries, shared_out=shared_out)


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


# ----------------------------------------------------------------------------- the hub actor


class Hub:
    """The mailbox between the trials and the driver, on the driver's node (an async actor:
    a waiting `drain` never blocks a push). Holds each push as the worker pickled it."""

    def __init__(self) -> None:
        import asyncio

        self._items: list[tuple[int, int, Any]] = []
        self._stop: str | None = None
        self._news = asyncio.Event()

    async def hello(self, trial: int, attempt: int, where: str) -> str | None:
        """A task starting: the stop reason if the sweep is stopping (it then does nothing)."""
        if self._stop is not None:
            return self._stop
        self._items.append((trial, attempt, where))
        self._news.set()
        return None

    async def push(self, trial: int, attempt: int, payload: bytes) -> str | None:
        self._items.append((trial, attempt, payload))
        self._news.set()
        return self._stop

    async def drain(self, wait_s: float) -> list[tuple[int, int, Any]]:
        """Everything pushed since the last drain, waiting up to `wait_s` for something."""
        import asyncio

        if not self._items and wait_s > 0:
            self._news.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._news.wait(), wait_s)
        out, self._items = self._items, []
        return out

    async def stop(self, reason: str) -> list[tuple[int, int, Any]]:
        """Raise the stop flag and hand over what is left, in one step: a trial is either in
        this list (it said hello: it will stop and report) or will never start."""
        self._stop = reason
        out, self._items = self._items, []
        return out


# ----------------------------------------------------------------------------- the worker side


class _Outbox:
    """A task's channel to the hub: items batched every SEND_INTERVAL_S, pickled once, pushed
    without waiting (at most MAX_UNACKED unanswered, each answer read from its future, see
    `await_ref`); each answer may carry the stop flag."""

    def __init__(self, hub: Any, trial: int, attempt: int, on_stop: Callable[[str], None]) -> None:
        self.hub, self.trial, self.attempt, self.on_stop = hub, trial, attempt, on_stop
        self._items: list[Any] = []
        self._last = time.monotonic()
        self._unacked: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self.gone = False
        """The driver (its hub) no longer answers: the trial stops, nothing more is sent."""

    def add(self, item: Any, urgent: bool = False) -> None:
        with self._lock:
            self._items.append(item)
            if urgent or time.monotonic() - self._last >= SEND_INTERVAL_S:
                self._flush()

    def close(self) -> None:
        """Send what is left and wait until the hub has it all (the task returns after this)."""
        with self._lock:
            self._flush()
            while self._unacked and not self.gone:
                self._answer(self._unacked.popleft())

    def _flush(self) -> None:
        self._last = time.monotonic()
        if not self._items or self.gone:
            self._items = []
            return
        payload = pickle.dumps(self._items, protocol=pickle.HIGHEST_PROTOCOL)
        self._items = []
        self._unacked.append(self.hub.push.remote(self.trial, self.attempt, payload).future())
        while len(self._unacked) > MAX_UNACKED and not self.gone:
            self._answer(self._unacked.popleft())
        while self._unacked and self._unacked[0].done() and not self.gone:
            self._answer(self._unacked.popleft())

    def _answer(self, answer: concurrent.futures.Future[Any]) -> None:
        try:
            stop = answer.result(timeout=PUSH_TIMEOUT_S)
        except Exception:  # the hub (and so the driver) is gone: nobody to train for
            self.gone = True
            self.on_stop("the sweep's driver is gone")
            return
        if stop is not None:
            self.on_stop(str(stop))


def await_ref(ref: Any, timeout: float) -> Any:
    """A task's wait for an answer, through the ref's future, never ray.get or ray.wait: Ray lends
    the CPU of a task blocked in those to another task (measured: a third trial then started on
    the two cores, now and then even with ray.wait(timeout=0)); a future's wait is only a lock."""
    return ref.future().result(timeout=timeout)


_warm = False


def _warm_worker() -> None:
    """Once per Ray worker process, as the local pool warms its workers: torch imported and a
    tiny run trained, so a trial's own clock (elapsed_s, steps/s) counts training only."""
    global _warm
    if _warm:
        return
    _warm = True
    import torch

    from nntui.engine.sweep import _warm_up

    torch.set_num_threads(1)
    _warm_up()


def ray_trial(job: TrialJob, attempt: int, resume: bytes | None, hub: Any, shared_out: bool) -> str:
    """One trial as a Ray task (the body of every attempt). Returns "skipped" when the sweep
    was stopped before it began, else the trial's status (also sent through the hub)."""
    ray = _ray()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"  # before torch loads in a fresh worker (PITFALLS: a hidden OpenMP helper)
    _warm_worker()  # (on the sweep's first tasks the hub actor starts meanwhile)
    where = f"pid {os.getpid()} on {ray.util.get_node_ip_address()}"
    if await_ref(hub.hello.remote(job.index, attempt, where), PUSH_TIMEOUT_S) is not None:
        return "skipped"
    from nntui.engine.control import Control

    control = Control()
    outbox = _Outbox(hub, job.index, attempt, control.stop)
    try:
        if shared_out:
            def send(message: TrialMessage) -> None:
                if not isinstance(message, TrialStarted):  # the driver said it when the hello came
                    outbox.add(message, urgent=isinstance(message, TrialFinished))

            status: str = run_trial(job, send, control).status
        else:
            status = _stream_trial(job, resume, outbox, control)
    finally:
        outbox.close()
    return status


def _stream_trial(job: TrialJob, resume: bytes | None, outbox: _Outbox, control: Control) -> str:
    """Train through a Session with no run directory here: its events and checkpoints go to
    the driver, which writes them as a local trial's RunDirSink would."""
    from nntui.engine.events import RunFailed
    from nntui.engine.session import Session

    def send_event(event: Event) -> None:
        outbox.add(("event", event))

    def send_checkpoint(ck: Checkpoint) -> None:
        outbox.add(("checkpoint", ck), urgent=True)  # pickled now: its tensors may be the live ones

    try:
        ck = _load_resume(job, resume)

        def trainer(config: Any, **options: Any) -> Trainer:
            from nntui.engine.trainer import Trainer

            options.update(resume=ck, checkpoint_every_s=job.checkpoint_every, on_checkpoint=send_checkpoint)
            return Trainer(config, **options)

        session = Session(
            job.config, checkpoint_every=job.checkpoint_every, on_diverge=job.on_diverge,
            chunk_seconds=CHUNK_SECONDS, fit_interval=FIT_INTERVAL_S, threads=1, listeners=[send_event],
            trainer_factory=trainer,
        )
        result = session.run(control)
    except Exception as exc:  # the trial's failure, reported; never a dead task
        import traceback

        result = RunFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        send_event(result)
    status, error = trial_outcome(result, control)
    outbox.add(("end", status, error), urgent=True)
    return status


def _load_resume(job: TrialJob, blob: bytes | None) -> Checkpoint | None:
    """The driver's last checkpoint of this trial (the file's bytes) → a Checkpoint, checked as
    `Session` checks a resume directory."""
    if blob is None:
        return None
    from nntui.engine.checkpoint import load_checkpoint
    from nntui.engine.session import resume_overrides

    with tempfile.TemporaryDirectory(prefix="nntui-resume-") as tmp:
        (Path(tmp) / CHECKPOINT).write_bytes(blob)
        saved, ck = load_checkpoint(tmp)
    fields = {name: getattr(job.config, name) for name in job.config.__dataclass_fields__}
    if "lr" in resume_overrides(saved, fields, job.name):
        ck.lr = job.config.lr
    return ck


# ----------------------------------------------------------------------------- the driver side


@dataclass(frozen=True)
class Cluster:
    """What `connect` found."""

    address: str
    cpus: float
    gpus: float
    nodes: int

    def describe(self) -> str:
        def count(n: float, what: str) -> str:
            return f"{n:g} {what}{'s' * (n != 1)}"

        gpus = f", {count(self.gpus, 'GPU')}" if self.gpus else ""
        return f"the Ray cluster at {self.address} ({count(self.nodes, 'node')}, {count(self.cpus, 'CPU')}{gpus})"


@dataclass
class _Trial:
    """A trial the pool has taken: its job, its current attempt and what the driver holds."""

    job: TrialJob
    attempt: int = 0
    retries_left: int = 0
    ref: Any = None
    started: bool = False
    """This attempt said hello (it will report, or its death will be seen)."""
    ever_started: bool = False
    sink: RunDirSink | None = None
    forward: Forwarder | None = None
    deaths: list[str] = field(default_factory=list)


class RayPool:
    """Trials as Ray tasks on an existing cluster; see the module's docstring."""

    def __init__(self, address: str = "auto", *, gpus: float = 0.0, retries: int = DEFAULT_RETRIES,
                 shared_out: bool = False) -> None:
        self.requested = address
        self.address = address
        self.gpus = gpus
        self.retries = retries
        self.shared_out = shared_out
        self.cluster: Cluster | None = None
        self.bytes_received: collections.Counter[int] = collections.Counter()
        """Bytes each trial sent to the driver (pickled pushes), for the benchmark and the curious."""
        self.busy_s = 0.0
        """Driver time spent on what arrived (unpickling, writing run directories): what limits how
        many workers one driver can keep up with."""
        self._hub: Any = None
        self._remote: Any = None
        self._workers = 1
        self._capacity = 1
        self._resources_at = -math.inf
        self._queue: collections.deque[TrialJob] = collections.deque()
        self._active: dict[int, _Trial] = {}
        self._out: list[TrialMessage] = []
        self._items: list[tuple[int, int, Any]] = []
        self._stopping = False
        self._stop_reason = ""
        self._stop_deadline = math.inf
        self._lost = False
        self._hub_failing_since: float | None = None
        self._connected = False

    # -- connecting ------------------------------------------------------------------------

    def connect(self) -> Cluster:
        """Join the cluster as its driver. ClusterUnreachable (exit 1) when there is none to
        join, ConfigError (exit 2) when it cannot run what was asked (--ray-gpus, no GPUs)."""
        if not ray_installed():
            raise RayMissing()
        address = self.requested
        if address == "auto":
            found = resolve_auto()
            if found is None:
                raise ClusterUnreachable(
                    "--ray auto: no Ray cluster to join (RAY_ADDRESS is not set and no `ray start --head` ran on "
                    "this machine); start one, or give --ray HEAD:PORT"
                )
            address = parse_address(found, "RAY_ADDRESS" if os.environ.get("RAY_ADDRESS") else "--ray auto")
        self.address = address
        why = probe(address)
        if why is not None:
            raise ClusterUnreachable(f"cannot reach the Ray cluster at {address}: {why} (is `ray start --head` "
                                     "running there, and is the port open?)")
        self._init(address)
        resources = self._resources()
        nodes = sum(1 for key in resources if key.startswith("node:") and key != "node:__internal_head__")
        self.cluster = Cluster(address, resources.get("CPU", 0.0), resources.get("GPU", 0.0), max(nodes, 1))
        if self.gpus > 0 and self.cluster.gpus <= 0:
            raise ConfigError("--ray-gpus", f"{self.gpus:g}", f"the Ray cluster at {address} has no GPUs")
        if self.gpus > 0 and self.gpus > self.cluster.gpus:
            raise ConfigError("--ray-gpus", f"{self.gpus:g}",
                              f"the Ray cluster at {address} has {self.cluster.gpus:g} GPUs in all")
        if self.cluster.cpus < CPUS_PER_TRIAL:
            raise ClusterUnreachable(f"the Ray cluster at {address} offers no CPU for a trial (a head started "
                                     "with --num-cpus 0 and no other node?)")
        return self.cluster

    def _init(self, address: str) -> None:
        """ray.init(address) with a deadline: Ray retries an unanswering address for minutes."""
        import logging

        ray = _ray()
        done = threading.Event()
        stderr = [2]

        def watchdog() -> None:
            if not done.wait(CONNECT_TIMEOUT_S):
                line = (f"nntui: error: no answer from the Ray cluster at {address} within {CONNECT_TIMEOUT_S:.0f} s "
                        "(its port answers, but not as a Ray head; or this machine is not a node of the cluster: "
                        f"run `ray start --address {address}` here first)\n")
                with contextlib.suppress(OSError):
                    os.write(stderr[0], line.encode())
                os._exit(1)  # nothing is written before the connection: nothing to save

        threading.Thread(target=watchdog, name="nntui-ray-connect", daemon=True).start()
        saved = os.environ.pop("RAY_ADDRESS", None)  # Ray lets RAY_ADDRESS override the address it is given
        # Ray logs each failed task result nobody fetched ("Unhandled error ...") on the driver's stderr,
        # e.g. as its cluster goes away: the sweep reports every failure itself, in one line
        os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
        try:
            with _quiet_fd2() as real_stderr:
                stderr[0] = real_stderr
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
                         ignore_reinit_error=True)
        except Exception as exc:
            raise ClusterUnreachable(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from None
        finally:
            done.set()
            if saved is not None:
                os.environ["RAY_ADDRESS"] = saved
        self._connected = True
        _silence_driver_prints()

    def _resources(self) -> dict[str, float]:
        ray = _ray()
        return {str(k): float(v) for k, v in ray.cluster_resources().items()}

    def describe(self) -> str:
        return self.cluster.describe() if self.cluster else f"the Ray cluster at {self.address}"

    # -- TrialBackend -------------------------------------------------------------------------

    def start(self, workers: int) -> None:
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not self._connected:
            self.connect()
        self._workers = max(1, workers)
        here = ray.get_runtime_context().get_node_id()
        self._hub = ray.remote(Hub).options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False),
        ).remote()
        self._remote = ray.remote(ray_trial)
        self._refresh_capacity(force=True)
        if not self.shared_out:  # the run directories' writer needs torch: load it while the workers start
            threading.Thread(target=_preload_writer, name="nntui-preload", daemon=True).start()

    @property
    def limit(self) -> int:
        """Trials handed to Ray at once: the cluster's free slots plus a few queued, never more
        than the sweep's --jobs."""
        return min(self._workers, self._capacity + PREFETCH)

    def _refresh_capacity(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._resources_at < RESOURCES_EVERY_S:
            return
        self._resources_at = now
        try:
            resources = self._resources()
        except Exception:
            return  # a poll that follows will say what is wrong
        slots = int(resources.get("CPU", 0.0) // CPUS_PER_TRIAL)
        if self.gpus > 0:
            slots = min(slots, int(resources.get("GPU", 0.0) / self.gpus + 1e-9))
        self._capacity = max(1, slots)

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and not self._stopping and len(self._active) < self.limit:
            job = self._queue.popleft()
            trial = _Trial(job, retries_left=self.retries)
            self._active[job.index] = trial
            self._launch(trial)

    def _launch(self, trial: _Trial) -> None:
        """Start (or restart) a trial's task, from the last checkpoint the driver has."""
        job = trial.job
        rundir = Path(job.rundir)
        blob: bytes | None = None
        if self.shared_out:
            job = replace(job, rundir=str(rundir.resolve()), resume=(rundir / CHECKPOINT).is_file())
        else:
            with contextlib.suppress(OSError):
                blob = (rundir / CHECKPOINT).read_bytes()
            job = replace(job, resume=blob is not None)
        if self.gpus > 0:
            job = replace(job, config=replace(job.config, device="cuda"))
        trial.started = False
        trial.sink = None
        trial.forward = None
        try:
            trial.ref = self._remote.options(
                num_cpus=CPUS_PER_TRIAL, num_gpus=self.gpus, max_retries=0, retry_exceptions=False,
                name=f"nntui {job.name}",
            ).remote(job, trial.attempt, blob, self._hub, self.shared_out)
        except Exception as exc:  # Ray refused the task: its cluster is gone, or something is badly wrong
            self._check_head(exc)
            trial.ref = None
            self._fail(trial, f"Ray did not take the trial's task ({_death(exc)})")

    def poll(self, timeout: float) -> list[TrialMessage]:
        ray = _ray()
        if self._hub is None:
            time.sleep(timeout)
            return []
        self._refresh_capacity()
        try:
            if self._items:
                items, self._items = self._items, []
                items += ray.get(self._hub.drain.remote(0.0), timeout=HUB_TIMEOUT_S)
            else:
                items = ray.get(self._hub.drain.remote(timeout if not self._out else 0.0),
                                timeout=timeout + HUB_TIMEOUT_S)
            self._hub_failing_since = None
        except Exception as exc:
            self._hub_trouble(exc)
            items = []
        began = time.perf_counter()
        self._take(items)
        self.busy_s += time.perf_counter() - began
        self._reap()
        if self._stopping and time.monotonic() > self._stop_deadline:
            self._give_up_on_stop()
        self._dispatch()
        out = list(self._out)
        self._out.clear()  # (cleared, not replaced: each trial's Forwarder holds its append)
        return out

    def _check_head(self, exc: BaseException) -> None:
        """ClusterUnreachable if the head no longer answers (else nothing: a worker or node died)."""
        why = probe(self.address, timeout=2.0)
        if why is not None:
            self._lost = True
            raise ClusterUnreachable(f"lost the Ray cluster at {self.address}: its head does not answer ({why}); the "
                                     "run directories keep what was received; run the same command again to resume")

    def _hub_trouble(self, exc: BaseException) -> None:
        """The hub did not answer: the cluster is gone (one line, exit 1) or it is a hiccup."""
        self._check_head(exc)
        now = time.monotonic()
        if self._hub_failing_since is None:
            self._hub_failing_since = now
        if now - self._hub_failing_since > HUB_LOST_S:
            self._lost = True
            raise ClusterUnreachable(f"lost the Ray cluster at {self.address}: no answer for {HUB_LOST_S:.0f} s "
                                     f"({_first_line(exc)}); the run directories keep what was received; run the "
                                     "same command again to resume")

    # -- messages from the workers ---------------------------------------------------------------

    def _take(self, items: list[tuple[int, int, Any]]) -> None:
        for index, attempt, payload in items:
            trial = self._active.get(index)
            if trial is None or attempt != trial.attempt:
                continue  # a stopped or earlier attempt's late words
            if isinstance(payload, str):  # hello
                trial.started = True
                self._out.append(TrialStarted(index, trial.ever_started or trial.job.resume, payload))
                trial.ever_started = True
                continue
            self.bytes_received[index] += len(payload)
            try:
                batch = pickle.loads(payload)
            except Exception as exc:  # e.g. torch missing on the driver
                self._fail(trial, f"cannot read what the worker sent ({type(exc).__name__}: {exc})")
                continue
            for item in batch:
                if index not in self._active:
                    break
                if self.shared_out:
                    self._take_message(trial, item)
                else:
                    self._take_item(trial, item)

    def _take_message(self, trial: _Trial, message: TrialMessage) -> None:
        """--ray-shared-out: the worker wrote its run directory; pass its messages on."""
        self._out.append(message)
        if isinstance(message, TrialFinished):
            del self._active[trial.job.index]

    def _take_item(self, trial: _Trial, item: tuple[Any, ...]) -> None:
        """The driver writes the run directory: the worker's events into a RunDirSink (as a local
        Session's sink gets them), its checkpoints through the sink's own save."""
        kind = item[0]
        if trial.sink is None:
            from nntui.engine.rundir import RunDirSink

            index = trial.job.index

            def warn(message: str) -> None:
                from nntui.engine.events import Warned

                self._out.append(TrialEvent(index, Warned(message)))

            resume = (Path(trial.job.rundir) / CHECKPOINT).is_file()
            trial.sink = RunDirSink(trial.job.rundir, on_error=warn, resume=resume)
            trial.forward = Forwarder(index, self._out.append)
        sink, forward = trial.sink, trial.forward
        assert forward is not None
        if kind == "event":
            forward(item[1])
            sink(item[1])
        elif kind == "checkpoint":
            sink.save_checkpoint(item[1])
        elif kind == "end":
            self._end(trial, item[1], item[2])

    def _end(self, trial: _Trial, status: TrialStatus, error: str) -> None:
        """As `run_trial` ends a local trial: every trial has its run directory and summary."""
        sink, forward = trial.sink, trial.forward
        assert sink is not None and forward is not None
        forward.flush()
        rundir = Path(trial.job.rundir)
        if status in ("failed", "interrupted"):
            with contextlib.suppress(OSError):
                rundir.mkdir(parents=True, exist_ok=True)
            sink.finish(status, error)
        _close_sink(sink)
        summary = read_summary(rundir) or sink.record.summary(status, error)
        del self._active[trial.job.index]
        self._out.append(TrialFinished(trial.job.index, status, summary))

    # -- tasks that ended ---------------------------------------------------------------------------

    def _reap(self) -> None:
        """Tasks that returned or died: a death mid-trial is retried (or fails the trial)."""
        ray = _ray()
        refs = {t.ref: t for t in self._active.values() if t.ref is not None}
        if not refs:
            return
        try:
            ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
        except Exception as exc:
            self._hub_trouble(exc)
            return
        if not ready:
            return
        with contextlib.suppress(Exception):  # words sent just before a death come first
            self._take(ray.get(self._hub.drain.remote(0.0), timeout=HUB_TIMEOUT_S))
        for ref in ready:
            trial = refs[ref]
            if self._active.get(trial.job.index) is not trial or trial.ref is not ref:
                continue  # it reported its end: the task's return is only the echo
            try:
                result = ray.get(ref, timeout=HUB_TIMEOUT_S)
            except Exception as exc:
                self._died(trial, exc)
                continue
            if result == "skipped":  # (stopped before its hello: `stop` already counted it)
                del self._active[trial.job.index]
                self._out.append(TrialFinished(trial.job.index, "not started", {}))
            else:  # returned without its end message reaching the hub (it was cut off)
                self._died(trial, RuntimeError(f"the task returned {result!r} but its last report was lost"))

    def _died(self, trial: _Trial, exc: BaseException) -> None:
        from ray.exceptions import RayTaskError, TaskCancelledError

        how = _death(exc)
        if isinstance(exc, TaskCancelledError) or self._stopping:
            self._interrupted(trial, self._stop_reason or f"its task was cancelled ({how})")
            return
        if isinstance(exc, RayTaskError):  # the task's own code raised (not a death: no retry)
            missing = "No module named 'nntui" in how
            hint = " (is nntui installed on every node of the cluster?)" if missing else ""
            self._fail(trial, f"the trial's task failed on the worker: {how}{hint}")
            return
        self._check_head(exc)  # a worker that died with its cluster: one line about the cluster, no retries
        trial.deaths.append(how)
        if trial.sink is not None:
            _close_sink(trial.sink)
            trial.sink = None
        if trial.forward is not None:
            trial.forward.flush()
        if trial.retries_left > 0:
            trial.retries_left -= 1
            trial.attempt += 1
            from nntui.engine.events import Warned

            ck = _checkpoint_epoch(Path(trial.job.rundir))
            since = f"its last checkpoint received (epoch {ck})" if ck is not None else "the start (no checkpoint yet)"
            self._out.append(TrialEvent(trial.job.index, Warned(
                f"the worker running this trial died ({how}); retry {self.retries - trial.retries_left} of "
                f"{self.retries}, from {since}"
            )))
            self._launch(trial)
            return
        tries = len(trial.deaths)
        self._fail(trial, f"the worker running this trial died ({how}); {tries} attempt{'s' * (tries != 1)}, "
                          f"--retries {self.retries}")

    def _fail(self, trial: _Trial, error: str) -> None:
        if trial.sink is not None:
            _close_sink(trial.sink)
            trial.sink = None
        if trial.ref is not None:
            _cancel(trial.ref, force=True)
        summary = mark_failed(Path(trial.job.rundir), error)
        self._active.pop(trial.job.index, None)
        self._out.append(TrialFinished(trial.job.index, "failed", summary))

    def _interrupted(self, trial: _Trial, why: str) -> None:
        """A trial that could not report its own stop: saved as received, marked interrupted."""
        rundir = Path(trial.job.rundir)
        if trial.forward is not None:
            trial.forward.flush()
        if trial.sink is not None:
            trial.sink.finish("interrupted")
            _close_sink(trial.sink)
            trial.sink = None
        summary = _mark(rundir, "interrupted", why) if rundir.is_dir() else {}
        self._active.pop(trial.job.index, None)
        self._out.append(TrialFinished(trial.job.index, "interrupted", summary))

    # -- stopping ----------------------------------------------------------------------------------

    def stop(self, reason: str) -> list[TrialJob]:
        ray = _ray()
        self._stopping = True
        self._stop_reason = reason
        self._stop_deadline = time.monotonic() + STOP_GRACE_S
        dropped = list(self._queue)
        self._queue.clear()
        if self._hub is None:
            return dropped
        try:  # one step: who said hello is in here and will stop; the rest never start
            self._items += ray.get(self._hub.stop.remote(reason), timeout=HUB_TIMEOUT_S)
        except Exception as exc:
            self._hub_trouble(exc)
        self._take(self._items)
        self._items = []
        for trial in list(self._active.values()):
            if trial.started:
                continue
            _cancel(trial.ref, force=False)
            if trial.ever_started:  # a retry that had not begun: its directory holds the last checkpoint
                self._interrupted(trial, reason)
            else:
                del self._active[trial.job.index]
                dropped.append(trial.job)
        return dropped

    def _give_up_on_stop(self) -> None:
        """Trials that did not report within STOP_GRACE_S of a stop: killed, saved as received."""
        for trial in list(self._active.values()):
            _cancel(trial.ref, force=True)
            self._interrupted(trial, self._stop_reason)

    def close(self) -> None:
        """Kill what still runs (a second Ctrl-C, an error), save what was received, disconnect."""
        for trial in list(self._active.values()):
            if not self._lost:
                _cancel(trial.ref, force=True)
            self._interrupted(trial, self._stop_reason or "the sweep ended")
        self._out.clear()
        if self._lost:
            _forget_ray_atexit()  # ray.shutdown can wait long on a head that is gone
            return
        if self._hub is not None:
            with contextlib.suppress(Exception):
                _ray().kill(self._hub)
            self._hub = None
        # (still connected: ray.init's atexit handler disconnects; the CLI leaves faster, see `leave`)


# ----------------------------------------------------------------------------- helpers


def _preload_writer() -> None:
    with contextlib.suppress(Exception):
        import nntui.engine.rundir  # noqa: F401


def _close_sink(sink: RunDirSink) -> None:
    with contextlib.suppress(OSError):
        sink.close()


def _cancel(ref: Any, force: bool) -> None:
    if ref is None:
        return
    with contextlib.suppress(Exception):
        _ray().cancel(ref, force=force)


def _mark(rundir: Path, status: str, message: str) -> dict[str, Any]:
    """A run directory's summary.json says `status` (its numbers kept; `message` unless it has one)."""
    from nntui.engine.record import dumps_json

    summary = read_summary(rundir)
    summary["status"] = status
    summary.setdefault("message", message)
    with contextlib.suppress(OSError):
        atomic_write(rundir / "summary.json", dumps_json(summary, indent=2) + "\n")
    return summary


def _checkpoint_epoch(rundir: Path) -> int | None:
    try:
        from nntui.engine.checkpoint import read_meta

        return int(read_meta(rundir / CHECKPOINT)["epoch"])
    except Exception:
        return None


def _ray() -> Any:
    """The ray module, imported on first use (it is optional) and typed Any: some of its public
    functions carry no annotations, and their calls would fail `mypy --strict`."""
    import ray

    return ray


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _death(exc: BaseException) -> str:
    """A task's end in a few words: the Ray error (or, for an exception in the task's own code,
    that exception) and its first line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and type(exc).__name__.startswith("RayTaskError"):
        exc = cause
    return f"{type(exc).__name__}: {_first_line(exc)}"


def leave(pool: RayPool | None, code: int) -> int:
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


def _forget_ray_atexit() -> None:
    """ray.init registered ray.shutdown to run at exit; with the head gone it can block."""
    with contextlib.suppress(Exception):
        import atexit

        ray = _ray()
        atexit.unregister(ray.shutdown)
        from ray._private import worker

        atexit.unregister(worker.shutdown)
