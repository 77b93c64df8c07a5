"""ServerCore: account-store jobs, their results and their failures (ERRO-710)."""

from __future__ import annotations

import logging

import pytest

from libbatchat import (
    Command,
    Login,
    Nick,
    Ping,
    Quit,
    Register,
    StoreError,
    Who,
)
from libbatchat._session import Failure
from tests.server_harness import PW, Net

# -- jobs ----------------------------------------------------------------------


def test_replies_wait_for_a_pending_job() -> None:
    net = Net(inline=False)
    a = net.connect()
    a.take()
    a.send(
        Register(user="ana", password=PW),
        Ping(token="1"),
        Login(user="ana", password=PW),
        Who(),
        Ping(token="2"),
    )
    assert a.take() == []
    assert len(net.jobs) == 1
    net.run_job()
    assert a.codes() == [213, 224]
    net.run_job()
    assert a.codes() == [214, 220, 224]


class BrokenStore:
    def create(self, name: str, record: str) -> bool:
        raise StoreError("disk full")

    def get(self, name: str) -> tuple[str, str] | None:
        raise StoreError("disk gone")

    def similar(self, name: str) -> str | None:
        raise StoreError("disk full")

    def close(self) -> None:
        pass


def test_store_errors_become_710(caplog: pytest.LogCaptureFixture) -> None:
    net = Net(accounts=BrokenStore())
    c = net.connect()
    c.take()
    with caplog.at_level(logging.ERROR, logger="libbatchat.server"):
        assert c.ask(Register(user="ana", password=PW)).code == 710
        assert c.ask(Login(user="ana", password=PW)).code == 710
        assert c.ask(Nick(nick="ana")).code == 710
    assert "disk full" in caplog.text
    assert "disk gone" in caplog.text
    assert PW not in caplog.text
    # Nothing is left claimed: a working retry may go ahead.
    assert net.core._claims == {}


@pytest.mark.parametrize(
    "command",
    [Register(user="ana", password=PW), Login(user="ana", password=PW), Nick(nick="a")],
)
def test_unexpected_job_results_become_710(command: Command) -> None:
    net = Net(inline=False)
    c = net.connect()
    c.take()
    c.send(command)
    (job,) = net.jobs
    net.apply(net.core.finish(job, 42))
    assert c.codes() == [710]


def test_job_run_never_raises() -> None:
    net = Net(inline=False, accounts=BrokenStore())
    c = net.connect()
    c.send(Register(user="ana", password=PW))
    (job,) = net.jobs
    result = job.run()
    assert isinstance(result, Failure)
    assert isinstance(result.error, StoreError)


def test_finish_unknown_or_stale_job() -> None:
    net = Net(inline=False)
    c = net.connect()
    c.send(Register(user="ana", password=PW))
    (job,) = net.jobs
    net.apply(net.core.finish(job, job.run()))
    # A second finish of the same job does nothing.
    assert net.core.finish(job, True) == type(net.outputs[-1])()


def test_finish_after_the_session_ended() -> None:
    net = Net(inline=False)
    c = net.connect()
    c.take()
    c.send(Register(user="ana", password=PW))
    c.send(Quit())
    assert c.take() == []
    (job,) = net.jobs
    net.apply(net.core.disconnect(c.session))
    assert net.core._claims  # held until the job is done
    out = net.core.finish(job, job.run())
    assert out.sends == []
    assert net.core._claims == {}
    # The account exists: the registration did complete.
    assert net.core.accounts.get("ana") is not None
