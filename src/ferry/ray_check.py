"""`ferry check --ray`: the shards of `--workers N` as Ray tasks, on the cluster RAY_ADDRESS names or on a local Ray
started for the run and shut down after it.

Each task is `ferry.check._check_shard` on one contiguous shard, the function the process pool runs: it loads the
models once, gives each runtime the task's CPU share (FERRY_THREADS), and returns its accumulators. The driver folds
the returned shards in shard order with `_Shard.merge`, so the verdict and every number are the process pool's,
which are one process's (tests/test_ray_check.py holds the three JSONs equal, failing photos included).

Where things are read from: the models (and a saved reference DIR) by path, so on a cluster they must be on storage
every node mounts at the same path; the photos either by path too (`paths`), or read here and sent to the tasks
through Ray's object store (`send`), for photos only this machine has. `auto` reads paths when every node of the
cluster is this machine (a local Ray always is), and sends otherwise.

Nothing reaches the network: Ray's usage statistics are off (RAY_USAGE_STATS_ENABLED=0), the local Ray has no
dashboard, and the tasks get ORT_DISABLE_TELEMETRY=1 before they import onnxruntime. Ray is imported only here, only
for --ray: `import ferry` never pays for it, and without it `--ray` says `install ferry[ray]`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ferry.errors import FerryError

if TYPE_CHECKING:
    from ferry.check import CheckOptions

PHOTO_MODES = ("auto", "paths", "send")
# what every task's process must have before it imports a runtime (a cluster's workers do not inherit our env)
TASK_ENV = {"ORT_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass
class _TaskError:
    """A FerryError raised in a task, sent back as a value: Ray would wrap it in its own traceback."""

    message: str


def import_ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before ray is imported: it reads it then
    try:
        import ray
    except ImportError:
        raise FerryError("--ray needs Ray: pip install 'ferry[ray]'") from None
    return ray


def ray_runner(photos: str = "auto"):
    """The runner `ferry.check._check_parallel` calls with (shared arguments, shards, progress)."""
    if photos not in PHOTO_MODES:
        raise FerryError(f"--ray-photos {photos}: use one of {', '.join(PHOTO_MODES)}")
    import_ray()  # a missing Ray is said before any model loads

    def run(shared: CheckOptions, shards: list[list[Path]], progress) -> tuple[list, str]:
        return run_shards(shared, shards, progress, photos)

    return run


def run_shards(shared: CheckOptions, shards: list[list[Path]], progress, photos: str = "auto") -> tuple[list, str]:
    ray = import_ray()
    started, where = _connect(ray)
    try:
        share = _cpu_share(ray, len(shards))
        mode = photos if photos != "auto" else ("paths" if _one_machine(ray) else "send")
        given, shared = shared, _absolute(shared)
        task = ray.remote(_task).options(num_cpus=share, max_retries=0,
                                         runtime_env={"env_vars": {**TASK_ENV, "FERRY_THREADS": str(share)}})
        refs = []
        for shard in shards:
            files = [str(Path(f).resolve()) for f in shard]
            sent = [(Path(f).name, ray.put(Path(f).read_bytes())) for f in files] if mode == "send" else None
            refs.append(task.remote(shared, files, sent, share))
        results = _gather(ray, refs, shards, progress)
    finally:
        if started:
            ray.shutdown()
    for r in results:
        if isinstance(r, _TaskError):
            raise FerryError(r.message)
    back = {str(Path(_absolute_path(t))): str(Path(t[0] if isinstance(t, tuple) else t)) for t in given.targets}
    for r in results:  # the rows name the files as the user gave them, as one process's do
        r.pairs = [(back.get(path, path), *rest) for path, *rest in r.pairs]
    sizes = ", ".join(str(len(x)) for x in shards)
    return results, (f"checked in {len(shards)} Ray tasks ({sizes} photos) on {where}, {share} CPUs each, "
                     f"photos {'sent through the object store' if mode == 'send' else 'read by path'}")


def _address() -> str:
    return os.environ.get("RAY_ADDRESS", "")


def _connect(ray) -> tuple[bool, str]:
    """Join the cluster RAY_ADDRESS names, or start a local Ray: (whether we started it, and so shut it down; where
    the tasks run, for the notes). A Ray the caller already initialised (the Python API inside a Ray program) is used
    as it is."""
    if ray.is_initialized():
        return False, "the Ray this program initialised"
    quiet = dict(log_to_driver=False, configure_logging=True, logging_level=logging.ERROR)
    address = _address()
    try:
        if address:
            ray.init(address=address, **quiet)
            return False, f"the Ray cluster at {address}"
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet)
        return True, "a local Ray started for the run"
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"RAY_ADDRESS={address}" if address else "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FerryError(f"{where}: Ray did not start ({first}); "
                         + ("check the address, or unset RAY_ADDRESS to run on a local Ray" if address
                            else "run without --ray, or use --workers N")) from None


def _cpu_share(ray, tasks: int) -> int:
    """CPUs each task asks for and FERRY_THREADS it gets: the cluster's CPUs over the tasks, at most one node's."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    per_node = max((int(n.get("Resources", {}).get("CPU", 0)) for n in nodes), default=0)
    total = int(ray.cluster_resources().get("CPU", 0))
    if per_node < 1:
        raise FerryError(f"the Ray cluster at {_address() or 'localhost'} has no CPUs to run tasks on")
    return max(1, min(per_node, total // tasks))


def _one_machine(ray) -> bool:
    """Every alive node is this machine (a local Ray, or a one-node cluster started here): paths are shared."""
    here = ray.util.get_node_ip_address()
    return all(n.get("NodeManagerAddress") == here for n in ray.nodes() if n.get("Alive"))


def _absolute_path(p) -> str:
    """A model path as an absolute one (a `file.py:factory` too; a `package.module:factory` stays as it is)."""
    from ferry.formats import is_factory_spec

    text = str(p[0] if isinstance(p, tuple) else p)
    if is_factory_spec(text):
        mod, _, fn = text.rpartition(":")
        return f"{Path(mod).resolve()}:{fn}" if mod.endswith(".py") else text
    return str(Path(text).resolve())


def _absolute(shared: CheckOptions) -> CheckOptions:
    """Paths as absolute ones: a task's working directory is not the driver's on another node."""
    targets = [(_absolute_path(t), t[1]) if isinstance(t, tuple) else _absolute_path(t) for t in shared.targets]
    return dataclasses.replace(shared, source=_absolute_path(shared.source), targets=targets)


def _gather(ray, refs, shards, progress) -> list:
    """The shards' results in shard order, progress counted as each finishes (in any order)."""
    total, done = sum(map(len, shards)), 0
    size = {ref: len(shard) for ref, shard in zip(refs, shards, strict=True)}
    pending, out = list(refs), {}
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            try:
                # a copy: numpy arrays come out of the object store read-only, and the merge adds into them
                out[ref] = copy.deepcopy(ray.get(ref))
            except ray.exceptions.RayTaskError as exc:  # a bug in a task (bad input comes back as _TaskError)
                cause = getattr(exc, "cause", None)
                if isinstance(cause, BaseException):
                    raise cause from None  # ferry's own traceback (with --debug), not Ray's wrapper
                raise
            except ray.exceptions.RayError as exc:  # a lost worker or node, not a bad input: one line still
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise FerryError(f"a Ray task failed ({type(exc).__name__}: {first}); run again, or without "
                                 "--ray to see it in one process") from None
            done += size[ref]
            if progress:
                progress(done, total)
    return [out[ref] for ref in refs]


def _task(shared: CheckOptions, files: list[str], sent, threads: int):
    """One shard in a Ray task. Sent photos are written to a temporary folder first (the shard reads files, and a
    saved reference looks photos up by their bytes' sha256, so the copies are the photos)."""
    import tempfile

    import ray

    from ferry.check import _check_shard

    node = ray.util.get_node_ip_address()
    try:
        if sent is None:
            return _check_shard(shared, [Path(f) for f in files], threads)
        with tempfile.TemporaryDirectory(prefix="ferry-photos-") as d:
            local = []
            for i, (name, ref) in enumerate(sent):
                dest = Path(d) / f"{i:06d}" / name
                dest.parent.mkdir()
                dest.write_bytes(ray.get(ref))
                local.append(dest)
            try:
                return _check_shard(shared, local, threads)
            except FerryError as exc:  # name the photo the user gave, not its copy
                message = str(exc)
                for copy, original in zip(local, files, strict=True):
                    message = message.replace(str(copy), original)
                raise FerryError(message) from None
    except FerryError as exc:
        return _TaskError(f"{exc} (in a Ray task on node {node})")
