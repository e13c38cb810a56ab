"""What README.md promises a newcomer, checked against the code (probe-readme)."""
from __future__ import annotations

import pytest

from service.settings import SettingsError, load_settings


@pytest.mark.parametrize("variable, raw, bound", [
    ("JOBS_RESCUE_AFTER_S", "31536001", "31536000"), ("JOBS_POLL_INTERVAL_S", "0.01", "0.1"),
    ("DB_POOL_TIMEOUT", "0", "0.001"),
])
def test_a_float_setting_out_of_bounds_names_its_bound_as_written(tmp_path, variable, raw, bound):
    """README, Configuration: the job intervals are "at most 31,536,000 (one year)"; the error
    said `must be at most 3.1536e+07`, a figure the reader has to decode."""
    with pytest.raises(SettingsError) as caught:
        load_settings({"VAR_DIR": str(tmp_path), variable: raw})
    assert f" {bound}," in str(caught.value), str(caught.value)
