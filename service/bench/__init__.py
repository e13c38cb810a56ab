"""`python run.py bench`: the project's own load benchmark.

Every figure is measured next to a ceiling taken in the same run on the same
machine (a bare aiohttp handler, a bare aiohttp + asyncpg handler), so the
headline numbers are ratios that survive a noisy, shared 2-core box.
"""
