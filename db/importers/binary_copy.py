"""PostgreSQL binary COPY straight from numpy columns: rows are packed as one structured array.

Every row of a batch must have the same layout (same NULL columns, same array and byte lengths),
which is what makes the packing a single vectorised assignment per column. Callers split rows of
different layouts into separate batches (e.g. by window length).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from psycopg import Copy
from sqlalchemy.orm import Session

from db.driver import driver_connection

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)

SCALAR_TYPES = {"int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8"}
ARRAY_ELEMENT_OIDS = {"int4": 23, "int8": 20, "float4": 700, "float8": 701}


@dataclass(frozen=True)
class Column:
    """One column of a batch: `values` has one entry (scalar, row of an array, bytes) per row.

    pg_type: 'int4', 'int8', 'float4', 'float8'; 'int4[]' etc. with values of shape (N, m);
    'bytea' with values of shape (N, nbytes) uint8 (or any array whose rows are the bytes);
    'const' writes the same `value` bytes in every row (a text constant); 'null' writes NULL.
    """

    pg_type: str
    values: np.ndarray | None = None
    value: bytes = b""


def null() -> Column:
    """A column that is NULL in every row."""
    return Column("null")


def constant_text(text: str) -> Column:
    """A text column with the same value in every row."""
    return Column("const", value=text.encode())


def pack_rows(
    columns: Sequence[Column], n_rows: int, tail: tuple[np.ndarray, np.ndarray] | None = None
) -> bytes:
    """The binary COPY tuples (no file header or trailer) of `n_rows` rows.

    `tail` = (data, byte_lengths) adds one last variable-length bytea or text column: `data` holds
    the rows' bytes back to back (any dtype; its raw bytes are used), `byte_lengths` each row's
    share of them.
    """
    fields: list[tuple] = [("n_fields", ">i2")]
    for position, column in enumerate(columns):
        fields.append((f"l{position}", ">i4"))
        if column.pg_type != "null":
            fields.append((f"d{position}", *_data_dtype(column, n_rows)))
    if tail is not None:
        fields.append(("tail_length", ">i4"))
    rows = np.empty(n_rows, dtype=fields)
    rows["n_fields"] = len(columns) + (tail is not None)
    for position, column in enumerate(columns):
        _fill(rows, position, column)
    if tail is None:
        return rows.tobytes()
    data, byte_lengths = np.ascontiguousarray(tail[0]).view(np.uint8), np.asarray(tail[1])
    if byte_lengths.shape != (n_rows,) or int(byte_lengths.sum()) != data.size:
        raise ValueError("the tail's byte lengths do not add up to its data")
    rows["tail_length"] = byte_lengths
    fixed = rows.view(np.uint8).reshape(n_rows, rows.dtype.itemsize)
    if n_rows and (byte_lengths == byte_lengths[0]).all():
        return np.hstack([fixed, data.reshape(n_rows, -1)]).tobytes()
    return _interleave(fixed, data, byte_lengths)


def _interleave(fixed: np.ndarray, tail: np.ndarray, byte_lengths: np.ndarray) -> bytes:
    """Row i = fixed[i] (a row of bytes) followed by its `byte_lengths[i]` bytes of `tail`."""
    n_rows, width = fixed.shape
    tail_before = np.concatenate([[0], np.cumsum(byte_lengths)[:-1]])
    tail_starts = np.arange(n_rows) * width + tail_before + width
    total = n_rows * width + tail.size
    boundaries = np.zeros(total + 1, dtype=np.int8)
    boundaries[tail_starts] += 1
    boundaries[tail_starts + byte_lengths] -= 1
    in_tail = np.cumsum(boundaries[:-1], dtype=np.int8).view(bool)
    out = np.empty(total, dtype=np.uint8)
    out[in_tail] = tail
    out[~in_tail] = fixed.reshape(-1)
    return out.tobytes()


def _data_dtype(column: Column, n_rows: int) -> tuple:
    """The (dtype[, shape]) of one row's data field for this column."""
    if column.pg_type == "const":
        return (f"S{len(column.value)}",)
    values = np.asarray(column.values)
    if len(values) != n_rows:
        raise ValueError(f"a {column.pg_type} column has {len(values)} rows, expected {n_rows}")
    if column.pg_type in SCALAR_TYPES:
        return (SCALAR_TYPES[column.pg_type],)
    if column.pg_type == "bytea":
        return ("u1", (values.nbytes // max(n_rows, 1),))
    element = column.pg_type.removesuffix("[]")
    if column.pg_type.endswith("[]") and element in ARRAY_ELEMENT_OIDS:
        header = [(name, ">i4") for name in ("ndim", "has_null", "oid", "size", "lower")]
        item = [("length", ">i4"), ("value", SCALAR_TYPES[element])]
        return ([*header, ("items", item, (values.shape[1],))],)
    raise ValueError(f"unsupported column type {column.pg_type!r}")


def _fill(rows: np.ndarray, position: int, column: Column) -> None:
    length, data = f"l{position}", f"d{position}"
    if column.pg_type == "null":
        rows[length] = -1
        return
    rows[length] = rows.dtype[data].itemsize
    if column.pg_type == "const":
        rows[data] = column.value
    elif column.pg_type == "bytea":
        rows[data] = np.ascontiguousarray(column.values).view(np.uint8).reshape(len(rows), -1)
    elif column.pg_type in SCALAR_TYPES:
        rows[data] = column.values
    else:
        array = rows[data]
        element = column.pg_type.removesuffix("[]")
        array["ndim"], array["has_null"], array["oid"] = 1, 0, ARRAY_ELEMENT_OIDS[element]
        array["size"], array["lower"] = np.shape(column.values)[1], 1
        array["items"]["length"] = np.dtype(SCALAR_TYPES[element]).itemsize
        array["items"]["value"] = column.values


@contextmanager
def binary_copy(session: Session, table: str, column_names: Sequence[str]) -> Iterator[Copy]:
    """`COPY table (columns) FROM STDIN (FORMAT BINARY)` in the session's transaction.

    Write `pack_rows(...)` batches to the yielded Copy; the header and trailer are added here.
    """
    quoted = ", ".join(f'"{name}"' for name in column_names)
    with (
        driver_connection(session).cursor() as cursor,
        cursor.copy(f"COPY {table} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(HEADER)
        yield copy
        copy.write(TRAILER)
