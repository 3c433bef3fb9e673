"""The job service (``python -m autolit.serve``): API, job table, runner and config admission."""
