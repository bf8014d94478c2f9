"""The embedded PostgreSQL default: a data folder from another major version is set aside, not
lost, and the installed build ships pg_trgm for search."""

from __future__ import annotations

from pathlib import Path

import pgserver

from db.embedded import bundled_major_version, set_aside_other_major_version


def test_a_data_folder_of_another_major_version_is_kept_beside_a_new_one(tmp_path: Path) -> None:
    data = tmp_path / "postgres"
    data.mkdir()
    (data / "PG_VERSION").write_text("16\n")
    (data / "base").mkdir()

    kept = set_aside_other_major_version(data, "18")

    assert kept == tmp_path / "postgres-pg16"
    assert (kept / "base").is_dir() and (kept / "PG_VERSION").read_text() == "16\n"
    assert not data.exists()


def test_a_data_folder_of_the_same_version_or_none_is_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "postgres"
    assert set_aside_other_major_version(data, "18") is None
    data.mkdir()
    (data / "PG_VERSION").write_text("18\n")
    assert set_aside_other_major_version(data, "18") is None
    assert (data / "PG_VERSION").exists()


def test_the_bundled_server_ships_pg_trgm() -> None:
    assert bundled_major_version().isdigit()
    extensions = Path(pgserver.__file__).parent / "pginstall" / "share" / "postgresql" / "extension"
    assert (extensions / "pg_trgm.control").is_file()
