"""The model's speed keys, ``model.channels_last`` and ``model.compile``, checked into one dict.

They change how fast the network trains, not what it computes, so :class:`AutoLitModule` keeps them
out of its hyperparameters (checkpoints and exports are the same with or without them).
"""

from __future__ import annotations

from typing import Any

from autolit.errors import UserError, invalid_value, suggest

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
COMPILE_KEYS = ("mode", "backend", "fullgraph", "dynamic")


def check_speed_options(channels_last: bool, compile: bool | str | dict) -> dict[str, Any]:  # noqa: A002
    """``{"channels_last": bool, "compile": torch.compile kwargs or None}`` from the config values."""
    if not isinstance(channels_last, bool):
        raise invalid_value("model.channels_last", channels_last, "AutoLitModule", "true or false", "true")
    if compile is False or compile is None:
        return {"channels_last": channels_last, "compile": None}
    if compile is True:
        compile = {"mode": "default"}
    elif isinstance(compile, str):
        compile = {"mode": compile}
    if not isinstance(compile, dict) or set(compile) - set(COMPILE_KEYS):
        raise UserError(f"model.compile: {compile!r} is not understood; use false, true, one of "
                        f"{', '.join(COMPILE_MODES)}, or a map with keys {', '.join(COMPILE_KEYS)}")
    if compile.get("mode", "default") not in COMPILE_MODES:
        raise UserError(f"model.compile: unknown mode {compile['mode']!r}{suggest(str(compile['mode']), COMPILE_MODES)}; "
                        f"valid modes: {', '.join(COMPILE_MODES)}")
    return {"channels_last": channels_last, "compile": dict(compile)}
