"""Export and prediction internals: safe checkpoint loading, exporters, runtimes, preprocessing.

Entry points live in :mod:`autolit.export` and :mod:`autolit.predict`; this package holds the
pieces they share so each file stays small.
"""
