"""Every script in scripts/ runs in CI in its smallest mode: ``python scripts/X.py --smallest``.

Nothing else runs the benchmarks, so an API change used to break them silently (``bench_fit.py``
crashed on ``create_from_source`` on the GPU machine). The scripts are found by globbing, so a new
script without a ``--smallest`` mode fails here: it gets the generic check (exit 0, a table, a final
JSON object), and the scripts below get checks that they measured something. Data: the shared MNIST
and hymenoptera folders when present, else synthetic ones of the same layout (tests/scripts/data.py).

Some files are checked elsewhere, and only these (``ELSEWHERE``): modules that another script
imports (their code runs in that script's smallest mode), ``gpu_check.sh`` with its summary step,
whose dry run has its own test (tests/scripts/test_gpu_check.py), and the scripts whose own test
runs them ``--smallest`` with checks of their figures (bench_export, bench_page, page_screenshots).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.scripts.data import REPO, mnist_folder, photo_folder

SCRIPTS = REPO / "scripts"
pytestmark = pytest.mark.slow

#: file -> the chain that runs it, each naming the one before, down to a test that runs it --smallest
ELSEWHERE = {
    "fit_baselines.py": ["scripts/bench_fit.py", "tests/scripts/test_smallest.py"],
    "search_packing.py": ["scripts/bench_search.py", "scripts/gpu_check.sh", "tests/scripts/test_gpu_check.py"],
    "gpu_check_summary.py": ["scripts/gpu_check.sh", "tests/scripts/test_gpu_check.py"],
    "gpu_check.sh": ["tests/scripts/test_gpu_check.py"],
    "bench_export.py": ["tests/scripts/test_bench_export.py"],  # needs its baseline commit: skips without it
    "bench_page.py": ["tests/scripts/test_bench_page.py"],
    "page_screenshots.py": ["tests/scripts/test_bench_page.py"],
}


def scripts() -> list[str]:
    return sorted(p.name for p in [*SCRIPTS.glob("*.py"), *SCRIPTS.glob("*.sh")])


def run_script(name: str, *args: str, tmp: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """The script at its smallest, from the repository root; its temporary files under ``tmp``."""
    env = os.environ | {"PYTHONPATH": str(REPO), "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(SCRIPTS / name), "--smallest", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- what each script must have measured: (extra arguments, a line of its table, a check of its JSON)

def _bench_data(out: dict) -> None:
    assert out["smallest"] and out["photos"] == 40
    assert set(out["images_per_s"]) == {"imagefolder", "store", "cache", "cache+flip"}
    assert all(v > 0 for v in out["images_per_s"].values()) and out["store_vs_imagefolder"] > 0


def _bench_fit(out: dict) -> None:
    assert out["smallest"] and out["device"] == "cpu" and out["threads"] == 1 and out["epochs_timed"] == 1
    assert out["autolit_vs_handwritten"] > 0 and out["handwritten_s_per_epoch"] > 0
    recipe = out["recipe"]
    assert {r["loop"] for r in recipe["rows"]} == {"autolit mnist_fast", "hand-written mnist_fast",
                                                   "hand-written Keras CNN"}
    assert recipe["recipe_train_s"] > 0 and 0 < recipe["recipe_test_acc_min"] <= 1


def _bench_predict(out: dict) -> None:
    assert out["smallest"] and set(out["results"]) == {"digits", "mnist"}
    for rows in out["results"].values():
        assert {(r["runtime"], r["batch"]) for r in rows} == {(rt, b) for rt in ("eager", "onnx", "torchscript")
                                                             for b in (1, 64)}
        assert all(r["images_per_s"] > 0 and r["predict_images_per_s"] > 0 for r in rows)


def _bench_report(out: dict) -> None:
    (run,) = out["runs"]
    assert out["trials"] == run["trials"] == 30 and run["report_cli_s"] > 0 and run["page_mb"] > 0
    if "rendered_ok" in run:  # Chromium present
        assert run["rendered_ok"] and run["js_errors"] == 0 and run["plots"] > 0


def _bench_scrape(out: dict) -> None:
    (row,) = out["rows"]
    assert out["photos"] == 20 and row["kept"] == 20 and row["workers"] == 2 and row["images_per_s"] > 0


def _bench_search(out: dict) -> None:
    assert out["smallest"]
    for method in ("tpe+hyperband", "random"):
        assert out[method]["reached"] in ("0/1", "1/1") and 0 <= out[method]["mean_best"] <= 1
    assert set(out["trials_per_hour"]) == {"1", "2"} and all(v > 0 for v in out["trials_per_hour"].values())
    assert out["storage_share_pct"]["journal"] > 0 and out["memory"]["trials"] == 2


def _bench_serve(out: dict) -> None:
    figures = out["serve"]
    assert figures["invariants_ok"] and figures["load"]["states"] == {"succeeded": 2}
    assert figures["list_full"]["table"] == 50 and figures["list_full"]["p99_ms"] > 0


def _check_export_predict(out: dict) -> None:
    assert out["files"] == out["agree"] == 24 and out["export_s"] > 0


def _gpu_sampler(out: dict) -> None:
    assert out["backend"] in ("nvml", "nvidia-smi", "none")
    assert (out["samples"] == 0) == (out["backend"] == "none")


def _mnist_subset(out: dict) -> None:
    assert out["train"] == 200 and out["t10k"] == 100 and out["bytes"] > 200 * 784
    assert out["store"]["train"] + out["store"]["val"] == 200 and out["store"]["test"] == 100


Args = Callable[[Path], list[str]]
CHECKS: dict[str, tuple[Args, str, Callable[[dict], None]]] = {
    "bench_data.py": (lambda t: ["--data", str(photo_folder(t) / "train")], "vs imagefolder", _bench_data),
    "bench_fit.py": (lambda t: ["--mnist", str(mnist_folder(t))], "training seconds to", _bench_fit),
    "bench_predict.py": (lambda t: ["--mnist", str(mnist_folder(t))], "predict img/s", _bench_predict),
    "bench_report.py": (lambda t: [], "share of target", _bench_report),
    "bench_scrape.py": (lambda t: ["--data", str(photo_folder(t))], "images/s", _bench_scrape),
    "bench_search.py": (lambda t: [], "trials/hour, real driver", _bench_search),
    "bench_serve.py": (lambda t: [], "p99 ratio", _bench_serve),
    "check_export_predict.py": (lambda t: [], "export top-1 == checkpoint top-1", _check_export_predict),
    "gpu_sampler.py": (lambda t: [], "backend", _gpu_sampler),
    "mnist_subset.py": (lambda t: [str(mnist_folder(t))], "train", _mnist_subset),
}


def last_json(stdout: str) -> dict:
    lines = stdout.strip().splitlines()
    assert len(lines) >= 2, f"no table before the JSON line:\n{stdout[-2000:]}"
    out = json.loads(lines[-1])
    assert isinstance(out, dict) and out, lines[-1]
    return out


@pytest.mark.parametrize("name", [n for n in scripts() if n not in ELSEWHERE])
def test_script_runs_in_its_smallest_mode(name, tmp_path):
    args, table_line, check = CHECKS.get(name, (lambda t: [], "", lambda out: None))
    done = run_script(name, *args(tmp_path), tmp=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert table_line in done.stdout
    check(last_json(done.stdout))


@pytest.mark.parametrize("name", sorted(ELSEWHERE))
def test_a_script_checked_elsewhere_is_run_there(name):
    """The mapping cannot go stale: each file of the chain still names the one before it, and the
    chain ends in a test that runs its head with ``--smallest``."""
    previous = f"scripts/{name}"
    for step in ELSEWHERE[name]:
        assert Path(previous).stem in (REPO / step).read_text(), f"{step} no longer runs {previous}"
        previous = step
    assert previous.startswith("tests/") and "--smallest" in (REPO / previous).read_text()


def test_every_checked_script_exists():
    assert set(CHECKS) <= set(scripts()), set(CHECKS) - set(scripts())


# -- the commands the docs give name flags that exist

DOCS = [REPO / "README.md", REPO / "DEVELOPERS.md", *sorted((REPO / "docs").glob("*.md")), *SCRIPTS.glob("*.py"),
        *SCRIPTS.glob("*.sh"), *sorted((REPO / "configs").rglob("*.yaml"))]
COMMAND = re.compile(r"(?<![\w/.])scripts/([\w-]+\.(?:py|sh))([^`#|;,)\"\n]*)")


def documented_flags() -> list[tuple[str, str, str]]:
    """(file, script, flag) for each ``--flag`` written after ``scripts/X`` on a line of the docs."""
    found = []
    for doc in DOCS:
        for match in COMMAND.finditer(doc.read_text()):
            for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", match.group(2)):
                found.append((doc.relative_to(REPO).as_posix(), match.group(1), flag))
    return found


def test_documented_script_commands_use_existing_flags():
    """Each flag appears in the script's own argument parser (``"--flag"``) or, for a shell script, its
    option ``case`` (``--flag)`` / ``--flag|``): read from the source, so no script has to start."""
    wrong = []
    for doc, script, flag in documented_flags():
        path = SCRIPTS / script
        if not path.exists():
            wrong.append(f"{doc}: scripts/{script} does not exist")
            continue
        source = path.read_text()
        known = f'"{flag}"' in source if script.endswith(".py") else re.search(rf"{flag}[)|]", source)
        if not known and flag != "--help":
            wrong.append(f"{doc}: scripts/{script} {flag}")
    assert not wrong, "\n".join(sorted(set(wrong)))
    assert len(documented_flags()) > 20  # the pattern still finds the commands
