"""Shared HTTP safety: which URLs may be fetched (``netpolicy``) and the safe downloader (``safe_http``).

Used by the scraper (image downloads) and by predict (image URLs); imports nothing of autolit but
:mod:`autolit.errors`.
"""
