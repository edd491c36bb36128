"""The catalog's disk copy on its own: where it lives, what it holds, atomic writes, and files
that cannot be used (ignored with a warning, never a crash)."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT_ID, SECRET_KEY
from truto_stripe_mcp.catalog.file import CatalogFile, CatalogFileError, default_cache_dir, describe_age
from truto_stripe_mcp.config import load_settings
from truto_stripe_mcp.redaction import forget_secrets, register_secret
from truto_stripe_mcp.sandbox import TOOLS

BASE_URL = "https://api.truto.one"


def catalog_file(directory: Path, query: dict[str, str] | None = None, **identity: str) -> CatalogFile:
    return CatalogFile.for_account(
        directory, identity.get("base_url", BASE_URL), identity.get("account", ACCOUNT_ID), query or {}
    )


def test_one_file_per_base_url_account_and_query(tmp_path: Path) -> None:
    paths = {
        catalog_file(tmp_path).path,
        catalog_file(tmp_path, base_url="http://127.0.0.1:9").path,
        catalog_file(tmp_path, account="another-account").path,
        catalog_file(tmp_path, {"methods": "read"}).path,
        catalog_file(tmp_path, {"has_description": "false"}).path,
    }
    assert len(paths) == 5
    assert (
        catalog_file(tmp_path, {"a": "1", "b": "2"}).path == catalog_file(tmp_path, {"b": "2", "a": "1"}).path
    )
    for path in paths:
        assert path.parent == tmp_path and path.name.startswith("catalog-") and path.suffix == ".json"
        assert ACCOUNT_ID not in path.name and "truto" not in path.name, "the name is a hash, nothing more"


def test_the_copy_holds_the_raw_entries_and_when_they_were_fetched(tmp_path: Path) -> None:
    entries = [{**TOOLS[0], "a_field_from_a_newer_truto": {"kept": True}}, *TOOLS[1:]]
    saved = catalog_file(tmp_path).write(entries, fetched_at=1_700_000_000.5)
    document = json.loads(saved.path.read_text())
    assert document["tools"] == entries, (
        "stored as the endpoint returned them, for a newer version to re-parse"
    )
    assert document["fetched_at"] == 1_700_000_000.5 and document["format"] == 1
    assert document["base_url"] == BASE_URL and document["integrated_account_id"] == ACCOUNT_ID
    read = catalog_file(tmp_path).read()
    assert read is not None and list(read.entries) == entries and read.fetched_at == 1_700_000_000.5


def test_a_password_in_the_base_url_is_never_written(tmp_path: Path) -> None:
    with_password = catalog_file(tmp_path, base_url=f"https://truto:{SECRET_KEY}@api.truto.one")
    assert with_password.path == catalog_file(tmp_path).path, "who connects does not change the catalog"
    with_password.write(TOOLS, fetched_at=1.0)
    assert SECRET_KEY not in with_password.path.read_text()


def test_a_catalog_that_echoes_the_key_is_not_saved(tmp_path: Path) -> None:
    register_secret(SECRET_KEY)
    try:
        with pytest.raises(CatalogFileError, match="API key"):
            catalog_file(tmp_path).write([{**TOOLS[0], "description": f"key {SECRET_KEY}"}], fetched_at=1.0)
    finally:
        forget_secrets()
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_leaves_the_old_copy_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = catalog_file(tmp_path)
    target.write(TOOLS[:3], fetched_at=1.0)

    def refuse(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(CatalogFileError, match="No space left"):
        target.write(TOOLS, fetched_at=2.0)
    monkeypatch.undo()
    assert [path.name for path in tmp_path.iterdir()] == [target.path.name]
    kept = target.read()
    assert kept is not None and kept.fetched_at == 1.0 and len(kept.entries) == 3


def test_readers_never_see_half_a_file(tmp_path: Path) -> None:
    """Writers replacing the copy while readers read it (several servers of one account start at
    once): every read is one whole catalog or the other."""
    target = catalog_file(tmp_path)
    small, large = TOOLS[:2], TOOLS * 20
    target.write(small, fetched_at=0.0)
    seen: list[int] = []
    done = threading.Event()

    def write() -> None:
        for round_number in range(30):
            target.write(large if round_number % 2 else small, fetched_at=float(round_number))
        done.set()

    writers = [threading.Thread(target=write) for _ in range(2)]
    for writer in writers:
        writer.start()
    while not done.is_set() or len(seen) < 50:
        copy = target.read()
        assert copy is not None, "a reader saw a partial or missing file"
        seen.append(len(copy.entries))
    for writer in writers:
        writer.join()
    assert set(seen) <= {len(small), len(large)}
    assert [path.name for path in tmp_path.iterdir()] == [target.path.name], "no temporary file is left"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not a catalog"),
        (b"\xff\xfe binary", "not a catalog"),
        (json.dumps({"format": 1, "tools": "nope"}).encode(), "not a catalog"),
        (json.dumps({"format": 99, "tools": []}).encode(), "not a catalog"),
        (
            json.dumps(
                {
                    "format": 1,
                    "base_url": "https://elsewhere.example",
                    "integrated_account_id": ACCOUNT_ID,
                    "query": {},
                    "fetched_at": 1.0,
                    "tools": [],
                }
            ).encode(),
            "another account",
        ),
    ],
)
def test_a_file_that_cannot_be_used_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, reason: str
) -> None:
    target = catalog_file(tmp_path)
    target.path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="truto_stripe_mcp"):
        assert target.read() is None
    assert reason in caplog.text and str(target.path) in caplog.text


def test_an_unreadable_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = catalog_file(tmp_path)
    target.path.mkdir()  # reading a directory fails whoever runs the tests (root reads any mode)
    with caplog.at_level(logging.WARNING, logger="truto_stripe_mcp"):
        assert target.read() is None
    assert "cannot read the saved tool catalog" in caplog.text
    with pytest.raises(CatalogFileError):
        target.write(TOOLS, fetched_at=1.0)


def test_no_file_is_no_copy_and_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert catalog_file(tmp_path / "not-created-yet").read() is None
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "just now"),
        (42, "42 seconds ago"),
        (60, "1 minute ago"),
        (3 * 3600 + 5, "3 hours ago"),
        (86_400 * 2, "2 days ago"),
    ],
)
def test_ages_in_plain_words(seconds: float, words: str) -> None:
    assert describe_age(seconds) == words


def test_the_directory_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRUTO_MCP_CACHE_DIR", str(tmp_path / "mine"))
    assert load_settings().catalog_cache_dir() == tmp_path / "mine"
    assert load_settings(cache_dir="~/elsewhere").catalog_cache_dir() == Path.home() / "elsewhere"
    monkeypatch.setenv("TRUTO_MCP_CACHE_DIR", "")
    assert load_settings().catalog_cache_dir() == default_cache_dir()
    assert (
        default_cache_dir().name == "truto-stripe-mcp"
        or default_cache_dir().parent.name == "truto-stripe-mcp"
    )


def test_every_test_has_its_own_cache_directory(catalog_cache_dir: Path, tmp_path_factory: Any) -> None:
    """The isolation the suite relies on (the session fixture in conftest checks the result)."""
    assert os.environ["TRUTO_MCP_CACHE_DIR"] == str(catalog_cache_dir)
    assert load_settings().catalog_cache_dir() == catalog_cache_dir
    assert catalog_cache_dir.is_relative_to(tmp_path_factory.getbasetemp())
    assert not catalog_cache_dir.is_relative_to(default_cache_dir())
