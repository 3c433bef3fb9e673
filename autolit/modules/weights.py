"""Pretrained weights for a Backbone: ``imagenet`` (the library's own cache), a local file, or none.

* ``imagenet``: timm's pretrained config (Hugging Face hub, else its URL) or torchvision's weights
  enum (``get_model_weights(name).DEFAULT``), cached by the library after the first download
  (``~/.cache/huggingface/hub``, ``~/.cache/torch/hub/checkpoints``). A cached file is loaded
  without touching the network. Otherwise one HTTP request with a short deadline checks the host
  first: offline (``HF_HUB_OFFLINE``, no route, a blocked socket, no answer) stops with one line
  naming the file, where to get it and how to pass it as ``weights: PATH`` instead of the hub's
  minute of retries.
* ``PATH``: a ``.safetensors`` file or a weights-only ``torch.save`` state dict, loaded through the
  same path (timm: ``pretrained_cfg_overlay={"file": ...}``); a missing or unreadable file is a
  :class:`UserError` naming it.

Every ``torch.load`` here is ``weights_only=True``, and timm is only ever handed a ``.safetensors``
file to read (:func:`_timm_from_file`): a pickled file (a ``torch.save`` PATH, a cached
``pytorch_model.bin``) is read here and passed on as a temporary ``.safetensors`` copy. timm's own
``torch.load`` passes ``weights_only=True`` only in recent releases, and torch < 2.6 (``torch>=2.4``
is allowed) defaults to ``weights_only=False``: this way no installed pair unpickles code.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autolit.errors import UserError, one_line
from autolit.modules.archs import strip_head, torchvision_model
from autolit.modules.errors import spec_error

NONE, IMAGENET = "none", "imagenet"
PROBE_TIMEOUT_S = 5.0  # one HEAD request to the weights' host before a download is attempted
_HF_WEIGHTS, _HF_SAFE = "pytorch_model.bin", "model.safetensors"


def check_weights_value(weights: object, where: str) -> str:
    """``imagenet``, ``none`` or a path string; anything else is a spec mistake."""
    if not isinstance(weights, str) or not weights.strip():
        raise spec_error(f"{where}.weights", f"must be imagenet, none or the path of a weights file "
                                             f"(.safetensors or a torch.save state dict), got {weights!r}")
    return weights


def is_pretrained(weights: str) -> bool:
    return weights.lower() != NONE


def build_with_weights(library: str, name: str, in_chans: int, weights: str, where: str) -> nn.Module:
    """The feature extractor with ``weights`` loaded (``imagenet`` or a path)."""
    if weights.lower() == IMAGENET:
        return _timm_imagenet(name, in_chans, where) if library == "timm" else _tv_imagenet(name, where)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UserError(f"{where}.weights: weights file {path} does not exist; fix: give the path of a "
                        f".safetensors file or a torch.save state dict of {name} (relative paths start at "
                        f"the current folder), or write weights: imagenet / none")
    try:
        if library == "timm":
            return _timm_from_file(name, in_chans, path, check=True)
        return _tv_load(name, _read_state_dict(path))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors, pickle, zip and shape errors all mean "bad file"
        reason = ("refused: it references Python objects a weights-only load does not allow"
                  if "weights_only" in str(exc) or "Unsupported global" in str(exc) else one_line(exc))
        raise UserError(f"{where}.weights: cannot load weights file {path} into {library} {name} "
                        f"({reason}); fix: pass an intact .safetensors or weights-only state dict "
                        f"of exactly this architecture, from a source you trust") from None


def _timm(name: str, in_chans: int, overlay: dict[str, Any] | None) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=True, num_classes=0, in_chans=in_chans,
                             pretrained_cfg_overlay=overlay)


def _timm_from_file(name: str, in_chans: int, path: Path, *, check: bool) -> nn.Module:
    """timm's ``name`` with the weights in ``path`` (``check``: refuse a file that lacks tensors).

    timm reads a ``.safetensors`` file itself (its pretrained-loading path: stem adapted to
    ``in_chans``, head dropped); any other file is read with ``torch.load(weights_only=True)`` and
    handed to timm as a temporary ``.safetensors`` copy, so timm never unpickles a file.
    """
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
        model = _timm(name, in_chans, {"file": str(path)})
    else:
        from safetensors.torch import save_file

        state = _read_state_dict(path, ema_first=True)  # which tensors timm's loader would take
        keys = set(state)
        with tempfile.TemporaryDirectory(prefix="autolit-weights-") as tmp:
            copy = Path(tmp) / "weights.safetensors"
            save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, str(copy))
            del state
            model = _timm(name, in_chans, {"file": str(copy)})
    return _covered(model, {k[7:] if k.startswith("module.") else k for k in keys}, name) if check else model


def _covered(model: nn.Module, keys: set[str], name: str) -> nn.Module:
    """timm loads a file non-strictly when the head is dropped: refuse one that misses tensors."""
    missing = [k for k in model.state_dict() if k not in keys and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"it lacks {len(missing)} of the tensors of {name}, e.g. {', '.join(missing[:2])}")
    return model


# ---- timm ------------------------------------------------------------------------------------
def _timm_imagenet(name: str, in_chans: int, where: str) -> nn.Module:
    cfg = _timm_cfg(name, where)
    cached, source_url, cache_dir = _timm_cached(cfg)
    if cached is not None:
        return _timm_from_file(name, in_chans, Path(cached), check=False)  # no network: the cached copy
    _require_network(source_url, cache_dir, name, where, hub=bool(cfg.get("hf_hub_id")))
    try:
        return _timm(name, in_chans, None)  # timm downloads into its cache (hub or torch.hub)
    except Exception as exc:  # noqa: BLE001 - any failed download: same advice as offline
        raise UserError(_offline_message(name, where, source_url, cache_dir, one_line(exc))) from None


def _timm_cfg(name: str, where: str) -> dict[str, Any]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    cfg = cfg.to_dict() if cfg is not None else {}
    if not (cfg.get("hf_hub_id") or cfg.get("url")):
        import timm

        tags = timm.list_pretrained(f"{name.split('.')[0]}.*")
        raise UserError(f"{where}.weights: timm has no ImageNet weights for {name!r}"
                        f"{' (pretrained tags: ' + ', '.join(tags[:8]) + ')' if tags else ''}; fix: use a "
                        f"name with a pretrained tag, weights: PATH, or weights: none")
    return cfg


def _timm_cached(cfg: dict[str, Any]) -> tuple[str | None, str, str]:
    """(cached file or None, the URL it comes from, the cache folder) for timm's source of ``cfg``."""
    if cfg.get("hf_hub_id"):
        from huggingface_hub import constants, try_to_load_from_cache

        repo = cfg["hf_hub_id"].split("@")[0]
        filename = cfg.get("hf_hub_filename") or _HF_WEIGHTS
        names = ([_HF_SAFE] if filename == _HF_WEIGHTS else
                 [filename[:-4] + ".safetensors"] if filename.endswith(".bin") else []) + [filename]
        for candidate in names:
            found = try_to_load_from_cache(repo, candidate)
            if isinstance(found, str):
                return found, "", constants.HF_HUB_CACHE
        return None, f"{constants.ENDPOINT}/{repo}/resolve/main/{names[0]}", constants.HF_HUB_CACHE
    return _hub_checkpoint(cfg["url"])


def _hub_checkpoint(url: str) -> tuple[str | None, str, str]:
    """torch.hub's cache entry for ``url``: (file or None, url, folder)."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / os.path.basename(url.split("?")[0])
    return (str(path) if path.is_file() else None), url, str(folder)


# ---- torchvision -----------------------------------------------------------------------------
def _tv_enum(name: str, where: str) -> Any:
    from torchvision.models import get_model_weights

    weights = get_model_weights(name).DEFAULT
    if weights is None:
        raise UserError(f"{where}.weights: torchvision has no ImageNet weights for {name}; fix: weights: none")
    return weights


def _tv_imagenet(name: str, where: str) -> nn.Module:
    enum = _tv_enum(name, where)
    cached, url, folder = _hub_checkpoint(enum.url)
    if cached is None:
        _require_network(url, folder, name, where, hub=False)
    try:
        with _socket_timeout(PROBE_TIMEOUT_S * 6):  # torch.hub's urlopen has no timeout of its own
            state = enum.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(_offline_message(name, where, url, folder, one_line(exc))) from None
    return _tv_load(name, state)


def _tv_load(name: str, state: dict[str, torch.Tensor]) -> nn.Module:
    """torchvision's ``name`` with ``state`` loaded (its ImageNet head may be absent), head removed."""
    model = torchvision_model(name)
    missing, _ = model.load_state_dict(state, strict=False)
    head = {k for k in missing if _is_last_linear(model, k)}
    if set(missing) - head:
        raise ValueError(f"missing keys {sorted(set(missing) - head)[:3]}")
    return strip_head(model)


def _is_last_linear(model: nn.Module, key: str) -> bool:
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return bool(linears) and key.rsplit(".", 1)[0] == linears[-1]


def _read_state_dict(path: Path, *, ema_first: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (a training checkpoint's ``state_dict``/``model`` entry;
    ``ema_first``: its EMA weights when it has them, as timm's loader picks)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    keys = ("state_dict_ema", "model_ema", "state_dict", "model") if ema_first else ("state_dict", "model")
    for key in keys:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a state dict")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


# ---- network ---------------------------------------------------------------------------------
def _require_network(url: str, cache_dir: str, name: str, where: str, *, hub: bool) -> None:
    """Stop at once with the offline message unless ``url``'s host answers within the deadline."""
    offline = hub and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    reason = "HF_HUB_OFFLINE is set" if offline else _probe(url, PROBE_TIMEOUT_S)
    if reason:
        raise UserError(_offline_message(name, where, url, cache_dir, reason))


def _probe(url: str, timeout: float) -> str | None:
    """None when ``url``'s server answers a HEAD request (any status), else the reason.

    Run in a daemon thread and waited for at most ``timeout`` seconds: name resolution has no
    timeout of its own.
    """
    result: list[str | None] = []

    def ask() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            result.append(None)
        except urllib.error.HTTPError:
            result.append(None)  # the server answered: the network works
        except Exception as exc:  # noqa: BLE001 - DNS, refused, reset, TLS, a socket guard...
            result.append(one_line(exc, 120))

    worker = threading.Thread(target=ask, daemon=True, name="autolit-weights-probe")
    worker.start()
    worker.join(timeout)
    return result[0] if result else f"no answer within {timeout:g} s"


def _offline_message(name: str, where: str, url: str, cache_dir: str, reason: str) -> str:
    filename = os.path.basename(url.split("?")[0]) or "the weights file"
    local = f"weights/{name.split('.')[0]}{Path(filename).suffix or '.pth'}"
    return (f"{where}.weights: imagenet weights for {name} are not in the cache ({cache_dir}) and cannot "
            f"be downloaded ({reason}); fix: on a machine with network download {url}, copy it here "
            f"(e.g. to {local}) and write weights: {local} (or run once with network to fill the cache)")


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """``socket``'s default timeout for the block (so a urlopen without a timeout has one)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def pretrained_preprocessing(library: str, name: str) -> dict[str, Any]:
    """``image_size``, ``mean``, ``std`` the weights were trained with (no weights are read).

    timm: the architecture's pretrained config (the same for ``imagenet`` and a file in its
    layout); torchvision: the DEFAULT weights' transforms (crop size, mean, std).
    """
    if library == "timm":
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(name)
        cfg = cfg.to_dict() if cfg is not None else {}
        size = (cfg.get("input_size") or (3, 224, 224))[-1]
        return {"image_size": int(size), "mean": [float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406))],
                "std": [float(v) for v in cfg.get("std", (0.229, 0.224, 0.225))]}
    from torchvision.models import get_model_weights

    transforms = get_model_weights(name).DEFAULT.transforms()
    return {"image_size": int(transforms.crop_size[0]), "mean": [float(v) for v in transforms.mean],
            "std": [float(v) for v in transforms.std]}
