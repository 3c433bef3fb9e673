"""Config admission: whether a fit or search config that came over HTTP may run.

A job config from HTTP is untrusted: LightningCLI (jsonargparse) imports and instantiates any
``class_path`` it is given (over HTTP that is remote code execution: Ray's unauthenticated job
API, CVE-2023-48022), imports a callable from a string, reads a string at a class place as a config
file, and writes wherever a path key points. :func:`admit_fit` and :func:`admit_search` accept
only allowlisted classes (by the class a name resolves to, not its spelling; see
:mod:`autolit.serve.admit.classes`) at every place a class can appear, only paths inside the
service's home and data roots (:mod:`autolit.serve.admit.paths`), never the server's SerpApi key,
and return the config to run: class names in full, every path absolute and resolved.

The job must run with its folder as the working directory: what a config leaves to defaults
(``runs/``, Lightning's ``default_root_dir``) lands there.
"""

from __future__ import annotations

from pathlib import Path

from autolit.serve.admit.classes import Allowlist
from autolit.serve.admit.errors import AdmissionError, scrub
from autolit.serve.admit.fit import admit_fit_config
from autolit.serve.admit.paths import Places, Roots
from autolit.serve.admit.yamltext import parse_yaml_text

__all__ = ["AdmissionError", "Roots", "admit_fit", "admit_search", "parse_yaml_text", "scrub"]


def admit_fit(config: dict, roots: Roots, *, job_dir: Path) -> dict:
    """Check classes and paths anywhere in a fit config; return the config to run (a new dict:
    class names in full, relative paths resolved against ``job_dir`` and made absolute) or raise
    :class:`AdmissionError`."""
    return admit_fit_config(config, Allowlist.with_extra(tuple(roots.allow_classes)), Places(roots, job_dir))


def admit_search(config: dict, roots: Roots, *, job_dir: Path, fit_config: dict) -> dict:
    """The same for a search config (its overrides and every space choice, placed into the fit
    config as a trial would get them) and the already-loaded ``fit_config`` it names.

    Returns the search config to run; its ``fit_config`` (a relative one is taken from
    ``job_dir``, where the search config is written) is the absolute path of the file the search
    will read: that file must hold ``admit_fit(fit_config, roots, job_dir=job_dir)`` (write that
    into the job's folder and point ``fit_config`` at it), so what runs is what was admitted.
    """
    from autolit.serve.admit.search import admit_search_config

    return admit_search_config(config, fit_config, Allowlist.with_extra(tuple(roots.allow_classes)),
                               Places(roots, job_dir))
