"""Data quality gates: Great Expectations 1.x suites declared in ``expectations/*.yml``."""

from tasks.quality.gx_runner import (
    DataQualityError,
    ExpectationFailure,
    SuiteResult,
    list_suites,
    load_suite_spec,
    run_suite,
)
from tasks.quality.pipeline_checks import partition_values, run_suites_for_partition

__all__ = [
    "DataQualityError",
    "ExpectationFailure",
    "SuiteResult",
    "list_suites",
    "load_suite_spec",
    "partition_values",
    "run_suite",
    "run_suites_for_partition",
]
