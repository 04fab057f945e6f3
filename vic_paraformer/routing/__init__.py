"""Streamflow routing in VIC's convention (RVIC unit-hydrograph kernels) and discharge observations.

* :mod:`.kernel`     the routing kernel: unit hydrographs from source cells to outlets, and its checks
* :mod:`.rvic`       reading an RVIC parameter file onto a Region's cells
* :mod:`.geometry`   cell areas, distances and matching points to cells
* :mod:`.lohmann`    kernels built from a flow-direction grid (Lohmann et al.) or a linear reservoir
* :mod:`.convolve`   runoff + baseflow (mm per step) to discharge (m3/s) with numpy
* :mod:`.torch_route` the same convolution in torch (differentiable, batched; torch imported lazily)
* :mod:`.discharge`  USGS daily values (RDB, CSV) and generic CSV discharge observations
* :mod:`.gauges`     matching gauges to outlets and storing them on a Region
* :mod:`.inline`     a routing kernel stored on the Region itself (no RVIC file needed)

A Region's kernel (:func:`~.gauges.routing_of`) is the one stored on it (``routing_uh`` and its
companions, written by :func:`~.inline.with_kernel`: a synthetic twin, or gauges attached on a kernel
built from flow directions), else the RVIC file named by its ``routing_file`` attribute.

The convention (VIC 5's ``rout_rvic`` extension, from RVIC): every source ``s`` (a cell draining to
an outlet) carries a unit hydrograph ``uh[s, k]`` over lags ``k`` of ``dt`` seconds; the discharge
of outlet ``o`` at step ``t`` is ``Q_o(t) = sum_{s->o} A_s / (1000 dt) * sum_k uh[s, k] R_s(t - k)``
with ``R_s`` the runoff + baseflow of the source's cell in mm per step and ``A_s`` the area (m2) of
that cell that drains to ``o``. Lag 0 is the same step (VIC's convolution ring).
"""

from .convolve import route, route_region
from .gauges import routing_of
from .inline import kernel_of, with_kernel
from .kernel import RoutingKernel
from .lohmann import linear_reservoir_kernel, lohmann_kernel
from .rvic import read_rvic

__all__ = ["RoutingKernel", "read_rvic", "route", "route_region", "lohmann_kernel", "linear_reservoir_kernel",
           "routing_of", "with_kernel", "kernel_of"]
