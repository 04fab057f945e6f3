"""The Dask worker plugin that gives every worker process its own scratch folder.

Kept apart from :mod:`vic_paraformer.cluster` because it must subclass Dask's ``WorkerPlugin``
(imported here at module level), and the cluster module is imported without Dask being loaded.
"""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

from . import cluster


class ScratchPlugin(WorkerPlugin):
    """Make the worker's scratch folder in its local directory on start; remove it on close."""

    name = cluster.PLUGIN_NAME
    idempotent = True

    def setup(self, worker) -> None:
        cluster._prepare(getattr(worker, "local_directory", None))

    def teardown(self, worker) -> None:
        from . import scratch

        folder = scratch._active.path if scratch._active is not None else None
        if folder is not None:
            scratch.remove(folder)


__all__ = ["ScratchPlugin"]
