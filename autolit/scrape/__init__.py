"""Build an image store from web image search (Google Images via SerpApi), safely.

    SERPAPI_API_KEY=... python -m autolit.scrape --queries "husky,beagle" --per-query 200 --store data/dogs

Files:
    serp.py       SerpApi adapter: paging (ijn), timeouts, 401/403 stop, 429/5xx back-off, key scrubbing
    scrub.py      remove the API key from URLs, messages and urllib3 debug logs
    worker.py     one result in a thread: fetch (autolit.net's safe downloader) → normalise (store policy) → dHash
    collect.py    the pipeline: pages → thread pool → StoreWriter (main thread), resume, flushes
    phash.py      64-bit dHash near-duplicate index
    report.py     per-query counters and the closing table;  progress.py: rich bars
    queries.py    --queries / --queries-file parsing (``label=query``)
"""
