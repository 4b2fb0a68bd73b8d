r"""A model store: trained networks cached by what made them, with how long they took to train.

A chapter that compares every family of the book (chapter 10) cannot train them all again within
its time budget; it loads them. A cached model is only as good as the promise that it is the
model the code would train now, so an entry is keyed by everything that decides its weights:

.. math:: \text{key} = \mathrm{sha256}\big(\text{name},\ \text{args},\ \text{profile},\
          \text{source of the code},\ \text{torch version}\big)

where *the code* is the source of the modules in ``version_of`` (the recipe's module) and of
every module defining a class of the built network. Change a line of either and the key changes:
the stale entry is never read again. An entry is two files in :func:`gmtext.config.cache_dir`:

- ``<name>-<key>.pt``: the ``state_dict`` (written atomically by :func:`gmtext.checkpoint.save`);
- ``<name>-<key>.json``: the sidecar, written atomically too: the key and what went into it,
  the training time in seconds, the creation date, what ``train`` returned, and the sha256 of the
  weights file, so that a corrupt or mismatched pair is detected, reported, retrained and replaced.

Two processes (two notebooks at once) may train the same key: both train, and the pair of renames
of each is done under an exclusive lock (``fcntl.flock`` where the platform has it), so the last
writer wins and a reader, who holds a shared lock while reading, never sees half an entry or the
weights of one writer with the sidecar of the other. Without ``fcntl`` the hash check still
refuses a mixed pair (it is retrained). Chapter 10 uses it; see also :mod:`gmtext.checkpoint`.

Example:
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()                 # default: gmtext.config.cache_dir()
    >>> net, rec = cached("demo", lambda: torch.nn.Linear(2, 1), lambda m: {"steps": 0},
    ...                   args={"lr": 0.1}, folder=folder)
    >>> rec.loaded, rec.info
    (False, {'steps': 0})
    >>> net, rec = cached("demo", lambda: torch.nn.Linear(2, 1), lambda m: None, args={"lr": 0.1},
    ...                   folder=folder)
    >>> rec.loaded
    True
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import inspect
import json
import os
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gmtext import checkpoint, config, distributed

try:                                       # POSIX; elsewhere the sha256 check alone guards a read
    import fcntl
except ImportError:                        # pragma: no cover - Windows
    fcntl = None

__all__ = ["StoreRecord", "cached", "entry_key", "code_version", "FORMAT"]

#: Bumped when the layout of an entry changes (part of every key).
FORMAT = 1


@dataclass
class StoreRecord:
    """What the store knows of one entry.

    Attributes:
        key: the hex key (see the module docstring); path: the weights file.
        seconds: wall time of ``train`` when the entry was made (the same number after a load).
        loaded: True if the weights came from the cache, False if they were trained in this call.
        created: ISO date and time of training; args, profile: what the key holds;
        info: the JSON-serialisable dict ``train`` returned (``{}`` for None).
    """

    key: str
    path: Path
    seconds: float
    loaded: bool
    created: str
    args: dict[str, Any]
    profile: str
    info: dict[str, Any] = field(default_factory=dict)


def code_version(objects: Sequence[Any]) -> str:
    """sha256 of the source of ``objects`` (modules, classes or functions), in the given order.

    Raises:
        TypeError: if an object has no readable source (a builtin, a module typed at a prompt).
    """
    digest = hashlib.sha256()
    for obj in objects:
        try:
            path = inspect.getsourcefile(obj) if isinstance(obj, types.ModuleType) else None
            text = Path(path).read_bytes() if path else inspect.getsource(obj).encode()
        except (TypeError, OSError) as err:
            raise TypeError(f"version_of needs objects with source code (modules, classes, "
                            f"functions), got {obj!r}: {err}") from err
        digest.update(getattr(obj, "__name__", "").encode() + b"\0" + text + b"\0")
    return digest.hexdigest()


def _network_modules(module: nn.Module) -> list[types.ModuleType]:
    """The modules (outside torch) that define a class of ``module`` or of its children, sorted by name."""
    names = {type(m).__module__ for m in module.modules()}
    return [sys.modules[n] for n in sorted(names)
            if n in sys.modules and n.split(".")[0] != "torch"]


def entry_key(name: str, args: Mapping[str, Any], version_of: Sequence[Any],
              profile: str | None = None) -> tuple[str, dict[str, Any]]:
    """The key of an entry and the JSON dict it hashes (name, args, profile, code, torch, format).

    Raises:
        ValueError: for an empty or path-like ``name``; TypeError: for ``args`` that JSON cannot hold.
    """
    if not isinstance(name, str) or not name or any(c in name for c in "/\\:") or name.startswith("."):
        raise ValueError(f"name must be a non-empty string without '/', '\\\\' or ':', got {name!r}")
    if not isinstance(args, Mapping):
        raise TypeError(f"args must be a dict of JSON values, got {type(args).__name__}")
    profile = config.profile() if profile is None else profile
    if profile not in config.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {config.PROFILES}")
    parts = {"name": name, "args": dict(args), "profile": profile,
             "code": code_version(version_of), "torch": torch.__version__, "format": FORMAT}
    try:
        text = json.dumps(parts, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"args must hold JSON values only (numbers, strings, lists, dicts): {err}") from err
    return hashlib.sha256(text.encode()).hexdigest()[:20], parts


@contextlib.contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (created if absent); a no-op without ``fcntl``."""
    if fcntl is None:
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(module: nn.Module, weights: Path, sidecar: Path, key: str) -> dict[str, Any]:
    """Load an entry into ``module`` and return its sidecar; RuntimeError if anything is wrong."""
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as err:
        raise RuntimeError(f"sidecar {sidecar} could not be read: {err}") from err
    if not isinstance(meta, dict) or meta.get("key") != key:
        raise RuntimeError(f"sidecar {sidecar} does not belong to key {key}")
    if meta.get("sha256") != _sha256(weights):
        raise RuntimeError(f"checkpoint {weights} does not match the hash in its sidecar (corrupt)")
    checkpoint.load(module, weights)
    return meta


def cached(name: str, build: Callable[[], nn.Module], train: Callable[[nn.Module], dict | None], *,
           args: Mapping[str, Any], version_of: Sequence[Any] = (), profile: str | None = None,
           folder: str | os.PathLike | None = None,
           verbose: bool = False) -> tuple[nn.Module, StoreRecord]:
    """Load the network ``name`` built by ``build()`` from the store, or train it with ``train`` and store it.

    Args:
        name: the recipe's name (a file-name prefix).
        build: makes the untrained network (seed its initialisation inside).
        train: trains the network in place; may return a dict of JSON values kept in the sidecar
            (steps done, final loss...). Its wall time is measured and stored.
        args: every argument that decides the weights (budget, seed, sizes), JSON values.
        version_of: the modules (or classes, functions) whose source decides the weights: the
            recipe's module at least; the modules of the network's classes are added by the store.
        profile: the run profile in the key (the active one when None).
        folder: where entries live (:func:`gmtext.config.cache_dir` when None).
        verbose: print where the network came from.

    Returns:
        ``(module, record)``: the network as ``build`` made it with loaded or trained weights (its
        train/eval mode is the caller's business), and the :class:`StoreRecord`.

    Raises:
        TypeError: if ``build`` does not return a module, or ``train`` returns a non-JSON dict.
    """
    module = build()
    if not isinstance(module, nn.Module):
        raise TypeError(f"build must return an nn.Module, got {type(module).__name__}")
    key, parts = entry_key(name, args, [*version_of, *_network_modules(module)], profile)
    folder = config.cache_dir() if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights, sidecar = folder / f"{name}-{key}.pt", folder / f"{name}-{key}.json"
    lock = folder / f".{name}-{key}.lock"
    if sidecar.is_file() or weights.is_file():
        try:
            with _locked(lock, exclusive=False):
                meta = _read(module, weights, sidecar, key)
            if verbose and distributed.is_main():
                print(f"loaded {name} from {weights} (trained in {meta['seconds']:.1f} s)")
            return module, StoreRecord(key, weights, float(meta["seconds"]), True, meta["created"],
                                       meta["args"], meta["profile"], meta.get("info", {}))
        except (RuntimeError, FileNotFoundError, KeyError) as err:
            warnings.warn(f"store entry {name}-{key} is unusable ({err}); retraining and replacing it",
                          stacklevel=2)
            module = build()                            # a failed strict load may have half-filled it
    start = time.perf_counter()
    info = train(module)
    seconds = time.perf_counter() - start
    if info is not None and not isinstance(info, Mapping):
        raise TypeError(f"train must return a dict of JSON values or None, got {type(info).__name__}")
    record = StoreRecord(key, weights, seconds, False, datetime.datetime.now().isoformat(timespec="seconds"),
                         parts["args"], parts["profile"], dict(info or {}))
    meta = {**asdict(record), "path": str(weights), "name": name, "code": parts["code"], "torch": parts["torch"]}
    del meta["loaded"]
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"train returned values JSON cannot hold: {err}") from err
    if distributed.is_main():
        with _locked(lock, exclusive=True):             # both renames as one step for readers
            checkpoint.save(module.state_dict(), weights)
            _write_json({**meta, "sha256": _sha256(weights)}, sidecar)
        if verbose:
            print(f"trained {name} in {seconds:.1f} s and stored it at {weights}")
    return module, record
