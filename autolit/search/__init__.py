"""Optuna search over a fit config, in three parts (optuna's own package has the same shape):

* the study core, here: the search config (:mod:`.config`), its space (:mod:`.space`), samplers,
  pruners and trial bookkeeping (:mod:`.study`), storages (:mod:`.storage`), one record per trial
  (:mod:`.records`), the status table (:mod:`.status`) and the best trial's model (:mod:`.best`);
* :mod:`autolit.search.run`: running a study (driver, device-slot workers, the trial objective,
  pruning callback, feasibility probe, live progress);
* :mod:`autolit.search.report`: the offline report of a study.

The core imports neither sub-room; ``run`` and ``report`` import the core, not each other.
"""
