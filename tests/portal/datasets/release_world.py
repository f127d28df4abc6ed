"""A challenge with the small synthetic release imported: its first two cases for training, its last one
a hidden test case, a participant and an organizer. Shared by the tests of the release's downloads (pages,
API, archive) and of ``isles download``."""

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Challenge, Split
from portal.datasets.models import Case, Dataset
from portal.datasets.services import isles24_import
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import ChallengeFactory
from tests.portal.datasets.factories import DatasetFactory


@dataclass(frozen=True)
class ImportedRelease:
    challenge: Challenge
    dataset: Dataset
    root: Path
    train: list[str]
    test: str
    participant: User
    organizer: User


def imported_release_build(root: Path, case_names: list[str]) -> ImportedRelease:
    challenge = ChallengeFactory(slug="isles24", title="ISLES 2024")
    dataset = DatasetFactory(challenge=challenge, slug="release")
    isles24_import(dataset=dataset, root=root, split=Split.TRAIN)
    *train, test = case_names
    Case.objects.filter(dataset=dataset, name=test).update(split=Split.TEST)
    participant = ChallengeRoleFactory(challenge=challenge, role=ChallengeRole.Role.PARTICIPANT).user
    organizer = ChallengeRoleFactory(challenge=challenge, role=ChallengeRole.Role.ORGANIZER).user
    return ImportedRelease(challenge, dataset, root, train, test, participant, organizer)


def tar_members(content: bytes) -> dict[str, bytes]:
    """Every regular file of a tar, by name, in the archive's order."""
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]  # regular files only
            for member in archive
            if member.isfile()
        }


def manifest_read(text: str) -> dict[str, str]:
    """``sha256sum`` lines as path -> sum."""
    return {line[66:]: line[:64] for line in text.splitlines()}


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
