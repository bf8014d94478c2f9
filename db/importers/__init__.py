"""Bulk importers: SAE checkpoints' metadata, autointerp label CSVs, synthetic datasets."""

from __future__ import annotations


class ImporterError(Exception):
    """An input that cannot be imported; the message is one line meant for the user."""
