"""Whole models pickled with ``torch.save(model, f)`` load with ``torch.load(f)`` under its
default ``weights_only=True``, without the user naming rnnkit's classes.

rnnkit's modules pickle as a call to ``rebuild_module(name, state)``, and only that function
(plus ``core.gated_cell.builtin_cell`` for the toolkit's own gated cells) is registered
with torch's safe globals, never the classes themselves: torch's safe unpickler lets a
file *call* any allowed global with arguments of its choosing, so an allowed class would
run its ``__init__`` on a file's say-so (``LSTM(10**9, 10**9)``). ``rebuild_module`` runs no
``__init__``: it looks ``name`` up in rnnkit's fixed table, makes an empty instance and
sets its attributes from ``state`` (plain data, tensors and submodules, which the safe
unpickler builds without running code). A file can therefore produce an rnnkit module
holding whatever weights it contains — exactly what loading a checkpoint does — but
cannot run code of its choosing. The user's own classes (their model around the layers,
their GatedCell step functions) still need their own ``torch.serialization.add_safe_globals``.
"""

from __future__ import annotations

import pickle

import torch

# name -> class; filled by ``safe_pickling`` below as the layer modules are defined.
_CLASSES: dict[str, type] = {}


def rebuild_module(name: str, state: dict):
    """An rnnkit module of class ``name`` with attributes ``state`` (no ``__init__``)."""
    cls = _CLASSES.get(name) if isinstance(name, str) else None
    if cls is None or not isinstance(state, dict):
        raise pickle.UnpicklingError(f"not an rnnkit module: {name!r}")
    obj = cls.__new__(cls)
    obj.__setstate__(state)  # torch.nn.Module.__setstate__: a dict update plus defaults
    return obj


def safe_pickling(cls: type) -> type:
    """Class decorator: pickle instances through ``rebuild_module`` (see the docstring)."""
    _CLASSES[cls.__qualname__] = cls

    def __reduce_ex__(self, protocol):
        name = type(self).__qualname__
        if _CLASSES.get(name) is not type(self):  # a user's subclass: pickled as usual
            return object.__reduce_ex__(self, protocol)
        return rebuild_module, (name, self.__getstate__())

    cls.__reduce_ex__ = __reduce_ex__
    return cls


torch.serialization.add_safe_globals([rebuild_module])
