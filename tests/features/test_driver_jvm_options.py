"""The Spark driver's JVM flags (``ECOMFLOW_SPARK_DRIVER_JAVA_OPTIONS``) reach every way a driver
starts: the in-process session, ``spark-submit`` of a feature run and the Spark Connect server.

Why it matters: C1 only and the serial GC cut the JVM's CPU for short feature runs by a third to
a half (benchmarks/spark_jvm.py); a flag that silently stops reaching the JVM would only show as
slower runs, so this checks the real JVM's own arguments.
"""

from __future__ import annotations

from datetime import date

import pytest

from tasks.features.catalogue import RunPoint
from tasks.features.submit import build_command
from tasks.orchestration.spark_connect import server_command
from tests.conftest import _reset_settings


def test_the_in_process_driver_jvm_runs_with_the_configured_flags(spark) -> None:  # noqa: ANN001 - fixture
    from tasks.settings import get_settings

    wanted = get_settings().spark_driver_java_options.split()
    assert wanted, "the default should set JVM flags"
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = list(runtime.getInputArguments())
    assert set(wanted) <= set(arguments), arguments


def _flags(cmd: list[str]) -> str | None:
    return cmd[cmd.index("--driver-java-options") + 1] if "--driver-java-options" in cmd else None


@pytest.mark.parametrize(("options", "expected"), [
    ("-XX:TieredStopAtLevel=1 -XX:+UseSerialGC", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"),
    ("-Xss4m", "-Xss4m"), ("none", None), ("NONE", None)])
def test_submit_and_connect_server_commands_carry_the_flags(options: str, expected: str | None,
                                                            isolated_home,  # noqa: ANN001 - fixture
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOMFLOW_SPARK_DRIVER_JAVA_OPTIONS", options)
    monkeypatch.delenv("ECOMFLOW_SPARK_REMOTE", raising=False)
    _reset_settings()
    submit = build_command("item_features", RunPoint(date(2024, 3, 10)))
    server = server_command(15002)
    for cmd in (submit, server):
        assert _flags(cmd) == expected, cmd
        # spark-submit reads its own options only before the application (script or resource)
        if expected:
            assert cmd.index("--driver-java-options") < len(cmd) - 1
    assert server[-1] == "spark-internal"
