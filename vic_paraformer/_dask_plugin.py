"""The Dask worker plugin that gives every worker process its own scratch folder.

Kept apart from :mod:`vic_paraformer.cluster` and :mod:`vic_paraformer._dask_worker` because it must subclass Dask's ``WorkerPlugin``
(imported here at module level), and the cluster module is imported without Dask being loaded.
"""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

from . import _dask_worker


class ScratchPlugin(WorkerPlugin):
    """Make the worker's scratch folder in its local directory on start; remove it on close."""

    name = _dask_worker.PLUGIN_NAME
    idempotent = True

    def setup(self, worker) -> None:
        _dask_worker._prepare(getattr(worker, "local_directory", None))

    def teardown(self, worker) -> None:
        _dask_worker._teardown()


__all__ = ["ScratchPlugin"]
