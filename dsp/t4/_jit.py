"""Compile a module's loops with numba, or run the very same source as plain Python.

Each coder module decorates its stateful loops with ``jit(__name__)``.  Imported
normally they are compiled (``@njit(cache=True)``); `plain_reference(name)` loads a
second copy of the same file under another name where the decorator is the identity, so
tests can check that the compiled loops and the interpreted reference agree
(DESIGN §12) without keeping two hand-written copies in step.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from types import ModuleType

import numpy as np
from numba import njit

REFERENCE_SUFFIX = "__plain_reference"


def jit(module_name: str):
    """The decorator for loops of ``module_name``: numba, or identity in the reference copy."""
    if module_name.endswith(REFERENCE_SUFFIX):
        return lambda fn: fn
    return njit(cache=True)


@functools.cache
def plain_reference(module_name: str) -> ModuleType:
    """A copy of module ``module_name`` whose jitted loops run in the interpreter."""
    module = sys.modules[module_name]
    name = module_name + REFERENCE_SUFFIX
    spec = importlib.util.spec_from_file_location(name, module.__file__)
    copy = importlib.util.module_from_spec(spec)
    sys.modules[name] = copy
    spec.loader.exec_module(copy)
    return copy


def trailing_zeros(module_name: str):
    """Count of trailing zero bits of a non-zero uint64: numba's intrinsic, or plain Python."""
    if module_name.endswith(REFERENCE_SUFFIX):
        return lambda x: (int(x) & -int(x)).bit_length() - 1
    from numba.cpython.unsafe.numbers import trailing_zeros as intrinsic

    @njit(cache=True)
    def ctz(x):
        return intrinsic(x)

    return ctz


def bit_length(module_name: str):
    """Number of bits needed for a non-negative int64 (0 for 0): numba intrinsic or plain Python."""
    if module_name.endswith(REFERENCE_SUFFIX):
        return lambda x: int(x).bit_length()
    from numba.cpython.unsafe.numbers import leading_zeros

    @njit(cache=True)
    def length(x):
        return 64 - leading_zeros(np.uint64(x))

    return length
