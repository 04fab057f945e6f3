"""Built-in calibration strategies (SCE-UA, FFN-A, LSTM-Z, ParaFormer-A, ParaFormer-Z).

They are found through the entry-point group ``vic_paraformer.strategies`` like any third-party
plugin; import them through :func:`vic_paraformer.get_calibrator`.

``vic_paraformer.strategies()`` is the public function that lists installed strategy names. Python
binds the name ``strategies`` of the parent package to this sub-package as soon as any module in it
is imported, so this module is made callable with the same behaviour: ``vic_paraformer.strategies()``
keeps working whichever of the two the name points to.
"""

from __future__ import annotations

import sys
import types

from ..registry import strategies as _installed_strategies


class _CallableModule(types.ModuleType):
    def __call__(self) -> list[str]:
        """Names of the installed calibration strategies (see :func:`vic_paraformer.registry.strategies`)."""
        return _installed_strategies()


sys.modules[__name__].__class__ = _CallableModule
