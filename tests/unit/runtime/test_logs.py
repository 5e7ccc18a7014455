import json
import logging

import pytest
import structlog

from kuberay_py.runtime.controller import Controller
from kuberay_py.runtime.logs import configure_logging
from kuberay_py.runtime.reconcile import Request, Result


class Logging:
    async def reconcile(self, request: Request) -> Result:
        structlog.get_logger("example.reconciler").info("reconciling", step="one")
        return Result()


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


async def test_json_logs_carry_the_reconcile_context(restore_logging, capsys):
    configure_logging("json", "info")
    await Controller("logging-test", Logging()).reconcile_once(Request("team-a", "cluster-1"))
    logging.getLogger("aiohttp.client").warning("from a library")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    reconciling = next(line for line in lines if line["event"] == "reconciling")
    assert reconciling["controller"] == "logging-test"
    assert (reconciling["namespace"], reconciling["name"]) == ("team-a", "cluster-1")
    assert len(reconciling["reconcile_id"]) == 36
    assert reconciling["level"] == "info" and reconciling["step"] == "one" and "timestamp" in reconciling
    library = next(line for line in lines if line["event"] == "from a library")
    assert library["level"] == "warning" and library["logger"] == "aiohttp.client"


async def test_console_logs_and_levels(restore_logging, capsys):
    configure_logging("console", "warning")
    log = structlog.get_logger("example")
    log.info("hidden")
    log.warning("shown", key="value")
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert "shown" in err and "key=value" in err
