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
`connect`, and tasks import `raysweep.worker` again on the workers: Ray pickles `ray_trial`
and `Hub` by reference, by module path (the package stays light: no torch at its top level).

- `checks`: the errors, the flags' checks, finding and probing the head, quieting Ray.
- `worker`: the hub actor and the trial's task (what runs on the workers).
- `pool`: the driver side: `RayPool`, `pool_from_flags`, `leave`.
"""

from nntui.engine.raysweep.checks import (
    DEFAULT_RETRIES,
    INSTALL_HINT,
    MAX_RETRIES,
    ClusterUnreachable,
    RayMissing,
    check_retries,
    leave,
    parse_address,
    parse_gpus,
    probe,
    ray_installed,
    resolve_auto,
)
from nntui.engine.raysweep.pool import MAX_JOBS, Cluster, RayPool, pool_from_flags

__all__ = [
    "DEFAULT_RETRIES",
    "INSTALL_HINT",
    "MAX_JOBS",
    "MAX_RETRIES",
    "Cluster",
    "ClusterUnreachable",
    "RayMissing",
    "RayPool",
    "check_retries",
    "leave",
    "parse_address",
    "parse_gpus",
    "pool_from_flags",
    "probe",
    "ray_installed",
    "resolve_auto",
]
