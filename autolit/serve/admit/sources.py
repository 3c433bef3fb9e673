"""``data.source`` and ``data.store``: what a job imports, from where, into which store.

A source is resolved through the importer registry itself (:func:`autolit.datamodules.sources.
resolve_all`), so every form it accepts (``idx:DIR``, ``{folder: DIR, split: test}``, lists, the
scrape source's options) is judged as the job will run it: an importer's path argument is a
read path, its folder is walked for links out, a CSV's rows (image paths) must stay inside the
roots too. Every option of every importer has a reviewed role in :data:`OPTION_ROLES` (a test
fails on one that has none); an option without one is refused when it holds a string.

The scrape source's options that would hand the server's key or network to the config are held
to their defaults: ``serpapi_url`` receives the key in its query string (any other URL would be
sent the key), ``allow_hosts`` lets downloads reach private and loopback addresses (the service
itself, a cloud metadata endpoint).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autolit.errors import UserError
from autolit.serve.admit.errors import AdmissionError
from autolit.serve.admit.paths import Places

SERPAPI_URL = "https://serpapi.com"  # autolit.scrape.serp.DEFAULT_SERPAPI_URL (pinned by a test)
READ, PLAIN, DEFAULT_ONLY, EMPTY_ONLY = "read", "plain", "default_only", "empty_only"
OPTION_ROLES = {
    "queries_file": READ,
    "serpapi_url": DEFAULT_ONLY,
    "allow_hosts": EMPTY_ONLY,
    **{name: PLAIN for name in (
        "variant", "split", "max_side", "encode", "batch_size", "workers", "val_fraction", "test_fraction",
        "queries", "per_query", "chips", "per_host", "engine", "thumbnails", "near_dup", "near_dup_threshold",
        "max_bytes", "download_deadline", "connect_timeout", "read_timeout", "max_pages", "retries", "retry_delay")},
}


def admit_source(source: Any, places: Places) -> Any:
    """``data.source`` with every path resolved and admitted (the same shape back)."""
    from autolit.datamodules.sources import resolve_all

    source = _read_options_first(source, places)
    try:
        resolved = resolve_all(source)
    except UserError as exc:
        raise AdmissionError("data.source", source, f"is not a source the job can run ({exc})",
                             "see the error above; valid forms are listed there") from None
    one = isinstance(source, (str, dict))
    entries = [source] if one else list(source)
    out = [_entry(entry, r, places, "data.source" if one else f"data.source[{i}]")
           for i, (entry, r) in enumerate(zip(entries, resolved))]
    return out[0] if one else out


def _read_options_first(source: Any, places: Places) -> Any:
    """Files named by options admitted (and made absolute) before the registry's checks read them
    (the scrape source reads ``queries_file`` while checking it)."""
    one = isinstance(source, (str, dict))
    entries = [source] if one else list(source) if isinstance(source, list) else []
    out = []
    for i, entry in enumerate(entries):
        where = "data.source" if one else f"data.source[{i}]"
        if isinstance(entry, dict):
            entry = {k: _read_in(v, places, f"{where}.{k}") if isinstance(v, dict) else
                     places.read(v, f"{where}.{k}") if OPTION_ROLES.get(k) == READ and v is not None else v
                     for k, v in entry.items()}
        out.append(entry)
    return out[0] if one else out if isinstance(source, list) else source


def _read_in(options: dict, places: Places, where: str) -> dict:
    return {k: places.read(v, f"{where}.{k}") if OPTION_ROLES.get(k) == READ and v is not None else v
            for k, v in options.items()}


def _entry(entry: Any, r: Any, places: Places, where: str) -> Any:
    name = r.importer.name
    if isinstance(entry, str):
        if r.arg is None:
            return entry  # digits, digits-parity: no path, no options
        kind = entry.partition(":")[0]
        return f"{kind}:{_argument(r, places, where)}"
    entry = dict(entry)
    if r.arg is not None:
        entry[name] = _argument(r, places, f"{where}.{name}")
        options, base = entry, where
    else:
        entry[name] = options = dict(entry[name] or {})
        base = f"{where}.{name}"
    for option in list(options):
        if option != name:
            options[option] = _option(option, options[option], places, f"{base}.{option}")
    return entry


def _argument(r: Any, places: Places, key: str) -> str:
    """An importer's path argument (DIR or FILE): read from, walked for links, CSV rows checked."""
    path = places.read(r.arg, key)
    places.tree(path, key)
    if r.importer.name == "csv":
        _csv_rows(path, places, key)
    return path


def _csv_rows(path: str, places: Places, key: str) -> None:
    from autolit.store.importers.csv import _read_csv_rows  # the importer's own reading of the rows

    if not Path(path).is_file():
        return  # the importer says it is missing, in its own words
    try:
        rows = _read_csv_rows(Path(path))
    except UserError as exc:
        raise AdmissionError(key, path, f"is not a CSV the importer reads ({exc})", "fix the CSV") from None
    for line, (image, _) in enumerate(rows, start=1):
        real = places.resolve(str(image), key)
        if not (places.in_home(real) or places.in_data(real)):
            raise AdmissionError(key, path, f"lists {image} (row {line}), which leads to {real}, outside the "
                                 "service's home and data roots", "list only images inside the roots")


def _option(option: str, value: Any, places: Places, key: str) -> Any:
    role = OPTION_ROLES.get(option)
    if value is None:
        return value
    if role == READ:
        return places.read(value, key)
    if role == DEFAULT_ONLY and value != SERPAPI_URL:
        raise AdmissionError(key, value, "would receive the server's SerpApi key", f"leave it out ({SERPAPI_URL})")
    if role == EMPTY_ONLY and value not in ([], (), ""):
        raise AdmissionError(key, value, "lets downloads reach private and loopback addresses (this service, "
                             "metadata endpoints)", "leave it out")
    if role is None and not isinstance(value, (bool, int, float)):
        raise AdmissionError(key, value, "is an option admission has not reviewed", "leave it out")
    return value


def admit_store(args: dict, places: Places) -> None:
    """``data.store``: written (home only) when a source builds or completes it; else read, and a
    store in a data root only with ``data.cache: none`` (the decoded cache is written beside it)."""
    store = args.get("store")
    if store is None:
        return
    if args.get("source"):
        args["store"] = places.write(store, "data.store")
        return
    path = places.resolve(store, "data.store")
    if places.in_home(path):
        args["store"] = str(path)
    elif places.in_data(path):
        if args.get("cache", "auto") != "none":
            raise AdmissionError("data.cache", args.get("cache", "auto"), f"would write the decoded cache into "
                                 f"{path}, a store in a data root (read-only for jobs)",
                                 "set data.cache: none, or import the store into the service's home")
        args["store"] = str(path)
    else:
        raise AdmissionError("data.store", store, f"leads to {path}, outside the service's home and data roots",
                             "use a store inside the service's home or a --data-root folder")
