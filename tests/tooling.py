"""External tools some tests need (npm for StyLua, terraform, checkov).

On a contributor's machine without a tool those tests skip and say what to install. CI sets
COFFER_REQUIRE_ALL=1 (see .ci/run): there a missing tool fails the run instead of skipping.
"""

import os
import shutil

import pytest


def need(command: str, install: str) -> str:
    """The tool's path; skip (or, under COFFER_REQUIRE_ALL=1, fail) when it is not installed."""
    found = shutil.which(command)
    if found:
        return found
    reason = f"{command} is not installed: {install}"
    if os.environ.get("COFFER_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (COFFER_REQUIRE_ALL=1 requires it)", pytrace=False)
    pytest.skip(reason)
    raise AssertionError("unreachable")
