"""The job service (``python -m autolit.serve``): API, job table, runner and config admission.

Files: ``__main__.py`` (flags → start), ``app.py`` (FastAPI routes), ``models.py`` (every request
and answer), ``table.py`` (the SQLite job and event table, the truth), ``jobs.py`` (a submission:
YAML → admission → the CLI's checks → the job's folder), ``runner.py`` (slots, one process group
per job, stop/resume, reconcile at start-up), ``launch.py`` (a job dies with the server),
``progress.py`` (log, TensorBoard scalars, a study's trials), ``events.py`` (the SSE stream),
``deployment.py`` (export and predict), ``guard.py`` (token, body caps), ``admission.py`` and
``admit/`` (class allowlist, path roots, YAML caps). See docs/serve.md.
"""
