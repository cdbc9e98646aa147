"""Running notebooks on a Dask cluster (``--cluster``): the coordinator's side and
the workers' side.

The coordinating process (nbbuild itself) plans, exports, writes outputs and
records the store, exactly as in a local build; only execution moves. For each
notebook to execute it submits one task carrying the notebook, the files of its
folder (helper modules, data) unless the course declares a shared file system,
and the build's options. On the worker, a plugin keeps a warm kernel pool per
course (forked kernels where the worker's platform allows), a mirror of the
course's files in the worker's local folder, and a spare kernel started for the
next notebook of the same folder. The task executes the notebook there and
returns the executed notebook, the course files its kernel read and wrote, its
timings and the worker's address, or the error, as a local build would have it.

A worker lost in the middle of a notebook: the scheduler runs the task again on
another worker (a local cluster allows one retry, ``allowed-failures = 1``), and
nbbuild reports that it did. Dask is imported only here, only with ``--cluster``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from nbbuild.config import Settings
from nbbuild.course.discover import never_read
from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import ConfigError, KernelDiedError, NotebookError
from nbbuild.kernels.execute import ExecuteOptions, Execution

PLUGIN = "nbbuild-kernels"
STARTS = "nbbuild-starts"


def parse_cluster(spec: str) -> tuple[str, Any]:
    """``("local", N)`` for ``local`` or ``local:N``; ``("address", text)`` otherwise."""
    if spec == "local" or spec.startswith("local:"):
        count = spec.partition(":")[2] or "2"
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(f"--cluster {spec!r}: the worker count must be a whole number >= 1")
        return "local", int(count)
    if "://" not in spec:
        raise ConfigError(
            f"--cluster {spec!r}: give a scheduler address (tcp://host:8786) or local[:N]")
    return "address", spec


class Cluster:
    """The coordinator's connection to a Dask cluster, for one build."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kind, self.target = parse_cluster(settings.cluster or "")
        self.client: Any = None
        self._local: Any = None
        self._files: dict[PurePosixPath, dict[str, bytes]] = {}
        self.course_id = hashlib.sha256(str(settings.course).encode()).hexdigest()[:16]
        #: Kernels started on the workers for this build (one per notebook run).
        self.kernels_started = 0

    async def __aenter__(self) -> Cluster:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "--cluster needs Dask: pip install 'nbbuild[dask]'") from None
        if self.kind == "local":
            with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
                self._local = await LocalCluster(
                    n_workers=self.target, threads_per_worker=1, processes=True,
                    asynchronous=True, scheduler_port=0, dashboard_address=":0",
                    silence_logs=40,
                )
            address = self._local
        else:
            address = self.target
        try:
            self.client = await Client(address, asynchronous=True, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--cluster {self.target}: cannot reach the scheduler ({exc})") \
                from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.close()
        if self._local is not None:
            await self._local.close()

    async def _starts(self, task: str, final: str) -> list[str]:
        """The workers that started ``task``, in order, from the scheduler's event
        log (the last is ``final``; waits briefly for its event to arrive)."""
        deadline = time.monotonic() + 2.0
        while True:
            events = await self.client.get_events(STARTS)
            found = [m["worker"] for _, m in events if m.get("task") == task]
            if final in found or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)

    def _folder_files(self, folder: PurePosixPath) -> dict[str, bytes]:
        """The course files in ``folder`` and below, read once per build."""
        if folder not in self._files:
            found = {}
            for path in sorted((self.settings.course / folder).rglob("*")):
                rel = PurePosixPath(path.relative_to(self.settings.course).as_posix())
                if path.is_file() and not never_read(rel, self.settings):
                    found[str(rel)] = path.read_bytes()
            self._files[folder] = found
        return self._files[folder]

    def payload(self, loaded: LoadedNotebook, options: ExecuteOptions) -> dict[str, Any]:
        """What a worker needs to run ``loaded``."""
        source = loaded.source
        files = {} if self.settings.cluster_shared_fs else self._folder_files(source.rel.parent)
        return {
            "task": f"nbbuild-{source.key}-{uuid.uuid4().hex[:8]}",
            "course_id": self.course_id,
            "course": str(self.settings.course) if self.settings.cluster_shared_fs else None,
            "rel": str(source.rel), "kind": source.kind.value, "lang": source.lang,
            "nb": dict(loaded.nb), "kernel": loaded.kernel_name,
            "cell_lines": loaded.cell_lines, "cell_numbers": loaded.cell_numbers,
            "files": files, "options": options, "fork": self.settings.fork_kernels,
            "startup_timeout": self.settings.startup_timeout,
            "max_output_bytes": options.max_output_bytes,
        }

    async def execute(self, loaded: LoadedNotebook, options: ExecuteOptions
                      ) -> tuple[Execution, dict[str, Any]]:
        """Run ``loaded`` on the cluster; put the executed cells into ``loaded.nb``.

        Returns the execution and what the worker reported (its address, the
        kernel's start-up and CPU, whether the task had to run again)."""
        import nbformat
        from distributed import KilledWorker

        payload = self.payload(loaded, options)
        future = self.client.submit(run_on_worker, payload, key=payload["task"], pure=False)
        try:
            answer = await future
        except KilledWorker:
            raise KernelDiedError(
                loaded.source.key,
                "the worker running it was lost, and so was the worker it was retried on",
            ) from None
        if answer.get("kernel_started"):
            self.kernels_started += 1
        starts = await self._starts(payload["task"], answer["worker"])
        answer["retried"] = [w for w in starts if w != answer["worker"]]
        if answer.get("error") is not None:
            raise answer["error"]
        executed = nbformat.from_dict(answer["nb"])
        loaded.nb.cells = executed.cells
        loaded.nb.metadata = executed.metadata
        execution = Execution(cell_seconds={int(k): v for k, v in answer["cells"].items()},
                              seconds=answer["seconds"], reads=set(answer["reads"]),
                              writes=set(answer["writes"]), tracked=answer.get("tracked", True))
        return execution, answer


# -- the workers' side ----------------------------------------------------------------


class KernelsPlugin:
    """A Dask worker plugin: warm kernel pools on the worker, one per course."""

    name = PLUGIN

    def __init__(self) -> None:
        self.pools: dict[tuple[str, bool], Any] = {}
        #: Files this worker copied from each course (worker paths), so that a file
        #: deleted from the course is deleted from the copy too.
        self.copied: dict[Path, set[str]] = {}

    def sync(self, root: Path, folder: PurePosixPath, files: dict[str, bytes]) -> None:
        """Make the worker's copy of ``folder`` (and below) hold exactly the course's
        files: write what changed, delete what nbbuild copied earlier and the
        course no longer has. Files a notebook wrote there are left alone."""
        copied = self.copied.setdefault(root, set())
        for rel, data in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)
            copied.add(rel)
        prefix = "" if str(folder) == "." else f"{folder}/"
        for rel in [r for r in copied if r.startswith(prefix) and r not in files]:
            (root / rel).unlink(missing_ok=True)
            copied.discard(rel)

    def setup(self, worker: Any) -> None:
        self.worker = worker

    async def teardown(self, worker: Any) -> None:
        for pool in self.pools.values():
            await pool.close()

    def pool(self, root: Path, fork: bool, startup_timeout: float, max_output: int,
             max_outputs: int) -> Any:
        from nbbuild.kernels.limits import cap_code
        from nbbuild.kernels.pool import KernelPool
        from nbbuild.kernels.tracking import install_code

        key = (str(root), fork)
        if key not in self.pools:
            self.pools[key] = KernelPool(
                spares=1, startup_timeout=startup_timeout, fork=fork,
                setup_code=install_code(root) + "\n" + cap_code(max_output, max_outputs),
            )
        return self.pools[key]


def _plugin(worker: Any) -> KernelsPlugin:
    plugin = worker.plugins.get(PLUGIN)
    if plugin is None:
        plugin = KernelsPlugin()
        plugin.setup(worker)
        worker.plugins[PLUGIN] = plugin
    return plugin


def _notebook_here(worker: Any, plugin: KernelsPlugin, payload: dict[str, Any]
                   ) -> tuple[Path, LoadedNotebook]:
    """The course's root on this worker (its copy kept in step), and the notebook."""
    import nbformat

    from nbbuild.model import Source, SourceKind

    if payload["course"]:
        root = Path(payload["course"])
    else:
        root = Path(worker.local_directory) / "nbbuild" / payload["course_id"]
        plugin.sync(root, PurePosixPath(payload["rel"]).parent, payload["files"])
    rel = PurePosixPath(payload["rel"])
    (root / rel.parent).mkdir(parents=True, exist_ok=True)
    source = Source(root / rel, rel, SourceKind(payload["kind"]), payload["lang"])
    return root, LoadedNotebook(source, nbformat.from_dict(payload["nb"]), payload["kernel"],
                                payload["cell_lines"], cell_numbers=payload["cell_numbers"])


async def run_on_worker(payload: dict[str, Any]) -> dict[str, Any]:
    """A Dask task: execute one notebook on this worker's warm pool."""
    from distributed import get_worker

    from nbbuild.kernels.execute import execute_notebook, tracked_files
    from nbbuild.kernels.kernel import KernelRequest, KernelStartError

    worker = get_worker()
    worker.log_event(STARTS, {"task": payload["task"], "worker": worker.address})
    plugin = _plugin(worker)
    root, loaded = _notebook_here(worker, plugin, payload)
    source, rel = loaded.source, loaded.source.rel
    pool = plugin.pool(root, payload["fork"], payload["startup_timeout"],
                       payload["max_output_bytes"], payload["options"].max_outputs)
    request = KernelRequest(loaded.kernel_name, source.path.parent)
    began = time.perf_counter()
    answer: dict[str, Any] = {"worker": worker.address, "pid": os.getpid(), "error": None}
    kernel = None
    try:
        try:
            kernel = await pool.take(request)
        except (KernelStartError, RuntimeError, OSError) as exc:
            raise KernelDiedError(
                str(rel), f"kernel {loaded.kernel_name!r} did not start on {worker.address}: {exc}"
            ) from None
        pool.expect([request])  # the next notebook of this folder finds a warm kernel
        answer["kernel_wait"] = time.perf_counter() - began
        answer["kernel_started"] = True
        answer["kernel_startup"] = kernel.startup
        execution = await execute_notebook(loaded, kernel, payload["options"])
        reads, writes = await tracked_files(kernel, root)
        answer.update(nb=dict(loaded.nb), cells={str(k): v for k, v in
                                                  execution.cell_seconds.items()},
                      seconds=execution.seconds, reads=sorted(reads), writes=sorted(writes),
                      tracked=kernel.runs_python)
    except NotebookError as exc:
        answer["error"] = exc
    finally:
        if kernel is not None:
            pool.discard(kernel)
            answer["kernel_cpu"] = kernel.cpu_seconds
    return answer
