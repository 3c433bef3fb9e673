"""What a run records about itself: the monitored metric, the resolved config, final hparams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L

from autolit.errors import UserError

# The model receives these from the data (links); a run records them under ``resolved:``.
LINKED_MODEL_KEYS = ("n_labels", "input_shape", "label_names", "preprocessing")


def monitor_for(task: str) -> tuple[str, str]:
    """The validation metric a run keeps its best checkpoint by, and its direction."""
    from autolit.modules.tasks import TASKS

    return TASKS[task].monitor, TASKS[task].mode


def resolved_config(config: dict[str, Any], model: L.LightningModule, data: Any) -> dict[str, Any]:
    """The config with every ``auto`` filled in, replayable with ``--config``.

    ``model.layers`` becomes the fully resolved spec (a preset is expanded into it). What the model
    took from the data (label count and names, input shape, preprocessing) and the store
    fingerprint go under ``resolved:``, which ``autolit.fit`` reads back only to warn when the
    store changed since.
    """
    resolved = _plain(config)
    resolved.pop("config", None)  # the path(s) of the files it came from: not part of the content
    resolved.pop("ckpt_path", None)
    model_cfg = resolved.setdefault("model", {})
    model_cfg["layers"] = _plain(model.hparams["layers"])
    model_cfg["preset"] = None
    record = {key: _plain(model.hparams.get(key)) for key in LINKED_MODEL_KEYS}
    record["parameters"] = sum(p.numel() for p in model.parameters())
    record["store_fingerprint"] = getattr(data, "fingerprint", None)
    resolved["resolved"] = record
    return resolved


def final_hparams(config: dict[str, Any], model: L.LightningModule) -> dict[str, Any]:
    """A flat, TensorBoard-friendly summary of what made this run different from others."""
    model_cfg, data_cfg = config.get("model") or {}, config.get("data") or {}
    optimizer = config.get("optimizer") or {}
    params = {
        "task": model.hparams.get("task"),
        "preset": model_cfg.get("preset") or "",
        "n_layers": len(model.hparams.get("layers") or []),
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": data_cfg.get("batch_size"),
        "image_size": model.hparams.get("input_shape", [0, 0])[-1],
        "optimizer": str(optimizer.get("class_path", "torch.optim.Adam")).rsplit(".", 1)[-1],
        "seed": config.get("seed_everything"),
        "max_epochs": (config.get("trainer") or {}).get("max_epochs"),
    }
    for key, value in (optimizer.get("init_args") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            params[f"optimizer.{key}"] = value
    return {k: ("" if v is None else v) for k, v in params.items()}


def find_last_checkpoint(run_root: Path) -> Path:
    """The ``last.ckpt`` of the newest ``version_*`` under ``run_root`` (for ``--ckpt_path last``)."""
    candidates = sorted(run_root.glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserError(f"--ckpt_path last: no last.ckpt under {run_root}/version_*/checkpoints; "
                        "train once without --ckpt_path first, or pass a checkpoint path")
    return candidates[-1]


def plain_dict(node: Any) -> dict[str, Any]:
    """A jsonargparse Namespace (or a mapping, or ``None``) as a dict."""
    return node.as_dict() if hasattr(node, "as_dict") else dict(node or {})


def _plain(value: Any) -> Any:
    """Turn Namespaces, tuples and paths into plain YAML-safe types."""
    if hasattr(value, "as_dict"):
        value = plain_dict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
