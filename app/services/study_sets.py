"""Study sets: named folders of imaged reports under MAIRA_SAE_HOME/study_sets (the demo writes
its held-out synthetic studies there as `demo-held-out`), listed for the steering-study form and
API, and turned into studies by storing their images as the requester's uploads."""

from __future__ import annotations

import re
import uuid
from itertools import islice
from pathlib import Path

from sqlalchemy.orm import Session

from app.schemas.live import StudyRef
from app.schemas.study_sets import STUDY_SET_NAME, StudySetChoice, StudySetList, StudySetOut
from app.services.uploads import RequestRejected, prepare_upload, store_upload
from db.settings import Settings
from workers.corpus import ReportReader, read_reports

REPORTS_FILE = "reports.csv"
IMAGES_FOLDER = "images"


def _is_set(folder: Path) -> bool:
    return (
        re.fullmatch(STUDY_SET_NAME, folder.name) is not None
        and (folder / REPORTS_FILE).is_file()
        and (folder / IMAGES_FOLDER).is_dir()
    )


def _reports(folder: Path) -> ReportReader:
    """The set's reports that have a frontal image, in file order."""
    return read_reports(folder / REPORTS_FILE, images=folder / IMAGES_FOLDER)


def list_study_sets(settings: Settings) -> StudySetList:
    """Every study set under `settings.study_sets_dir`, by name."""
    root = settings.study_sets_dir
    folders = sorted(root.iterdir()) if root.is_dir() else []
    return StudySetList(
        data=[
            StudySetOut(name=folder.name, n_studies=sum(1 for _ in _reports(folder)))
            for folder in folders
            if _is_set(folder)
        ]
    )


def _store(session: Session, settings: Settings, path: Path, what: str) -> uuid.UUID:
    prepared = prepare_upload(path.read_bytes(), path.name, settings, what)
    return store_upload(session, settings, prepared).id


def study_set_studies(
    session: Session, settings: Settings, choice: StudySetChoice
) -> list[StudyRef]:
    """The first `choice.limit` studies of the set, their images stored as uploads of the
    requester (so they expire like any upload); RequestRejected(422) for an unknown set."""
    folder = settings.study_sets_dir / choice.name
    if not _is_set(folder):
        raise RequestRejected(422, f"There is no study set {choice.name!r}.")
    studies = []
    for report in islice(_reports(folder), choice.limit):
        what = f"Study set {choice.name!r}, study {report.external_id!r}"
        images = {
            role: _store(session, settings, path, f"{what}, {role} image")
            for role, path in (("frontal", report.frontal), ("lateral", report.lateral))
            if path is not None
        }
        studies.append(
            StudyRef(
                **images,
                indication=report.indication,
                technique=report.technique,
                comparison=report.comparison,
            )
        )
    return studies
