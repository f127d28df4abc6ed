"""The predictions kind of submission: an archive of predicted masks, one per case of the phase.

Its check opens the stored archive with ``evaluation.archives`` (no links, no ``..``, bounded in
members, bytes, ratio, time and memory) and checks each mask against the phase's reference grids; its masks
are the archive's own, extracted again when they are scored. Scoring starts at once.
"""

import shutil
from pathlib import Path

from evaluation.archives import archive_check, archive_extract_masks
from portal.challenges.models import Phase
from portal.submissions import selectors
from portal.submissions.kinds import SubmissionKind
from portal.submissions.models import Submission
from portal.submissions.services import ARCHIVE_LIMITS, submission_evaluation_queue

# The time a predictions check may take (memory follows the phase's grid): a hundred masks of ISLES'24
# size are extracted and decoded in well under a minute; a check past this is refused with a sentence.
CHECK_SECONDS = 300


class PredictionsKind(SubmissionKind):
    value = Phase.SubmissionKind.PREDICTIONS

    def check(self, *, submission: Submission, scratch: Path) -> list[str]:
        shapes = selectors.phase_reference_shapes(phase=submission.phase)
        archive = _stored_copy(submission=submission, folder=scratch)
        return archive_check(
            archive, scratch / "masks", limits=ARCHIVE_LIMITS, expected_shapes=shapes, seconds=CHECK_SECONDS
        )

    def scoring_start(self, *, submission: Submission) -> None:
        submission_evaluation_queue(submission_id=submission.pk)

    def masks_copy(self, *, submission: Submission, folder: Path) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        archive = _stored_copy(submission=submission, folder=folder)
        return dict(archive_extract_masks(archive, folder / "masks", limits=ARCHIVE_LIMITS).files)


def _stored_copy(*, submission: Submission, folder: Path) -> Path:
    """A local copy of the uploaded archive (storage may be remote)."""
    path = folder / "upload"
    with submission.file.open("rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    return path
