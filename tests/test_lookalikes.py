"""Names that cannot impersonate (spec 3.4, 3.5): skeletons, invisible
characters, both account stores, and the generated Unicode data."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from libbatchat import MemoryStore, Nick, Register
from libbatchat._names import check
from libbatchat._skeleton import describe, invisible, skeleton
from libbatchat._table import Kind
from libbatchat.adapters.sqlite import SqliteStore
from tests.server_harness import Net

ROOT = Path(__file__).resolve().parents[1]
PW = "s3cret pass"
# Each looks like "ana" (Cyrillic a, Greek alpha, fullwidth, math bold) or
# hides an invisible character after it.
ALIKE = ["\u0430na", "\u03b1na", "\uff41\uff4e\uff41", "\U0001d41a\U0001d427\U0001d41a"]
HIDDEN = ["ana\u034f", "ana\ufe0f", "ana\u3164", "\u3164\u3164", "a\u200bna"]
WELCOME = ["Jo\u00e3o", "Z\u00e9", "\u03a9mega", "\u674e\u96f7", "ana_2", "Ana"]


def test_look_alikes_share_the_skeleton_of_ana() -> None:
    for name in ALIKE:
        assert skeleton(name) == "ana", name
    assert skeleton("ANA") == skeleton("Ana") == "ana"
    assert skeleton("b0b") == skeleton("bob")


def test_real_names_keep_their_own_skeleton() -> None:
    skeletons = {skeleton(n) for n in WELCOME[:4]}
    assert len(skeletons) == 4
    assert "ana" not in skeletons
    for name in WELCOME:
        assert check(Kind.NAME, name) == name


@pytest.mark.parametrize("name", HIDDEN)
def test_invisible_characters_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"U\+[0-9A-F]{4}.*\(invisible\)"):
        check(Kind.NAME, name)


def test_invisible_and_describe() -> None:
    assert invisible("\u3164") and invisible("\U000e0100") and invisible("\u00ad")
    assert not invisible("a") and not invisible("\x00") and not invisible("\U0010ffff")
    assert describe("*") == "'*'"
    assert describe(" ") == "U+0020 SPACE"
    assert describe("\x01") == "U+0001"


def test_memory_store_refuses_look_alikes() -> None:
    store = MemoryStore()
    assert store.create("ana", "rec")
    for name in ALIKE:
        assert not store.create(name, "x")
        assert store.similar(name) == "ana"
        assert store.get(name) is None
    assert store.get("ANA") == ("ana", "rec")
    assert store.similar("bia") is None


def test_sqlite_store_refuses_look_alikes(tmp_path: Path) -> None:
    with SqliteStore(str(tmp_path / "a.db")) as store:
        assert store.create("ana", "rec")
        for name in ALIKE:
            assert not store.create(name, "x")
            assert store.similar(name) == "ana"
            assert store.get(name) is None
        assert store.similar("bia") is None


def test_sqlite_migrates_an_old_database(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE accounts (key TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " record TEXT NOT NULL) WITHOUT ROWID"
    )
    # Made before skeletons: two look-alike accounts both exist.
    db.executemany(
        "INSERT INTO accounts VALUES (?, ?, ?)",
        [("ana", "ana", "r1"), ("\u0430na", "\u0430na", "r2")],
    )
    db.commit()
    db.close()
    with SqliteStore(path) as store:
        assert store.get("\u0430na") == ("\u0430na", "r2")
        assert store.similar("\u0430na") == "\u0430na"  # its own account first
        assert store.similar("\u03b1na") == "ana"
        assert not store.create("\uff41na", "x")
        # Stale data version: skeletons are recomputed on the next open.
        store._db.execute("UPDATE meta SET value = 'old' WHERE key = 'skeleton'")
        store._db.execute("UPDATE accounts SET skeleton = 'zzz'")
    with SqliteStore(path) as store:
        assert store.similar("ana") == "ana"


def test_server_refuses_names_that_look_like_one_online_or_registered() -> None:
    net = Net()
    net.user("ana")
    for name in ALIKE:
        c = net.connect()
        c.take()
        reply = c.ask(Nick(nick=name))
        assert (reply.code, reply.text) == (705, f"{name} looks like ana")
        reply = c.ask(Register(user=name, password=PW))
        assert (reply.code, reply.text) == (703, f"{name} looks like ana")
    net2 = Net()
    assert net2.connect().ask(Register(user="ana", password=PW)).code == 213
    c = net2.connect()
    for name in ALIKE:
        reply = c.ask(Register(user=name, password=PW))
        assert (reply.code, reply.text) == (703, f"{name} looks like the account ana")
        reply = c.ask(Nick(nick=name))
        assert (reply.code, reply.text) == (703, f"{name} looks like the account ana")
    for name in WELCOME[:4]:
        assert c.ask(Register(user=name, password=PW)).code == 213


def test_generated_unicode_data_is_current() -> None:
    sources = [Path("/usr/share/unicode/DerivedCoreProperties.txt")]
    if not sources[0].exists():
        pytest.skip("needs the unicode-data package (/usr/share/unicode)")
    if importlib.util.find_spec("confusable_homoglyphs") is None:
        pytest.skip("needs the PyPI package confusable-homoglyphs")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_unicode_data.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


class RacingStore(MemoryStore):
    """Another server sharing the store registers a look-alike between our
    look-up and our insert."""

    def similar(self, name: str) -> str | None:
        found = super().similar(name)
        if found is None:
            super().create("\u0430na", "theirs")
        return found


def test_a_racing_registration_elsewhere_is_named() -> None:
    net = Net(accounts=RacingStore())
    c = net.connect()
    c.take()
    reply = c.ask(Register(user="ana", password=PW))
    assert (reply.code, reply.text) == (703, "ana looks like the account \u0430na")
