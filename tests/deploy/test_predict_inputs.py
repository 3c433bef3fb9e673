"""predict's inputs: a broken file among good ones, missing paths, folders, http(s) URLs.

URL tests serve PNGs from a local HTTP server on 127.0.0.1; an autouse guard fails any test that
dials a non-loopback address from this process (private addresses must be refused from the
resolved address, before connecting).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from autolit.deploy.inputs import safe_fetch
from autolit.deploy import predict_paths
from autolit.predict import main


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if this process tries to connect anywhere but loopback; returns the hosts dialled."""
    dialled: list[str] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if isinstance(address, tuple):
            dialled.append(str(address[0]))
            if not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
                raise AssertionError(f"test tried to connect to non-loopback {address[0]}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return dialled


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def http_root(tmp_path: Path, digit_pngs) -> Iterator[tuple[str, Path]]:
    """(base URL on 127.0.0.1, served folder) holding two digit PNGs and a text file."""
    root = tmp_path / "www"
    root.mkdir()
    for path in digit_pngs[0][:2]:
        shutil.copy(path, root / path.name)
    (root / "notes.txt").write_text("not an image")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mixed_inputs(tmp_path: Path, digit_pngs) -> list[str]:
    """Three good PNGs with a broken one (PNG signature, garbage after) in the middle."""
    good = [str(p) for p in digit_pngs[0][:3]]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    return good[:2] + [str(broken)] + good[2:]


def test_cli_json_broken_file_gives_one_error_line_and_exit_1(digits_export, mixed_inputs):
    run = subprocess.run([sys.executable, "-m", "autolit.predict", str(digits_export.out_dir), *mixed_inputs,
                          "--json", "--batch-size", "2"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr[-2000:]  # documented: 1 when any input could not be read
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["path"] for r in rows] == mixed_inputs
    errors = [r for r in rows if "error" in r]
    assert len(errors) == 1 and errors[0]["path"].endswith("broken.png")
    assert errors[0]["error"].startswith("not_image:") and set(errors[0]) == {"path", "error"}
    assert all(r["label"] in [str(i) for i in range(10)] and len(r["top"]) == 3 for r in rows if "error" not in r)
    assert "1 of 4 inputs could not be read" in run.stderr


def test_table_broken_file_gives_one_error_row(digits_export, mixed_inputs, capsys):
    assert main([str(digits_export.out_dir), *mixed_inputs, "--top-k", "1"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert [line for line in lines if "error:" in line] == [lines[2]]
    assert lines[2].startswith(mixed_inputs[2]) and "not_image" in lines[2]
    for line in lines[:2] + lines[3:]:
        label, prob = line.split()[-2:]
        assert label in [str(i) for i in range(10)] and 0.0 < float(prob) <= 1.0


def test_all_good_exit_0_missing_and_empty_folder_reported(digits_export, digit_pngs, tmp_path, capsys):
    assert main([str(digits_export.out_dir), str(digit_pngs[0][0]), "--json"]) == 0
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no images here")
    preds = predict_paths(digits_export.out_dir, [str(tmp_path / "nope.png"), str(empty), str(digit_pngs[0][1])])
    assert [p.error.split(":")[0] if p.error else "ok" for p in preds] == ["missing", "no_images", "ok"]


def test_folder_walked_recursively(digits_export, digit_pngs, tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(digit_pngs[0][0], tmp_path / "a" / "one.PNG")
    shutil.copy(digit_pngs[0][1], nested / "two.png")
    (nested / "skip.txt").write_text("x")
    preds = predict_paths(digits_export.out_dir, [str(tmp_path / "a")])
    assert [Path(p.path).name for p in preds] == ["two.png", "one.PNG"]  # sorted walk: a/b/two < a/one
    assert all(p.error is None for p in preds)


def test_url_from_allow_listed_loopback_server(digits_export, digit_pngs, http_root, loopback_only):
    base, root = http_root
    names = sorted(p.name for p in root.glob("*.png"))
    urls = [f"{base}/{name}" for name in names]
    fetch = safe_fetch(allow_hosts=("127.0.0.1",))
    preds = predict_paths(digits_export.out_dir, [*urls, f"{base}/missing.png", f"{base}/notes.txt"], fetch=fetch)
    local = predict_paths(digits_export.out_dir, [str(root / name) for name in names])
    assert [p.top for p in preds[:2]] == [p.top for p in local]  # same bytes, same answer
    assert preds[2].error.startswith("url_http_404") and preds[3].error.startswith("url_not_image")
    assert loopback_only and set(loopback_only) == {"127.0.0.1"}


def test_private_addresses_refused_without_allow_list(digits_export, http_root, loopback_only):
    base, _ = http_root
    urls = [f"{base}/x.png", "http://localhost/x.png", "http://10.1.2.3/x.png", "http://169.254.169.254/x.png",
            "file:///etc/passwd", "ftp://127.0.0.1/x.png"]
    preds = predict_paths(digits_export.out_dir, urls)  # the default: the scraper's safe downloader
    assert all(p.error for p in preds)
    assert all(p.error.startswith("url_blocked_address:") for p in preds[:4]), [p.error for p in preds]
    assert "non-public address 127.0.0.1" in preds[1].error and "--allow-hosts" in preds[1].error
    assert all(p.error.startswith("missing") for p in preds[4:])  # not URLs we fetch: no such file
    assert loopback_only == []  # refused from the resolved address, before any connection


def test_cli_url_refused_by_default_allowed_with_allow_hosts(digits_export, http_root):
    base, root = http_root
    url = f"{base}/{sorted(p.name for p in root.glob('*.png'))[0]}"
    cli = [sys.executable, "-m", "autolit.predict", str(digits_export.out_dir), url, "--json"]
    refused = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    (row,) = [json.loads(line) for line in refused.stdout.splitlines()]
    assert row["path"] == url and row["error"].startswith("url_blocked_address:")
    allowed = subprocess.run([*cli, "--allow-hosts", "127.0.0.1"], capture_output=True, text=True, timeout=120)
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    (row,) = [json.loads(line) for line in allowed.stdout.splitlines()]
    assert row["path"] == url and row["label"] in [str(i) for i in range(10)]


def test_bad_export_dir_and_options_are_user_errors(digits_export, digit_pngs, tmp_path):
    from autolit.errors import UserError

    with pytest.raises(UserError, match=r"export folder .*nowhere does not exist; fix: run python -m autolit.export"):
        main([str(tmp_path / "nowhere"), str(digit_pngs[0][0])])
    with pytest.raises(UserError, match=r"--top-k, --batch-size and --threads must be >= 1, got 0, 64 and None"):
        main([str(digits_export.out_dir), str(digit_pngs[0][0]), "--top-k", "0"])
    half = tmp_path / "half"
    half.mkdir()
    for name in ("preprocessing.json", "labels.json", "metadata.json"):
        shutil.copy(digits_export.out_dir / name, half)
    with pytest.raises(UserError, match=r"holds no runnable model .*fix: run python -m autolit.export"):
        main([str(half), str(digit_pngs[0][0])])


def _dds_with_zeroed_pixel_format() -> bytes:
    """A DDS header whose pixel-format flags are 0: Pillow's plugin raises NotImplementedError."""
    header = struct.pack("<7I", 124, 0x1007, 4, 4, 16, 0, 0) + b"\0" * 44
    pixel_format = struct.pack("<8I", 32, 0, 0, 0, 0, 0, 0, 0)
    return b"DDS " + header + pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0) + b"\0" * 64


def test_any_decoder_failure_is_one_error_row(digits_export, digit_pngs, tmp_path, capsys):
    cat = tmp_path / "cat.png"
    cat.write_bytes(_dds_with_zeroed_pixel_format())
    good = str(digit_pngs[0][0])
    assert main([str(digits_export.out_dir), str(cat), good, "--json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == {"path": str(cat), "error": "not_image: NotImplementedError: Unknown pixel format flags 0"}
    assert rows[1]["path"] == good and "label" in rows[1]


def test_formats_outside_the_stores_allow_list_are_refused(digits_export, digit_pngs, tmp_path):
    """Predict parses untrusted inputs only with the plugins the store's import allows (not GIF, not PPM)."""
    from PIL import Image

    img = Image.open(digit_pngs[0][0]).convert("RGB")
    paths = []
    for name, fmt in (("anim.gif", "GIF"), ("disguised.png", "PPM")):
        paths.append(tmp_path / name)
        img.save(paths[-1], format=fmt)
    preds = predict_paths(digits_export.out_dir, [*map(str, paths), str(digit_pngs[0][0])])
    allowed = "BMP, JPEG, MPO, PNG, TIFF, WEBP"
    assert [p.error for p in preds] == [f"format_not_allowed: GIF is not one of {allowed}",
                                        f"format_not_allowed: PPM is not one of {allowed}", None]


def test_fifo_and_devices_are_refused_without_reading(digits_export, digit_pngs, tmp_path):
    """A FIFO would block open() forever and a device may never end: neither is read."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    run = subprocess.run([sys.executable, "-m", "autolit.predict", str(digits_export.out_dir), str(fifo),
                          "/dev/null", str(digit_pngs[0][0]), "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr[-2000:]
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    refused = "unreadable: not a regular file (a FIFO, device or socket); pass an image file"
    assert [r.get("error") for r in rows] == [refused, refused, None]


def test_files_and_urls_share_one_byte_cap(digits_export, digit_pngs, http_root, monkeypatch):
    """The same image is too large, or not, whether it comes from a file or a URL."""
    from autolit.deploy import inputs

    base, root = http_root
    name = sorted(p.name for p in root.glob("*.png"))[0]
    size = (root / name).stat().st_size
    for cap, expected in ((size - 1, ["too_large", "url_too_many_bytes"]), (size, [None, None])):
        monkeypatch.setattr(inputs, "MAX_SOURCE_BYTES", cap)
        preds = predict_paths(digits_export.out_dir, [str(root / name), f"{base}/{name}"],
                              fetch=safe_fetch(allow_hosts=("127.0.0.1",)))
        assert [p.error and p.error.split(":")[0] for p in preds] == expected, [p.error for p in preds]
