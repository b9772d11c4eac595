"""Saving training state without pickle: tensors to safetensors, everything else to JSON.

Files are written to a temporary name, fsynced, then renamed, so a kill during a write
leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via temp file + fsync + rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save a flat dict of tensors as safetensors, atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with shared storage cloned (safetensors refuses aliases)."""
    seen: dict[int, str] = {}
    out = {}
    for key, value in model.state_dict().items():
        ptr = value.data_ptr()
        out[key] = value.clone() if ptr in seen and value.numel() else value
        seen.setdefault(ptr, key)
    return out


def split_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace tensors inside nested dicts/lists by ``{"__tensor__": key}`` and collect them."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {str(k): split_state(v, f"{prefix}.{k}", tensors) for k, v in obj.items()} | (
            {"__int_keys__": True} if obj and all(isinstance(k, int) for k in obj) else {}
        )
    if isinstance(obj, (list, tuple)):
        return [split_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def join_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of ``split_state``."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        int_keys = obj.pop("__int_keys__", False)
        return {(int(k) if int_keys else k): join_state(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_state(v, tensors) for v in obj]
    return obj


def rng_state() -> tuple[dict, dict[str, torch.Tensor]]:
    """Python, numpy and torch RNG states as (JSON part, tensors part)."""
    py = random.getstate()
    np_state = np.random.get_state()
    meta = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    return meta, tensors


def set_rng_state(meta: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Restore what ``rng_state`` captured."""
    py = meta["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = meta["numpy"]
    np.random.set_state((np_state[0], np.asarray(np_state[1], dtype=np.uint32), *np_state[2:]))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap a fully written ``tmp`` folder in as ``final``; a kill at any point leaves one readable copy."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def existing_dir(final: Path, marker: str) -> Path | None:
    """The readable copy of a folder written by ``replace_dir`` (the old one if a swap was cut short):
    the first that holds the file ``marker``, which is written last."""
    for candidate in (final, final.with_name(final.name + ".old")):
        if (candidate / marker).is_file():
            return candidate
    return None


def write_json(path: Path, data: Any) -> None:
    """Pretty JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file (never unpickles)."""
    return load_file(str(path))
