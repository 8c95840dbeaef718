"""The driver side of a Ray sweep: `RayPool`, the `TrialBackend` that joins the cluster,
hands each trial to a Ray task, drains the hub and writes the run directories from what
arrives, retrying a trial whose worker died."""

from __future__ import annotations

import collections
import contextlib
import math
import os
import pickle
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nntui.engine.errors import ConfigError
from nntui.engine.raysweep.checks import (
    DEFAULT_RETRIES,
    ClusterUnreachable,
    RayMissing,
    _quiet_fd2,
    _ray,
    _silence_driver_prints,
    check_retries,
    first_line,
    forget_ray_atexit,
    parse_address,
    parse_gpus,
    probe,
    ray_installed,
    resolve_auto,
    task_death,
)
from nntui.engine.raysweep.trials import InOrder, Trial, checkpoint_epoch, close_sink, mark_status, preload_writer
from nntui.engine.raysweep.worker import Hub, ray_trial
from nntui.engine.sweep import (
    CHECKPOINT,
    Forwarder,
    TrialEvent,
    TrialFinished,
    TrialJob,
    TrialMessage,
    TrialStarted,
    TrialStatus,
    mark_failed,
    read_summary,
)

if TYPE_CHECKING:
    pass

CPUS_PER_TRIAL = 1.0
MAX_JOBS = 1024
"""What `Sweep(jobs=...)` gets without --jobs: the cluster's own size decides (see `limit`)."""
PREFETCH = 2
"""Tasks queued in Ray beyond the free slots, so a slot freed is refilled without waiting
for the driver's next poll."""
STOP_GRACE_S = 10.0
"""After a stop, how long a running trial has to save and report before its task is killed."""
HUB_TIMEOUT_S = 20.0
"""The driver's longest wait for the hub's answer before it asks whether the cluster is still there."""
HUB_LOST_S = 30.0
"""The hub unreachable this long while the head still answers: the sweep ends (exit 1)."""
CONNECT_TIMEOUT_S = 60.0
"""ray.init retries an address that does not answer for minutes: nntui gives up after this."""
RESOURCES_EVERY_S = 5.0
"""How often the driver re-reads the cluster's size (nodes join and leave)."""


# ----------------------------------------------------------------------------- the flags


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
        self._active: dict[int, Trial] = {}
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
            raise ClusterUnreachable(f"cannot join the Ray cluster at {address}: {first_line(exc)}") from None
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
            threading.Thread(target=preload_writer, name="nntui-preload", daemon=True).start()

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
            trial = Trial(job, retries_left=self.retries)
            self._active[job.index] = trial
            self._launch(trial)

    def _launch(self, trial: Trial) -> None:
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
        trial.pushes = InOrder()
        try:
            trial.ref = self._remote.options(
                num_cpus=CPUS_PER_TRIAL, num_gpus=self.gpus, max_retries=0, retry_exceptions=False,
                name=f"nntui {job.name}",
            ).remote(job, trial.attempt, blob, self._hub, self.shared_out)
        except Exception as exc:  # Ray refused the task: its cluster is gone, or something is badly wrong
            self._check_head(exc)
            trial.ref = None
            self._fail(trial, f"Ray did not take the trial's task ({task_death(exc)})")

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
                                     f"({first_line(exc)}); the run directories keep what was received; run the "
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
            seq, data = payload
            self.bytes_received[index] += len(data)
            for batch in trial.pushes.add(seq, data):  # in the order they were sent
                if index not in self._active:
                    break
                self._take_batch(trial, batch)

    def _take_batch(self, trial: Trial, payload: bytes) -> None:
        try:
            batch = pickle.loads(payload)
        except Exception as exc:  # e.g. torch missing on the driver
            self._fail(trial, f"cannot read what the worker sent ({type(exc).__name__}: {exc})")
            return
        for item in batch:
            if trial.job.index not in self._active:
                break
            if self.shared_out:
                self._take_message(trial, item)
            else:
                self._take_item(trial, item)

    def _take_message(self, trial: Trial, message: TrialMessage) -> None:
        """--ray-shared-out: the worker wrote its run directory; pass its messages on."""
        self._out.append(message)
        if isinstance(message, TrialFinished):
            del self._active[trial.job.index]

    def _take_item(self, trial: Trial, item: tuple[Any, ...]) -> None:
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

    def _end(self, trial: Trial, status: TrialStatus, error: str) -> None:
        """As `run_trial` ends a local trial: every trial has its run directory and summary."""
        sink, forward = trial.sink, trial.forward
        assert sink is not None and forward is not None
        forward.flush()
        rundir = Path(trial.job.rundir)
        if status in ("failed", "interrupted"):
            with contextlib.suppress(OSError):
                rundir.mkdir(parents=True, exist_ok=True)
            sink.finish(status, error)
        close_sink(sink)
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

    def _died(self, trial: Trial, exc: BaseException) -> None:
        from ray.exceptions import RayTaskError, TaskCancelledError

        how = task_death(exc)
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
            close_sink(trial.sink)
            trial.sink = None
        if trial.forward is not None:
            trial.forward.flush()
        if trial.retries_left > 0:
            trial.retries_left -= 1
            trial.attempt += 1
            from nntui.engine.events import Warned

            ck = checkpoint_epoch(Path(trial.job.rundir))
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

    def _fail(self, trial: Trial, error: str) -> None:
        if trial.sink is not None:
            close_sink(trial.sink)
            trial.sink = None
        if trial.ref is not None:
            _cancel(trial.ref, force=True)
        summary = mark_failed(Path(trial.job.rundir), error)
        self._active.pop(trial.job.index, None)
        self._out.append(TrialFinished(trial.job.index, "failed", summary))

    def _interrupted(self, trial: Trial, why: str) -> None:
        """A trial that could not report its own stop: saved as received, marked interrupted."""
        rundir = Path(trial.job.rundir)
        if trial.forward is not None:
            trial.forward.flush()
        if trial.sink is not None:
            trial.sink.finish("interrupted")
            close_sink(trial.sink)
            trial.sink = None
        summary = mark_status(rundir, "interrupted", why) if rundir.is_dir() else {}
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
            forget_ray_atexit()  # ray.shutdown can wait long on a head that is gone
            return
        if self._hub is not None:
            with contextlib.suppress(Exception):
                _ray().kill(self._hub)
            self._hub = None
        # (still connected: ray.init's atexit handler disconnects; the CLI leaves faster, see `leave`)


# ----------------------------------------------------------------------------- helpers


def _cancel(ref: Any, force: bool) -> None:
    if ref is None:
        return
    with contextlib.suppress(Exception):
        _ray().cancel(ref, force=force)
