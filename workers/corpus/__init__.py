"""Report corpora: reading OpenI / MIMIC-CXR style CSVs and generating the synthetic demo corpus."""

from workers.corpus.reports import CorpusError, Report, ReportReader, read_reports

__all__ = ["CorpusError", "Report", "ReportReader", "read_reports"]
