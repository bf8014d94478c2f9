"""import-autointerp: column aliases in several CSV dialects, bad rows, re-runs, the command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from db.importers import ImporterError
from db.importers.autointerp import import_autointerp
from db.importers.autointerp_columns import map_columns
from db.models import Explanation, Feature, Score
from tests.db.importers.helpers import add_sae


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def scores_of(session: Session, sae_id: int, index: int) -> dict[str, Score]:
    rows = session.scalars(
        select(Score)
        .join(Explanation)
        .join(Feature)
        .where(Feature.sae_id == sae_id, Feature.index == index)
    )
    return {score.split: score for score in rows}


def feature_row(session: Session, sae_id: int, index: int) -> Feature:
    return session.scalars(
        select(Feature).where(Feature.sae_id == sae_id, Feature.index == index)
    ).one()


def test_prefix_named_metrics_with_extras(session: Session, tmp_path: Path) -> None:
    sae = add_sae(session, d_sae=8)
    path = write(
        tmp_path,
        "ef4.csv",
        [
            "feature_idx,explanation,train_accuracy,train_precision,train_recall,train_f1,"
            "val_accuracy,val_precision,val_recall,val_f1,n,quantile_note",
            '0,"Pleural effusion, left",0.9,0.8,0.7,0.75,0.6,0.5,0.4,0.45,120,top-heavy',
            "3,Endotracheal tube tip,1,1,1,1,0.8,0.9,0.7,0.79,33,",
        ],
    )

    report = import_autointerp(session, path, sae.slug)

    assert (report.rows_read, report.imported, report.new_explanations) == (2, 2, 2)
    assert report.skipped == []
    assert report.unknown_columns == ["quantile_note"]
    assert report.scores == 4
    scores = scores_of(session, sae.id, 0)
    assert (scores["heldout"].f1, scores["heldout"].precision, scores["heldout"].n) == (
        0.45,
        0.5,
        120,
    )
    assert (scores["train"].accuracy, scores["train"].recall) == (0.9, 0.7)
    explanation = session.scalars(
        select(Explanation).join(Feature).where(Feature.sae_id == sae.id, Feature.index == 0)
    ).one()
    assert explanation.text == "Pleural effusion, left"
    assert (explanation.source, explanation.source_key) == ("csv", "csv:ef4.csv")
    assert explanation.provenance == {
        "file": "ef4.csv",
        "row": 2,
        "n": 120,
        "extras": {"quantile_note": "top-heavy"},
    }
    labelled = feature_row(session, sae.id, 3)
    assert (labelled.label, labelled.f1) == ("Endotracheal tube tip", 0.79)
    assert feature_row(session, sae.id, 1).label is None


def test_suffix_named_tab_separated_mixed_case(session: Session, tmp_path: Path) -> None:
    sae = add_sae(session, d_sae=8)
    path = write(
        tmp_path,
        "ef2.tsv",
        [
            "Latent\tInterpretation\tF1_Train\tF1 Test\tBalanced_Accuracy_Heldout\tAcc_Test",
            "5\tno pneumothorax\t0.9\t0.66\t0.7\t0.71",
            "6\tcardiomegaly\t0.5\t\t\t",
        ],
    )

    report = import_autointerp(session, path, sae.slug)

    assert report.imported == 2
    assert report.unknown_columns == []
    heldout = scores_of(session, sae.id, 5)["heldout"]
    assert (heldout.f1, heldout.balanced_accuracy, heldout.accuracy) == (0.66, 0.7, 0.71)
    only_train = scores_of(session, sae.id, 6)
    assert set(only_train) == {"train"}
    assert (feature_row(session, sae.id, 6).label, feature_row(session, sae.id, 6).f1) == (
        "cardiomegaly",
        None,
    )


def test_bad_rows_are_reported_with_row_numbers_and_good_rows_kept(
    session: Session, tmp_path: Path
) -> None:
    sae = add_sae(session, d_sae=8)
    path = write(
        tmp_path,
        "bad.csv",
        [
            "feature,label,test_f1,train_f1",
            "0,fine,0.5,0.6",
            "one,not an integer,0.5,0.6",
            "8,index too large,0.5,0.6",
            "-1,negative,0.5,0.6",
            "2,metric too large,1.5,0.6",
            "3,metric not a number,abc,0.6",
            "4,,0.5,0.6",
            "0,duplicate,0.5,0.6",
            "5,short row",
            "6.0,integral float index,nan,",
        ],
    )

    report = import_autointerp(session, path, sae.slug)

    assert report.rows_read == 10
    assert report.imported == 2
    reasons = {item.row: item.reason for item in report.skipped}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "not an integer" in reasons[3]
    assert "outside 0..7" in reasons[4]
    assert "outside 0..7" in reasons[5]
    assert "outside [0, 1]" in reasons[6]
    assert "not a number" in reasons[7]
    assert reasons[8] == "empty label"
    assert "duplicate feature index 0 (first on row 2)" in reasons[9]
    assert "fields" in reasons[10]
    assert feature_row(session, sae.id, 6).label == "integral float index"
    summary = "\n".join(report.summary())
    assert "skipped 8 rows" in summary and "row 6:" in summary


def test_missing_required_columns_name_what_was_seen_and_accepted(
    session: Session, tmp_path: Path
) -> None:
    sae = add_sae(session, d_sae=8)
    path = write(tmp_path, "nolabel.csv", ["feature_idx,val_f1,comment", "0,0.5,x"])
    with pytest.raises(ImporterError) as raised:
        import_autointerp(session, path, sae.slug)
    message = str(raised.value)
    assert "no label column" in message
    assert "explanation, interpretation, label, description" in message
    assert "'feature_idx', 'val_f1', 'comment'" in message
    assert "feature-index" not in message


def test_unknown_sae_is_a_clear_error(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", ["feature,label", "0,a"])
    with pytest.raises(ImporterError, match="no SAE named 'nope'"):
        import_autointerp(session, path, "nope")


def test_rerun_updates_in_place_without_duplicates(session: Session, tmp_path: Path) -> None:
    sae = add_sae(session, d_sae=8)
    lines = ["index,description,heldout_f1,train_f1", "1,first,0.3,0.4", "2,second,0.7,0.8"]
    path = write(tmp_path, "ef4.csv", lines)
    first = import_autointerp(session, path, sae.slug)
    counts = (
        session.scalar(select(func.count()).select_from(Explanation)),
        session.scalar(select(func.count()).select_from(Score)),
    )
    second = import_autointerp(session, path, sae.slug)

    assert (first.imported, first.skipped, first.scores) == (
        second.imported,
        second.skipped,
        second.scores,
    )
    assert (first.new_explanations, second.new_explanations) == (2, 0)
    assert counts == (
        session.scalar(select(func.count()).select_from(Explanation)),
        session.scalar(select(func.count()).select_from(Score)),
    )
    write(tmp_path, "ef4.csv", [lines[0], "1,first revised,0.9,0.9"])
    import_autointerp(session, path, sae.slug)
    assert (feature_row(session, sae.id, 1).label, feature_row(session, sae.id, 1).f1) == (
        "first revised",
        0.9,
    )


def test_duplicate_role_columns_are_kept_as_extras_with_a_note() -> None:
    header = ["neuron", "Explanation", "val_f1", "test_f1", "f1_score_validation", "count"]
    columns = map_columns(header, "x.csv")
    assert columns.metrics == {("heldout", "f1"): 2}
    assert list(columns.extras) == ["test_f1", "f1_score_validation"]
    assert columns.count == 5
    assert len(columns.notes) == 2


def test_command_prints_summary_and_exits_2_on_bad_input(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    engine = create_engine(url)
    with Session(engine) as setup:
        add_sae(setup, slug="ef4", d_sae=8)
        setup.commit()
    engine.dispose()
    good = write(tmp_path, "ef4.csv", ["feature,label,val_f1,extra", "0,a,0.5,x", "9,b,0.5,y"])
    env = os.environ | {"MAIRA_SAE_DATABASE_URL": url}
    command = [sys.executable, "-m", "app.cli", "import-autointerp"]

    done = subprocess.run(
        [*command, str(good), "--sae", "ef4"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "imported 1 of 2 rows" in done.stdout
    assert "row 3: feature index 9 is outside 0..7" in done.stdout
    assert "unknown columns kept as extras: extra" in done.stdout

    bad = write(tmp_path, "bad.csv", ["id,text", "0,a"])
    failed = subprocess.run(
        [*command, str(bad), "--sae", "ef4"], env=env, capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: bad.csv: no feature-index column")


def test_hostile_values_are_skipped_by_row_and_the_rest_imported(
    session: Session, tmp_path: Path
) -> None:
    sae = add_sae(session, d_sae=8)
    path = tmp_path / "hostile.csv"
    lines = [
        "feature,label,test_f1,n",
        "0,fine,0.5,10",
        "1,huge count,0.5,2147483648",
        "2,nul\x00label,0.5,3",
        "3," + "x" * (200 * 1024) + ",0.5,4",
        "4,after the long one,0.5,2147483647",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = import_autointerp(session, path, sae.slug)

    assert (report.rows_read, report.imported) == (5, 2)
    reasons = {item.row: item.reason for item in report.skipped}
    assert reasons == {
        3: "n = 2147483648 is larger than the largest count stored, 2,147,483,647",
        4: "'label' contains a NUL character (a binary byte)",
        5: "a value is longer than 128 KB",
    }
    assert feature_row(session, sae.id, 4).label == "after the long one"


def test_a_latin1_file_is_read_as_cp1252_and_said_so(session: Session, tmp_path: Path) -> None:
    sae = add_sae(session, d_sae=8)
    path = tmp_path / "latin1.csv"
    path.write_bytes("feature,label\n0,épanchement pleural\n1,cœur élargi\n".encode("cp1252"))

    report = import_autointerp(session, path, sae.slug)

    assert report.imported == 2 and report.skipped == []
    assert feature_row(session, sae.id, 0).label == "épanchement pleural"
    assert feature_row(session, sae.id, 1).label == "cœur élargi"
    assert any("not UTF-8; it was read as Windows-1252" in note for note in report.notes)


def test_an_unclosed_quote_is_reported_not_swallowed(session: Session, tmp_path: Path) -> None:
    sae = add_sae(session, d_sae=8)
    path = write(
        tmp_path,
        "quote.csv",
        ["feature,label", "0,fine", '1,"never closed', "2,swallowed", "3,swallowed too"],
    )

    report = import_autointerp(session, path, sae.slug)

    assert (report.rows_read, report.imported) == (2, 1)
    assert [item.row for item in report.skipped] == [3]
    assert "runs over lines 3-5" in report.skipped[0].reason
    assert "quote" in report.skipped[0].reason
    summary = "\n".join(report.summary())
    assert "imported 1 of 2 rows" in summary
    assert "4 non-empty lines after the header but parsed into 2 rows" in summary
