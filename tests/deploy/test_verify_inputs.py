"""What export's checks run on: batches sized to the input, one pass per model, training's memory order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolit.deploy import verify
from autolit.deploy.checkpoint import trained_channels_last
from autolit.errors import UserError


def test_batch_size_follows_the_input_size():
    assert verify.batch_size_for(3, 288) == 4            # photos: ~4 MiB of float32 per batch
    assert verify.batch_size_for(1, 8) == verify.MAX_BATCH  # digits: capped
    assert verify.batch_size_for(3, 4096) == 1


def test_inputs_run_every_image_once_in_batches():
    images = np.arange(7 * 2 * 2, dtype=np.uint8).reshape(7, 1, 2, 2)
    calls = []

    def run(x):
        calls.append(len(x))
        return x.reshape(len(x), -1).sum(axis=1, keepdims=True)

    inputs = verify.Inputs(images, lambda b: b.astype(np.float32) * 2, 3, "store test split")
    out = inputs.outputs(run)
    assert calls == [3, 3, 1]
    np.testing.assert_array_equal(out[:, 0], images.reshape(7, -1).sum(axis=1) * 2.0)
    empty = verify.Inputs(images[:0], lambda b: b, 3, "store test split")
    assert empty.outputs(run).shape == (0, 1) and calls == [3, 3, 1]


def _state(conv: torch.nn.Module) -> dict:
    return {"state_dict": dict(conv.state_dict())}


def test_trained_channels_last_reads_the_saved_weights():
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=8), torch.nn.Conv2d(8, 4, 1))
    assert not trained_channels_last(_state(conv))
    assert trained_channels_last(_state(conv.to(memory_format=torch.channels_last)))
    depthwise_only = torch.nn.Conv2d(8, 8, 3, groups=8)  # (8, 1, 3, 3): both layouts at once, tells nothing
    assert not trained_channels_last(_state(depthwise_only.to(memory_format=torch.channels_last)))
    assert not trained_channels_last(_state(torch.nn.Linear(4, 2)))


def test_export_option_values_are_checked(digits_ckpt, tmp_path):
    from autolit.deploy import export_checkpoint

    with pytest.raises(UserError, match=r"--threads 0: must be an integer >= 1 \(default \d+\)"):
        export_checkpoint(digits_ckpt, tmp_path / "x", threads=0)
    with pytest.raises(UserError, match=r"--batch-size -2: must be an integer >= 1 \(default 256\)"):
        export_checkpoint(digits_ckpt, tmp_path / "x", batch_size=-2)
    assert not (tmp_path / "x").exists()


def test_batch_size_and_threads_do_not_change_the_checks(digits_export, digits_ckpt, tmp_path):
    from autolit.deploy import export_checkpoint

    threads = torch.get_num_threads()
    report = export_checkpoint(digits_ckpt, tmp_path / "b", formats=["torchscript", "onnx"], batch_size=5, threads=1)
    assert torch.get_num_threads() == threads  # set for the export only
    assert report.metadata["sample"]["batch_size"] == 5 and report.metadata["sample"]["threads"] == 1
    for name in ("checkpoint", "model.pt", "model.onnx"):
        assert report.test[name] == pytest.approx(digits_export.test[name], abs=1e-6)
    assert all(a.ok for a in report.agreements) and len(report.agreements) == 2
