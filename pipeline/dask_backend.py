"""joblib's Dask backend, adjusted so that a run on a cluster survives a worker's death unchanged.

Imported only when a run uses a cluster (`pipeline.cluster`): importing it imports Dask. Two
departures from `joblib`'s own backend, each for a property the toolkit promises:

- Arguments travel with their tasks. joblib scatters every large argument (a per-instrument
  feature matrix) to one worker and hands the task a reference to it; when that worker dies, the
  scattered data is gone for good and every task that needs it fails, finished or not. Sent with
  the task, an argument can be sent again, and the scheduler reruns the task on another worker.
- Inside a task, a nested `joblib.Parallel(n_jobs=1)` runs in that task, as it does under plain
  joblib. joblib's Dask backend ignores ``n_jobs`` and would spread, say, the 100 trees of a
  random forest that asked for one job as tasks over the cluster: the same numbers, but on two
  workers a forest on 300 rows took 0.9-2.3 s that way instead of 0.3-0.4 s (1.3x slower on
  2,000 rows), and every tree became a task for the scheduler. A worker runs its tasks' nested
  loops under the backend registered as ``"dask"`` in its own process, so `OneJobInTasks`
  installs this class there, and puts joblib's back when the run disconnects.
"""

from __future__ import annotations

from distributed import WorkerPlugin, get_worker
from joblib import register_parallel_backend
from joblib._dask import DaskDistributedBackend

# The name joblib's Dask backend is registered under, in every process.
DASK = "dask"


class ClusterBackend(DaskDistributedBackend):
    """`joblib`'s Dask backend without its automatic scatter, honouring n_jobs=1 inside tasks.

    Parameters
    ----------
    client : distributed.Client
        The run's client; inside a worker, None (the worker's own client).
    """

    def effective_n_jobs(self, n_jobs: int) -> int:
        if n_jobs == 1 and _inside_task():
            return 1
        return super().effective_n_jobs(n_jobs)

    def start_call(self) -> None:
        super().start_call()
        # joblib scatters large arguments only while this holds a dictionary.
        self.call_data_futures = None

    def stop_call(self) -> None:
        self.call_data_futures = {}  # joblib's stop_call clears it
        super().stop_call()


class OneJobInTasks(WorkerPlugin):
    """Worker plugin: nested loops of the tasks run under `ClusterBackend` on that worker."""

    name = "openmic-compare-joblib-backend"

    def setup(self, worker) -> None:
        register_parallel_backend(DASK, ClusterBackend)

    def teardown(self, worker) -> None:
        register_parallel_backend(DASK, DaskDistributedBackend)


def _inside_task() -> bool:
    try:
        get_worker()
    except ValueError:
        return False
    return True
