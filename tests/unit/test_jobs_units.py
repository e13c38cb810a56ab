"""Pure pieces of the jobs: the retry backoff and the CSV cell rules."""
from __future__ import annotations

import random

from service.jobs.queue import backoff_s
from service.jobs.tasks.exports import _csv_cell, csv_rows, neutralise


def test_backoff_grows_exponentially_with_jitter_in_the_upper_half_and_is_capped():
    rand = random.Random(7)
    for attempt in range(1, 8):
        ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
        delays = [backoff_s(attempt, 2.0, 60.0, rand) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 100          # jittered, not one value
    assert backoff_s(30, 2.0, 60.0) <= 60.0


def test_cells_that_look_like_formulas_are_neutralised():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralise(start + "x") == "'" + start + "x"
    assert neutralise("plain") == "plain" and neutralise("") == ""
    assert _csv_cell(["a", "b"]) == "a;b" and _csv_cell(None) == "" and _csv_cell(True) == "true"
    assert _csv_cell(["=x"]) == "'=x"


def test_csv_rows_quote_as_rfc_4180():
    row = {name: None for name in ("id", "project_id", "run_id", "created_at", "status", "target_platform",
                                   "template_name", "word_count", "readability_score", "has_cta", "flags")}
    row.update(flags=[], has_cta=False, content='say "hi", then\r\nbye')
    assert csv_rows([row]).endswith(b',"say ""hi"", then\r\nbye"\r\n')
