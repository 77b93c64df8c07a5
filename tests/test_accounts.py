from __future__ import annotations

import base64

import pytest

from libbatchat import AccountStore, MemoryStore, hash_password, verify_password
from libbatchat._accounts import SALT_BYTES, dummy_record
from tests.store_harness import create_at_once

LOW = {"n": 2**4, "r": 8, "p": 1}


def test_record_shape() -> None:
    record = hash_password("s3cret pass", **LOW)
    scheme, n, r, p, salt, digest = record.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16", "8", "1")
    assert len(base64.b64decode(salt)) == SALT_BYTES
    assert len(base64.b64decode(digest)) == 32
    assert "s3cret" not in record


def test_salt_is_random() -> None:
    assert hash_password("x", **LOW) != hash_password("x", **LOW)


def test_verify() -> None:
    record = hash_password("s3cret pass", **LOW)
    assert verify_password("s3cret pass", record)
    assert not verify_password("s3cret pasS", record)
    assert not verify_password("", record)


def test_parameters_travel_with_the_record() -> None:
    # A record made with other parameters still verifies: the cost can rise
    # without invalidating old accounts.
    record = hash_password("pw", n=2**5, r=4, p=2)
    assert verify_password("pw", record)


def test_long_passwords_differing_at_the_end() -> None:
    a = "x" * 200 + "a"
    b = "x" * 200 + "b"
    record = hash_password(a, **LOW)
    assert verify_password(a, record)
    assert not verify_password(b, record)


def test_unicode_password() -> None:
    record = hash_password("sênha çom açentos ☃", **LOW)
    assert verify_password("sênha çom açentos ☃", record)


@pytest.mark.parametrize(
    "record",
    [
        "",
        "plain",
        "bcrypt$16$8$1$AAAA$AAAA",
        "scrypt$16$8$1$AAAA",
        "scrypt$x$8$1$AAAA$AAAA",
        "scrypt$16$8$1$!!!!$AAAA",
        "scrypt$15$8$1$AAAA$AAAA",  # n not a power of two: scrypt refuses
    ],
)
def test_malformed_records_never_verify(record: str) -> None:
    assert not verify_password("pw", record)


def test_dummy_record_is_well_formed_and_matches_nothing() -> None:
    record = dummy_record(**LOW)
    assert record.split("$")[:4] == ["scrypt", "16", "8", "1"]
    assert not verify_password("", record)
    assert not verify_password("anything", record)


def test_memory_store() -> None:
    store: AccountStore = MemoryStore()
    assert store.get("Ana") is None
    assert store.create("Ana", "rec1")
    assert not store.create("ANA", "rec2")
    assert store.get("aNa") == ("Ana", "rec1")
    store.close()


def test_memory_store_concurrent_creates_one_winner() -> None:
    store = MemoryStore()
    results = create_at_once([store], ["BOB", "Bob"])
    assert results.count(True) == 1
