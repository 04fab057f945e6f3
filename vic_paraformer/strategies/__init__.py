"""Built-in calibration strategies (strategy layer): SCE-UA, FFN-A, LSTM-Z, ParaFormer-A, ParaFormer-Z.

The DL strategies are thin specifications of :class:`vic_paraformer.dl.DLCalibrator`; the
per-cell spotpy strategies build on :mod:`.spotpy_base` (with :mod:`.cell_geometry`,
:mod:`.cell_models`, :mod:`.spotpy_setup` and :mod:`.cell_mapping`).

They are declared in :data:`vic_paraformer.registry.BUILTIN_STRATEGIES` and merged there with the
strategies other distributions register in the entry-point group ``vic_paraformer.strategies``; get
them through :func:`vic_paraformer.get_calibrator` and list them with
:func:`vic_paraformer.list_strategies`.
"""
