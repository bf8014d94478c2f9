"""Binary COPY from numpy columns: every supported type round-trips through PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from db.importers.binary_copy import Column, binary_copy, constant_text, null, pack_rows


def test_every_column_type_round_trips(session: Session) -> None:
    session.execute(
        text(
            "CREATE TEMP TABLE copied (a int4, b int8, c float4, d float8, e int4[], f float4[],"
            " g bytea, h text, i float8, j int8[])"
        )
    )
    values = np.array([[1.5, -2.25], [0.0, 3.0]], dtype="<f4")
    columns = [
        Column("int4", np.array([1, -2])),
        Column("int8", np.array([2**40, 7])),
        Column("float4", np.array([0.5, -1.25])),
        Column("float8", np.array([1e300, 2.0])),
        Column("int4[]", np.array([[1, 2, 3], [4, 5, 6]])),
        Column("float4[]", np.array([[0.25, 0.5, 1.0], [2.0, 4.0, 8.0]])),
        Column("bytea", values),
        constant_text("top"),
        null(),
        Column("int8[]", np.zeros((2, 0), dtype=np.int64)),
    ]
    with binary_copy(session, "copied", list("abcdefghij")) as copy:
        copy.write(pack_rows(columns, 2))
    rows = session.execute(text("SELECT * FROM copied ORDER BY a DESC")).all()
    assert rows[0][:6] == (1, 2**40, 0.5, 1e300, [1, 2, 3], [0.25, 0.5, 1.0])
    assert rows[1][:6] == (-2, 7, -1.25, 2.0, [4, 5, 6], [2.0, 4.0, 8.0])
    assert np.frombuffer(rows[0][6], dtype="<f4").tolist() == [1.5, -2.25]
    assert [row[7:] for row in rows] == [("top", None, []), ("top", None, [])]


def test_row_count_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 3"):
        pack_rows([Column("int4", np.arange(2))], 3)


@pytest.mark.parametrize("lengths", [[3, 0, 5, 1], [2, 2, 2, 2]])
def test_variable_length_tail_column(session: Session, lengths: list[int]) -> None:
    session.execute(text("CREATE TEMP TABLE tailed (id int4, note text, payload bytea)"))
    rng = np.random.default_rng(1)
    payloads = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in lengths]
    columns = [Column("int4", np.arange(4)), constant_text("x")]
    data = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    with binary_copy(session, "tailed", ["id", "note", "payload"]) as copy:
        copy.write(pack_rows(columns, 4, (data, np.array(lengths))))
    rows = session.execute(text("SELECT id, note, payload FROM tailed ORDER BY id")).all()
    assert [(row.id, row.note, bytes(row.payload)) for row in rows] == [
        (index, "x", payload) for index, payload in enumerate(payloads)
    ]


def test_tail_lengths_must_add_up() -> None:
    with pytest.raises(ValueError, match="add up"):
        pack_rows([Column("int4", np.arange(2))], 2, (np.zeros(3, np.uint8), np.array([1, 1])))
