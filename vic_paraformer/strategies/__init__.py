"""Built-in calibration strategies (strategy layer): SCE-UA, FFN-A, LSTM-Z, ParaFormer-A, ParaFormer-Z.

The DL strategies are thin specifications of :class:`vic_paraformer.dl.DLCalibrator`; the
per-cell spotpy strategies build on :mod:`.spotpy_base` (with :mod:`.cell_geometry`,
:mod:`.cell_models`, :mod:`.spotpy_setup` and :mod:`.cell_mapping`).

They are found through the entry-point group ``vic_paraformer.strategies`` like any third-party
plugin; get them through :func:`vic_paraformer.get_calibrator`. Calling this package,
``vic_paraformer.strategies()``, lists the installed strategy names (see
:func:`vic_paraformer.registry.make_listing_package`).
"""

from ..registry import make_listing_package, strategies as _strategies

make_listing_package(__name__, _strategies)
