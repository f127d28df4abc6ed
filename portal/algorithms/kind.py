"""The algorithm kind of submission: a container image, checked from its archive, run on every case of the
phase as jobs on the ``gpu`` queue, scored on the segmentations the jobs stored."""

import datetime
from pathlib import Path

from portal.algorithms import services
from portal.challenges.models import Phase
from portal.submissions.kinds import SubmissionKind
from portal.submissions.models import Submission


class AlgorithmKind(SubmissionKind):
    value = Phase.SubmissionKind.ALGORITHM

    def check(self, *, submission: Submission, scratch: Path) -> list[str]:
        return services.algorithm_image_check(submission=submission)

    def scoring_start(self, *, submission: Submission) -> None:
        services.algorithm_jobs_create(submission=submission)

    def check_only_start(self, *, submission: Submission) -> bool:
        return services.algorithm_sanity_job_create(submission=submission)

    def masks_copy(self, *, submission: Submission, folder: Path) -> dict[str, Path]:
        return services.job_segmentations_copy(submission=submission, folder=folder)

    def steps_requeue(self, *, submission: Submission) -> int:
        return services.algorithm_jobs_requeue(submission=submission)

    def steps_stop(self, *, submission: Submission) -> None:
        services.algorithm_jobs_cancel(submission=submission)

    def file_forget(self, *, submission: Submission) -> None:
        services.algorithm_image_file_forget(submission=submission)

    def file_in_use(self, *, name: str) -> bool:
        return services.algorithm_file_in_use(name=name)

    def files_expire(self, *, now: datetime.datetime) -> int:
        return services.algorithm_uploads_expire(now=now)
