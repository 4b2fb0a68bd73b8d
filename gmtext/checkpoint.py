"""Checkpoints as ``state_dict`` only: atomic save, safe load, and load-if-present-else-train.

Whole pickled modules break under ``torch.load(weights_only=True)`` and across code versions, so
gmtext stores ``state_dict`` tensors only. A file is written to a temporary name and then renamed,
so an interrupted save never leaves half a checkpoint behind; a corrupt or mismatched file is
reported and replaced by retraining instead of crashing a notebook.

Example:
    >>> import tempfile, pathlib, torch
    >>> net = torch.nn.Linear(2, 1)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "net.pt"
    >>> load_or_train(net, path, lambda m: None, verbose=False)   # no file yet: trains, saves
    False
    >>> load_or_train(torch.nn.Linear(2, 1), path, lambda m: None, verbose=False)
    True
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gmtext import distributed
from gmtext._validate import module_device


def save(state_dict: Mapping[str, Tensor], path: str | os.PathLike) -> Path:
    """Write ``state_dict`` to ``path`` atomically (temporary file, then rename).

    Raises:
        TypeError: if ``state_dict`` is a module or holds anything but tensors.
    """
    if isinstance(state_dict, nn.Module):
        raise TypeError("save a state_dict, not a module: save(model.state_dict(), path)")
    bad = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f"state_dict values must be tensors; not tensors: {bad[:5]}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(module: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load the ``state_dict`` at ``path`` into ``module`` (``weights_only=True``, strict), onto
    the module's device (files hold CPU tensors, so a checkpoint moves between CPU and GPU).

    Raises:
        FileNotFoundError: if there is no file.
        RuntimeError: if the file is corrupt or does not match the module's parameters.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=module_device(module) or "cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which file and why
        raise RuntimeError(f"checkpoint {path} could not be read: {err}") from err
    if not isinstance(state, dict):
        raise RuntimeError(f"checkpoint {path} holds a {type(state).__name__}, not a state_dict")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f"checkpoint {path} does not match {type(module).__name__}: {err}") from err
    return module


def load_or_train(module: nn.Module, path: str | os.PathLike,
                  train: Callable[[nn.Module], Any], *, verbose: bool = True) -> bool:
    """Load ``module``'s weights from ``path`` if possible, else call ``train(module)`` and save.

    A missing file trains silently; a corrupt or mismatched file is reported with a warning,
    then the module is trained and the file replaced. Under ``torchrun`` every process trains
    (each holds its shard of the data); only rank 0 writes the file and prints.

    Returns:
        True if the weights were loaded, False if the module was trained.
    """
    path = Path(path)
    if path.is_file():
        try:
            load(module, path)
            if verbose and distributed.is_main():
                print(f"loaded {type(module).__name__} from {path}")
            return True
        except RuntimeError as err:
            warnings.warn(f"{err}; retraining and overwriting it", stacklevel=2)
    train(module)
    if distributed.is_main():
        save(module.state_dict(), path)
        if verbose:
            print(f"trained {type(module).__name__} and saved it to {path}")
    return False
