"""The driver's live output: one line per finished trial (each outcome), a progress line redrawn
in place on a terminal and printed only now and then into a file."""

from __future__ import annotations

import io

import optuna
from optuna.trial import TrialState

from autolit.search.run import progress as progress_lib
from autolit.search.run.progress import Progress, trial_line
from autolit.search.storage import open_storage
from autolit.search.study import set_outcome


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _finish(study, state, value=None, outcome=None, epochs=0, slot="cpu#1"):
    """A finished trial; ``outcome`` is ``(code, detail, epoch)`` as the objective records it."""
    trial = study.ask()
    trial.set_user_attr("slot", slot)
    for epoch in range(epochs):
        trial.report(0.5 + 0.1 * epoch, epoch)
    if outcome:
        set_outcome(trial, *outcome)
    study.tell(trial, value, state=state)
    return study.trials[-1]


def test_one_line_per_outcome(tmp_path):
    study = optuna.create_study(study_name="s", storage=open_storage(str(tmp_path / "j.log")), direction="maximize")
    done = _finish(study, TrialState.COMPLETE, 0.9139, epochs=4)
    best = study.best_trial
    assert trial_line(done, "val/acc", best).startswith("trial 0 [cpu#1] COMPLETE val/acc=0.9139 (4 epochs, ")
    assert trial_line(done, "val/acc", best).endswith("s) best=0.9139 #0")
    pruned = _finish(study, TrialState.PRUNED, outcome=("pruned", "val/acc=0.6 at epoch 1", 1), epochs=2)
    assert "PRUNED at epoch 1 val/acc=0.6000 (2 epochs," in trial_line(pruned, "val/acc", best)
    # the epoch is read from its attribute, not from the text: a detail that says otherwise changes nothing
    other = _finish(study, TrialState.PRUNED, outcome=("pruned", "at epoch 7", 0), epochs=1)
    assert "PRUNED at epoch 0 " in trial_line(other, "val/acc", best)
    oom = _finish(study, TrialState.PRUNED, outcome=("cuda_oom", "CUDA out of memory. Tried to allocate 2 GiB"))
    assert "PRUNED cuda_oom: CUDA out of memory. Tried to allocate 2 GiB (0 epochs," in trial_line(oom, "val/acc", None)
    failed = _finish(study, TrialState.FAIL, outcome=("error", "ValueError: a bug"))
    assert "FAIL error: ValueError: a bug (0 epochs" in trial_line(failed, "val/acc", best)
    died = _finish(study, TrialState.FAIL)
    assert "FAIL its worker died (retried once)" in trial_line(died, "val/acc", best, retried=True)
    assert trial_line(died, "val/acc", best).split(" (")[0].endswith("FAIL its worker died")  # no retry queued


def test_a_trial_a_config_error_ended_says_so_and_is_not_counted(tmp_path):
    """A UserError in the objective stops the search; its trial was shown as "worker died (retried once)"."""
    from autolit.errors import UserError
    from autolit.search.config import load_search_config
    from autolit.search.records import trial_record
    from autolit.search.run.devices import Slot
    from autolit.search.run.objective import Objective
    from autolit.search.study import n_counted
    from tests.search.search_configs import write_configs
    from tests.search.search_stubs import stub_info

    def bad_fit(config, **kwargs):
        raise UserError("data.store stores/nope does not exist: check the path")

    cfg = load_search_config(write_configs(tmp_path))
    objective = Objective(cfg, Slot(index=0, accelerator="cpu"), tmp_path / "runs", fit=bad_fit,
                          data_info=stub_info, log_output=False)
    study = optuna.create_study(study_name="s", storage=open_storage(str(tmp_path / "j.log")), direction="maximize")
    out = io.StringIO()
    progress = Progress(study, 4, "val/acc", out=out)
    try:
        study.optimize(objective, n_trials=1)
    except UserError:
        pass
    progress.close()
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL and n_counted(study) == 0
    assert "FAIL config error: data.store stores/nope does not exist: check the path (" in out.getvalue()
    assert "died" not in out.getvalue()
    record = trial_record(trial)
    assert (record["outcome"], record["detail"]) == ("config_error", "config error")
    assert record["reason"].startswith("data.store stores/nope")


def test_progress_line_is_redrawn_on_a_terminal_and_rare_in_a_file(tmp_path, monkeypatch):
    study = optuna.create_study(study_name="s", storage=open_storage(str(tmp_path / "j.log")), direction="maximize")
    _finish(study, TrialState.COMPLETE, 0.5, epochs=1)  # finished before the run: not reprinted
    tty = Terminal()
    live = Progress(study, 4, "val/acc", out=tty)
    live.poll()
    assert tty.getvalue().startswith("\r\x1b[K[1/4 done, 0 running] best val/acc=0.5000 #0, elapsed 0.")
    _finish(study, TrialState.COMPLETE, 0.7, epochs=2)
    live.close()
    text = tty.getvalue()
    assert "\r\x1b[Ktrial 1 [cpu#1] COMPLETE val/acc=0.7000 (2 epochs, " in text and text.count("trial ") == 1
    assert text.endswith("\n") and "[2/4 done, 0 running] best val/acc=0.7000 #1" in text

    piped = io.StringIO()
    quiet = Progress(study, 4, "val/acc", out=piped)
    quiet.poll()
    assert piped.getvalue() == ""  # nothing new, and the minute has not passed
    monkeypatch.setattr(progress_lib, "PIPE_EVERY_S", 0.0)
    quiet.poll()
    assert piped.getvalue().startswith("[2/4 done, 0 running] best val/acc=0.7000 #1, elapsed ")


def test_one_duration_format_for_every_search_output():
    from autolit.search.records import duration_text

    assert [duration_text(s) for s in (None, float("nan"), 0.04, 8.14, 41.9, 217, 3599, 3720)] == [
        "-", "-", "0.0s", "8.1s", "41s", "3m37s", "59m59s", "1h02m"]
