"""Where a fleet analysis runs: the one seam between the pipeline and its engine.

The pipeline (:mod:`.pipeline`) only calls :meth:`Executor.submit` (run a function somewhere),
:meth:`Executor.nearby` (run a cheap function where a result already is) and :meth:`Executor.gather`.
Three engines implement them:

- ``serial``: in this process, one task after the other (the reference; used by tests).
- ``processes``: a pool of local worker processes (``load(partitions=N)``, ``analyze --partitions N``);
  results travel through this process.
- ``dask``: a ``dask.distributed`` client -- any scheduler address or a ``LocalCluster``; results stay
  on the workers until gathered, a lost worker's tasks are run again elsewhere by Dask.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from ..errors import WorkbenchError

DASK_MISSING = ("the dask engine needs dask and distributed: pip install 'ocpp-workbench[dask]' "
                "(dask[dataframe], distributed, fsspec)")


def cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Executor:
    """Run the pipeline's tasks. A handle is whatever :meth:`submit` returns; only :meth:`gather` opens it."""

    name = "base"
    workers = 1
    ships_results = True
    """Results travel to another process (pickled): a task may then pickle its result itself."""

    def submit(self, fn: Callable[..., Any], *args: Any, place: int | None = None) -> Any:
        """``fn(*args)`` somewhere. ``place`` (0 to ``workers`` - 1) is a hint: tasks of different places
        are best run on different workers (used to spread the buckets); an engine may ignore it."""
        raise NotImplementedError

    def nearby(self, fn: Callable[..., Any], handle: Any, *args: Any) -> Any:
        """``fn(result_of(handle), *args)``, run where that result is (it is not moved)."""
        raise NotImplementedError

    def gather(self, handles: Sequence[Any], each: Callable[[Any], Any] | None = None) -> list[Any]:
        """The results of ``handles``, in order; the handles are spent (not to be gathered again).
        ``each(result)``, when given, is run here on every result as it comes (on Dask, while later ones
        are still being computed) and its return value is the result."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what this executor started (not a client it was given)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Every task in this process, at once."""

    name = "serial"
    ships_results = False

    def submit(self, fn: Callable[..., Any], *args: Any, place: int | None = None) -> Any:
        return fn(*args)

    def nearby(self, fn: Callable[..., Any], handle: Any, *args: Any) -> Any:
        return fn(handle, *args)

    def gather(self, handles: Sequence[Any], each: Callable[[Any], Any] | None = None) -> list[Any]:
        return [each(h) for h in handles] if each else list(handles)


class ProcessExecutor(Executor):
    """A pool of ``workers`` fresh local processes (spawned: no fork of a process with threads)."""

    name = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                         mp_context=multiprocessing.get_context("spawn"))

    @staticmethod
    def _resolve(value: Any) -> Any:
        if isinstance(value, Future):
            return value.result()
        if isinstance(value, list):
            return [v.result() if isinstance(v, Future) else v for v in value]
        return value

    def submit(self, fn: Callable[..., Any], *args: Any, place: int | None = None) -> Any:
        return self._pool.submit(fn, *(self._resolve(a) for a in args))

    def nearby(self, fn: Callable[..., Any], handle: Any, *args: Any) -> Any:
        return fn(self._resolve(handle), *args)  # the result is here already

    def gather(self, handles: Sequence[Any], each: Callable[[Any], Any] | None = None) -> list[Any]:
        return [each(self._resolve(h)) if each else self._resolve(h) for h in handles]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """Tasks on a ``dask.distributed`` cluster. ``client``: a Client; a scheduler address
    (``tcp://host:8786``); ``"local"`` or ``"local:N"`` for a new ``LocalCluster`` of this machine's
    cores or of N worker processes; or None for the current client if there is one, else
    ``"local"``. A LocalCluster (one thread per worker; ``memory_limit`` per worker, e.g. ``"1.5GB"``)
    lives as long as this executor."""

    name = "dask"

    def __init__(self, client: Any = None, workers: int | None = None, memory_limit: str | int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise WorkbenchError(DASK_MISSING) from None
        self._cluster = None
        self._own_client = False
        if client is None:
            from distributed import default_client

            try:
                client = default_client()
            except ValueError:  # no client yet: a cluster of this machine's cores
                client = "local"
        if isinstance(client, str) and (client == "local" or client.startswith("local:")):
            count = client.partition(":")[2]
            if count and not (count.isdigit() and int(count) > 0):
                raise WorkbenchError(f"--dask {client}: the number of local workers must be a positive integer")
            self._cluster = LocalCluster(n_workers=int(count) if count else (workers or cores()),
                                         threads_per_worker=1, processes=True,
                                         memory_limit=memory_limit or "auto", dashboard_address=":0")
            client = Client(self._cluster)
            self._own_client = True
        elif isinstance(client, str):
            try:
                client = Client(client, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise WorkbenchError(f"cannot reach the Dask scheduler at {client}: {exc}") from None
            self._own_client = True
        self.client = client
        self.workers = max(1, len(client.nthreads()))
        # Results straight from the workers rather than through the scheduler (which would copy them
        # once more), where the client surely reaches the workers: its own cluster, or one on this machine.
        address = str(getattr(client.scheduler, "address", "") or "")
        self._direct = self._cluster is not None or address.startswith(("tcp://127.", "tcp://localhost", "tcp://[::1]",
                                                                           "inproc://"))
        self._addresses: list[str] = []
        self._addresses_at = -1e9
        self._run = uuid.uuid4().hex[:8]
        self._count = itertools.count()

    def _key(self, fn: Callable[..., Any]) -> str:
        # Explicit keys: Dask would otherwise hash the (large) arguments to name each task. Dask groups tasks
        # by the key's first word ("wb_analyse") to guess how long a task takes: with one word for every
        # task, a bucket looked as quick as a file's summary and both buckets were put on one worker.
        return f"wb_{getattr(fn, '__name__', 'task').lstrip('_')}-{self._run}-{next(self._count)}"

    def submit(self, fn: Callable[..., Any], *args: Any, place: int | None = None) -> Any:
        if place is None:
            return self.client.submit(fn, *args, key=self._key(fn), pure=False)
        # A preference, not a rule: if that worker is gone, the task runs on another.
        workers = self._worker_addresses()
        return self.client.submit(fn, *args, key=self._key(fn), pure=False,
                                  workers=[workers[place % len(workers)]] if workers else None,
                                  allow_other_workers=True)

    def _worker_addresses(self) -> list[str]:
        """The workers' addresses, asked of the scheduler at most once a second (one call per bucket
        would be a round trip per bucket)."""
        now = time.monotonic()
        if now - self._addresses_at > 1.0:
            self._addresses = sorted(self.client.nthreads())
            self._addresses_at = now
        return self._addresses

    def nearby(self, fn: Callable[..., Any], handle: Any, *args: Any) -> Any:
        return self.client.submit(fn, handle, *args, key=self._key(fn), pure=False)

    def gather(self, handles: Sequence[Any], each: Callable[[Any], Any] | None = None) -> list[Any]:
        handles = list(handles)
        if len(handles) <= 1:
            results = list(self.client.gather(handles, direct=self._direct or None))
            return [each(r) for r in results] if each else results
        from distributed import as_completed

        # Each result fetched as soon as it is done: its transfer and unpickling here overlap the work
        # still running on the workers, instead of all of them following the last one.
        place = {handle.key: index for index, handle in enumerate(handles)}
        results: list[Any] = [None] * len(handles)
        for done in as_completed(handles):
            result = self.client.gather(done, direct=self._direct or None)
            done.release()  # here now: the worker need not keep it (a bucket's tables are ~1 KB a frame)
            results[place[done.key]] = each(result) if each else result
        return results

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(engine: str, *, client: Any = None, workers: int | None = None,
                  memory_limit: str | int | None = None) -> Executor:
    """The executor of ``engine`` (``serial``, ``processes`` or ``dask``)."""
    if engine == "serial":
        return SerialExecutor()
    if engine == "processes":
        return ProcessExecutor(workers or cores())
    if engine == "dask":
        return DaskExecutor(client, workers, memory_limit)
    raise ValueError(f"unknown engine {engine!r}: serial, processes or dask")
