"""Agreement of the findings labeler with the OpenI MeSH problem labels, as a table.

Usage: .venv/bin/python bench/labeler_agreement.py [--reports CSV] [--strict] [--limit N] [--out MD]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from workers.findings.agreement import Agreement, agreement, label_corpus, macro_f1, micro

DEFAULT_REPORTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "openi_reports.csv"


def markdown_table(rows: list[Agreement]) -> str:
    """The per-observation rows, the pooled row and the macro F1 as a markdown table."""
    lines = [
        "| observation | n MeSH+ | n labeler+ | precision | recall | F1 | kappa |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in [*rows, micro(rows)]:
        lines.append(
            f"| {row.observation} | {row.reference_positive} | {row.labeler_positive} "
            f"| {row.precision:.3f} | {row.recall:.3f} | {row.f1:.3f} | {row.kappa:.3f} |"
        )
    lines.append(f"| Macro average | | | | | {macro_f1(rows):.3f} | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS)
    parser.add_argument(
        "--strict", action="store_true", help="count only positive labels (default: uncertain too)"
    )
    parser.add_argument("--limit", type=int, default=None, help="label only the first N reports")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as markdown")
    args = parser.parse_args()

    started = time.perf_counter()
    reports = label_corpus(args.reports, args.limit)
    elapsed = time.perf_counter() - started
    rows = agreement(reports, uncertain_positive=not args.strict)
    policy = "positive only" if args.strict else "positive or uncertain"
    header = (
        f"Labeler vs MeSH on {len(reports)} indexed OpenI reports (findings + impression), "
        f"labeler positive = {policy}; labelled in {elapsed:.1f} s."
    )
    table = markdown_table(rows)
    print(header)
    print(table)
    if args.out is not None:
        args.out.write_text(f"{header}\n\n{table}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
