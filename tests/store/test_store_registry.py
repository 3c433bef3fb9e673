"""The importer registry is the one list: the CLI, data.source and the missing-store hint follow it,
and the reader writes nothing. (The store room's imports: tests/test_architecture.py.)"""

from __future__ import annotations

import ast
import csv

import numpy as np
import pytest

from autolit.datamodules import StoreDataModule
from autolit.datamodules.sources import source_forms
from autolit.errors import UserError
from autolit.store import StoreReader
from autolit.store.__main__ import build_parser, main
from autolit.store.importers import IMPORTERS, Importer, Option, cli_importers
from autolit.store.importers.base import STORE_OPTIONS, run_jobs
from autolit.store.pool import Job, encode_arrays
from tests.store.helpers import REPO, png_bytes


def _subcommands(parser) -> dict:
    """name -> subparser of the first subparsers action of ``parser``."""
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


def test_the_cli_offers_exactly_the_registry():
    kinds = _subcommands(_subcommands(build_parser())["import"])
    assert list(kinds) == [imp.name for imp in cli_importers()] == ["digits", "idx", "folder", "csv"]
    folder_flags = {a.dest for a in kinds["folder"]._actions}
    assert {o.name for o in IMPORTERS["folder"].options} <= folder_flags  # every option is a flag


def _solid(store, *, progress=False, policy=None, split_policy=None, n=4, batch_size=64):
    """A toy importer: ``n`` solid grey squares labelled dark/light."""
    pixels = np.stack([np.full((6, 6), 20 * i, dtype=np.uint8) for i in range(n)])  # (n, 6, 6)
    jobs = [Job(f"solid#{i}", label="dark" if i < n // 2 else "light") for i in range(n)]
    return run_jobs(store, "solid", jobs, pixels, encode_arrays, task="classification", labels=["dark", "light"],
                    policy=policy, batch_size=batch_size, workers=1, pool_min=0, chunk=64, progress=progress,
                    split=split_policy)


SOLID = Importer(name="solid", help="solid grey squares", run=_solid,
                 options=(Option("n", int, "how many", low=2, high=1000), *STORE_OPTIONS),
                 example="{solid: {n: 8}}")


def test_a_new_importer_is_one_registry_entry(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(IMPORTERS, "solid", SOLID)
    assert main(["import", "solid", "--store", str(tmp_path / "cli"), "--n", "6", "--no-progress"]) == 0
    assert StoreReader(tmp_path / "cli").meta.count == 6 and "added" in capsys.readouterr().out
    dm = StoreDataModule(str(tmp_path / "config"), source={"solid": {"n": 8}})
    assert dm.label_names == ["dark", "light"] and dm.reader.meta.count == 8
    assert "{solid: {n: 8}}" in source_forms()
    with pytest.raises(UserError, match=r"^data.source.solid.n: 1 is out of range; use a value at least 2$"):
        StoreDataModule(str(tmp_path / "bad"), source={"solid": {"n": 1}}).n_labels
    with pytest.raises(UserError, match=r"import digits\|idx\|folder\|csv\|solid \.\.\. --store PATH"):
        StoreReader(tmp_path / "nowhere")


def test_csv_is_a_data_source(tmp_path):
    (tmp_path / "img").mkdir()
    rows = [("img/%d.png" % i, i / 2) for i in range(12)]
    for i, (name, _) in enumerate(rows):
        (tmp_path / name).write_bytes(png_bytes(i))
    with (tmp_path / "angles.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("path", "target"), *rows])
    dm = StoreDataModule(str(tmp_path / "s"), source=f"csv:{tmp_path / 'angles.csv'}")
    assert dm.task == "regression" and dm.reader.meta.count == 12


def test_unknown_sources_list_every_form_of_the_registry():
    with pytest.raises(UserError) as caught:
        StoreDataModule("unused", source="digit").n_labels
    message = str(caught.value)
    assert message.startswith("data.source: unknown source 'digit' (did you mean 'digits'?); valid: digits, ")
    for form in ("digits-parity", "idx:DIR", "folder:DIR", "{folder: DIR, split: test}", "csv:FILE",
                 "{scrape: {queries: [ants, bees], per_query: 150}}"):
        assert form in message


def test_cli_option_ranges_name_the_flag(tmp_path, image_folder):
    with pytest.raises(UserError, match=r"^--workers: 1000 is out of range; use a value at most 64$"):
        main(["import", "folder", str(image_folder), "--store", str(tmp_path / "s"), "--workers", "1000"])
    with pytest.raises(UserError, match=r"^--batch-size: 0 is out of range; use a value at least 1$"):
        main(["import", "digits", "--store", str(tmp_path / "s"), "--batch-size", "0"])
    assert not (tmp_path / "s").exists()


def test_the_reader_writes_nothing():
    """put_aux writes, so it lives on the writer side (store/auxiliary.py), not in the reader."""
    tree = ast.parse((REPO / "autolit" / "store" / "reader.py").read_text())
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert not calls & {"put", "delete", "write_txn"}
    assert "put_aux" not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_a_list_option_is_one_comma_separated_flag(monkeypatch):
    names = Option("names", list, "label names (comma-separated)")
    monkeypatch.setitem(IMPORTERS, "tagged", Importer(name="tagged", help="tagged", run=_solid,
                                                      options=(names, *STORE_OPTIONS)))
    args = build_parser().parse_args(["import", "tagged", "--store", "s", "--names", "ants,bees"])
    assert args.names == "ants,bees"  # was: type=list, so ['a', 'n', 't', 's', ',', ...]
    assert names.check(args.names, "--names") == ["ants", "bees"]
