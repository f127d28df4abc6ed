"""Creating and preparing a study, drawing each reader's order and sides once, and answering once."""

import datetime
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from portal.accounts.models import ChallengeRole
from portal.demo.services import DEMO_READING_INSTRUCTIONS, DEMO_REPEATED_PAIRS, DEMO_SAME_MASK_TRIALS
from portal.readerstudies import services
from portal.readerstudies.models import BlindedMask, MaskSource, ReaderStudy, ReadingItem, StudyReader
from portal.readerstudies.tasks import reader_study_prepare_task
from portal.steps.services import steps_sweep
from portal.submissions.models import Submission
from tests.portal.accounts.factories import UserFactory
from tests.portal.readerstudies.conftest import (
    CASE_NAMES,
    TEAM_NAME,
    StudyMaker,
    StudyWorld,
    algorithm_segmentations,
    algorithm_submission_make,
    image_bytes,
    lesion,
    submission_make,
)


def test_a_new_study_is_prepared_with_one_blinded_mask_per_case_and_source(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    study = make_study()

    assert study.status == ReaderStudy.Status.READY
    assert BlindedMask.objects.filter(study_case__study=study).count() == len(CASE_NAMES) * 2
    assert [source.label for source in study.sources.all()] == [
        "reference",
        f"Penumbra Labs (submission {study_world.submission.pk})",
    ]


def test_preparing_a_study_again_changes_nothing(make_study: StudyMaker) -> None:
    study = make_study()
    masks = sorted(BlindedMask.objects.values_list("pk", "sha256"))

    reader_study_prepare_task(study_id=study.pk)
    ReaderStudy.objects.filter(pk=study.pk).update(status=ReaderStudy.Status.PREPARING)
    reader_study_prepare_task(study_id=study.pk)

    assert sorted(BlindedMask.objects.values_list("pk", "sha256")) == masks
    assert ReaderStudy.objects.get(pk=study.pk).status == ReaderStudy.Status.READY


def test_preparing_a_failed_study_does_nothing(make_study: StudyMaker) -> None:
    study = make_study()
    BlindedMask.objects.filter(study_case__study=study).delete()
    ReaderStudy.objects.filter(pk=study.pk).update(status=ReaderStudy.Status.FAILED, error="A bad archive.")

    reader_study_prepare_task(study_id=study.pk)

    study.refresh_from_db()
    assert (study.status, study.error) == (ReaderStudy.Status.FAILED, "A bad archive.")
    assert not BlindedMask.objects.exists()


def test_a_mask_on_another_grid_leaves_the_study_failed_with_a_sentence(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    wrong = submission_make(
        phase=study_world.phase,
        creator=study_world.person("participant"),
        members={f"{CASE_NAMES[0]}.nii.gz": image_bytes(np.zeros((3, 3, 3), np.uint8), suffix=".nii.gz")},
    )

    study = make_study(sources=[services.REFERENCE, wrong])

    assert study.status == ReaderStudy.Status.FAILED
    assert study.error == (
        f"Case {CASE_NAMES[0]}: The mask is 3x3x3 voxels but the case's reference image is 6x5x4."
    )


def _blinded_voxels(source: MaskSource, case_name: str) -> np.ndarray:
    mask = BlindedMask.objects.get(source=source, study_case__case__name=case_name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mask.nii.gz"
        path.write_bytes(mask.file.read())
        return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_a_study_of_an_algorithm_shows_the_segmentations_its_jobs_wrote_and_an_empty_mask_where_one_failed(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    segmentations = algorithm_segmentations()
    del segmentations[CASE_NAMES[2]]
    algorithm = algorithm_submission_make(
        world=study_world,
        creator=study_world.person("participant"),
        team=study_world.submission.team,
        segmentations=segmentations,
    )

    study = make_study(sources=[services.REFERENCE, algorithm])

    assert study.status == ReaderStudy.Status.READY
    source = study.sources.get(submission=algorithm)
    assert source.label == f"{TEAM_NAME} (submission {algorithm.pk})"
    assert np.array_equal(_blinded_voxels(source, CASE_NAMES[0]), lesion(1))
    assert np.array_equal(_blinded_voxels(source, CASE_NAMES[1]), lesion(1))
    assert not _blinded_voxels(source, CASE_NAMES[2]).any()


def test_a_study_compares_an_algorithm_with_predictions_on_the_same_cases(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    algorithm = algorithm_submission_make(
        world=study_world, creator=study_world.person("organizer"), segmentations=algorithm_segmentations()
    )

    study = make_study(sources=[study_world.submission, algorithm])

    assert study.status == ReaderStudy.Status.READY
    assert [source.label for source in study.sources.all()] == [
        f"{TEAM_NAME} (submission {study_world.submission.pk})",
        f"organizer (submission {algorithm.pk})",
    ]


@pytest.mark.parametrize("status", [Submission.Status.EVALUATING, Submission.Status.FAILED])
def test_an_algorithm_whose_jobs_have_not_all_ended_and_been_scored_is_refused(
    make_study: StudyMaker, study_world: StudyWorld, status: str
) -> None:
    algorithm = algorithm_submission_make(
        world=study_world, creator=study_world.person("organizer"), segmentations=algorithm_segmentations()
    )
    Submission.objects.filter(pk=algorithm.pk).update(status=status)
    algorithm.refresh_from_db()

    with pytest.raises(ValidationError) as raised:
        make_study(sources=[services.REFERENCE, algorithm])

    assert raised.value.messages == [
        f"Submission {algorithm.pk} has not succeeded; only scored submissions can be compared."
    ]
    assert not ReaderStudy.objects.exists()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("one_source", "A study compares at least two different mask sources."),
        ("not_succeeded", "has not succeeded; only scored submissions can be compared."),
        ("other_split", "was made to a phase on other cases than this study's."),
    ],
)
def test_a_study_refuses_sources_it_cannot_compare(
    make_study: StudyMaker, study_world: StudyWorld, change: str, problem: str
) -> None:
    options: dict[str, object] = {}
    if change == "one_source":
        options["sources"] = [services.REFERENCE]
    elif change == "not_succeeded":
        Submission.objects.filter(pk=study_world.submission.pk).update(status=Submission.Status.FAILED)
        study_world.submission.refresh_from_db()
    else:
        options["split"] = "TRAIN"

    with pytest.raises(ValidationError) as raised:
        make_study(**options)

    assert any(problem in message for message in raised.value.messages)
    assert not ReaderStudy.objects.exists()


@pytest.mark.parametrize("username", ["participant", "reader", "outsider"])
def test_only_organizers_create_studies(
    make_study: StudyMaker, study_world: StudyWorld, username: str
) -> None:
    with pytest.raises(PermissionDenied):
        make_study(created_by=study_world.person(username))


def test_inviting_a_reader_draws_every_case_once_with_random_sides_and_stores_the_seed(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    reader = StudyReader.objects.get(study=study, user=study_world.person("reader"))
    items = list(reader.items.all())

    assert len(reader.seed) == 32
    assert [item.position for item in items] == [1, 2, 3]
    assert sorted(item.study_case.case.name for item in items) == list(CASE_NAMES)
    assert all(
        {item.source_a_id, item.source_b_id} == set(study.sources.values_list("pk", flat=True))
        for item in items
    )
    drawn = services.reading_order_draw(
        seed=reader.seed,
        case_ids=[item.study_case.case_id for item in items],
        source_ids=list(study.sources.values_list("pk", flat=True)),
    )
    assert [(item.study_case.case_id, item.source_a_id, item.source_b_id) for item in items] == [
        (drawn_item.case_id, drawn_item.source_a_id, drawn_item.source_b_id) for drawn_item in drawn
    ]


def test_inviting_a_reader_again_keeps_the_first_draw(study: ReaderStudy, study_world: StudyWorld) -> None:
    reader = StudyReader.objects.get(study=study, user=study_world.person("reader"))
    before = list(
        reader.items.values_list("study_case", "source_a", "source_b", "token", "token_a", "token_b")
    )

    again = services.study_reader_invite(
        study=study, user=study_world.person("reader"), invited_by=study_world.person("organizer")
    )

    assert again.pk == reader.pk
    assert again.seed == reader.seed
    assert (
        list(again.items.values_list("study_case", "source_a", "source_b", "token", "token_a", "token_b"))
        == before
    )


def test_sides_are_drawn_at_random_across_many_readers(study: ReaderStudy, study_world: StudyWorld) -> None:
    reference = study.sources.get(kind="REFERENCE")
    left = Counter()
    for number in range(30):
        reader = services.study_reader_invite(
            study=study,
            user=UserFactory(username=f"expert{number}"),
            invited_by=study_world.person("organizer"),
        )
        left.update(
            "reference" if item.source_a_id == reference.pk else "submission" for item in reader.items.all()
        )

    assert 20 <= left["reference"] <= 70
    assert 20 <= left["submission"] <= 70


def test_an_invited_user_without_the_reader_role_gets_it(study: ReaderStudy, study_world: StudyWorld) -> None:
    newcomer = UserFactory(username="newcomer")

    services.study_reader_invite(study=study, user=newcomer, invited_by=study_world.person("organizer"))

    assert ChallengeRole.objects.filter(user=newcomer, role=ChallengeRole.Role.READER).exists()


def _reader(study: ReaderStudy, study_world: StudyWorld) -> StudyReader:
    return StudyReader.objects.get(study=study, user=study_world.person("reader"))


def test_an_answer_records_the_time_from_first_shown_and_the_next_item_follows(
    study: ReaderStudy, study_world: StudyWorld
) -> None:
    reader = _reader(study, study_world)
    first = services.reading_item_next(reader=reader)
    assert first is not None
    assert first.position == 1
    assert first.shown_at is not None

    answered = services.reading_item_answer(
        user=study_world.person("reader"), item_token=first.token, preference="A", rating_a=4, rating_b=2
    )

    assert answered.seconds is not None
    assert answered.seconds >= 0
    assert (answered.rating_a, answered.rating_b) == (4, 2)
    following = services.reading_item_next(reader=reader)
    assert following is not None
    assert following.position == 2


def test_an_item_takes_one_answer(study: ReaderStudy, study_world: StudyWorld) -> None:
    item = services.reading_item_next(reader=_reader(study, study_world))
    services.reading_item_answer(user=study_world.person("reader"), item_token=item.token, preference="A")

    with pytest.raises(ValidationError) as raised:
        services.reading_item_answer(user=study_world.person("reader"), item_token=item.token, preference="B")

    assert raised.value.code == "already_answered"
    assert ReadingItem.objects.get(pk=item.pk).preference == "A"


def test_answers_are_locked_once_the_reader_has_finished(study: ReaderStudy, study_world: StudyWorld) -> None:
    reader = _reader(study, study_world)
    tokens = list(reader.items.values_list("token", flat=True))
    for token in tokens:
        services.reading_item_answer(user=study_world.person("reader"), item_token=token, preference="NONE")
    reader.refresh_from_db()
    assert reader.finished_at is not None
    assert services.reading_item_next(reader=reader) is None

    with pytest.raises(ValidationError) as raised:
        services.reading_item_answer(user=study_world.person("reader"), item_token=tokens[0], preference="A")

    assert raised.value.code == "study_finished"


def test_a_reader_cannot_answer_another_readers_item(study: ReaderStudy, study_world: StudyWorld) -> None:
    item = services.reading_item_next(reader=_reader(study, study_world))

    with pytest.raises(StudyReader.DoesNotExist):
        services.reading_item_answer(
            user=study_world.person("other_reader"), item_token=item.token, preference="A"
        )

    assert ReadingItem.objects.get(pk=item.pk).answered_at is None


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"preference": "C"}, "Choose A, B or no preference."),
        ({"preference": "A", "rating_a": 6}, "A quality rating is a whole number from 1 to 5."),
    ],
)
def test_an_answer_out_of_range_is_refused(
    study: ReaderStudy, study_world: StudyWorld, answer: dict[str, object], message: str
) -> None:
    item = services.reading_item_next(reader=_reader(study, study_world))

    with pytest.raises(ValidationError, match=message):
        services.reading_item_answer(user=study_world.person("reader"), item_token=item.token, **answer)


def _demo_create(study_world: StudyWorld, submission: Submission) -> ReaderStudy:
    return services.readerstudy_demo_create(
        submission=submission,
        organizer=study_world.person("organizer"),
        reader=study_world.person("reader"),
        instructions=DEMO_READING_INSTRUCTIONS,
        same_mask_trials=DEMO_SAME_MASK_TRIALS,
        repeated_pairs=DEMO_REPEATED_PAIRS,
    )


def test_the_demo_study_compares_the_baseline_algorithm_with_the_reference_once(
    study_world: StudyWorld, django_capture_on_commit_callbacks: object
) -> None:
    baseline = algorithm_submission_make(
        world=study_world, creator=study_world.person("organizer"), segmentations=algorithm_segmentations()
    )

    with django_capture_on_commit_callbacks(execute=True):
        study = _demo_create(study_world, baseline)

    study.refresh_from_db()
    assert study.status == ReaderStudy.Status.READY
    assert [source.submission for source in study.sources.all()] == [None, baseline]
    reader = StudyReader.objects.get(study=study, user=study_world.person("reader"))
    trials = sorted(reader.items.values_list("trial", flat=True))
    assert _demo_create(study_world, baseline) == study
    assert ReaderStudy.objects.count() == 1
    # The demo's design, so that its reader meets it: the instructions first, and catch trials.
    assert study.instructions.startswith("## Reading protocol")
    cases = study_world.phase.dataset.cases.filter(split=study.split).count()
    assert trials == sorted(
        [ReadingItem.Trial.REAL] * cases + [ReadingItem.Trial.SAME_MASK] * 2 + [ReadingItem.Trial.REPEAT] * 2
    )


def test_an_unexpected_error_in_preparation_fails_the_study_with_a_sentence_not_preparing_for_ever(
    make_study: StudyMaker, study_world: StudyWorld
) -> None:
    """The case's CT is gone from storage: an error that is nobody's sentence. Before the step engine ran
    preparations, the study stayed PREPARING with no word."""
    study = make_study()
    BlindedMask.objects.filter(study_case__study=study).delete()
    ReaderStudy.objects.filter(pk=study.pk).update(status=ReaderStudy.Status.PREPARING)
    for image in study_world.phase.dataset.cases.get(name=CASE_NAMES[0]).images.all():
        image.file.delete(save=False)

    with pytest.raises(FileNotFoundError):  # raised again, for the log and the task's failure
        reader_study_prepare_task(study_id=study.pk)

    study.refresh_from_db()
    assert study.status == ReaderStudy.Status.FAILED
    assert study.error.startswith("An unexpected error occurred while preparing the study")
    assert study.claimed_by == ""


def test_the_sweeper_gives_up_a_preparation_whose_workers_kept_dying(make_study: StudyMaker) -> None:
    study = make_study()
    ReaderStudy.objects.filter(pk=study.pk).update(
        status=ReaderStudy.Status.PREPARING,
        attempt=3,
        claimed_by="worker-1 pid 42 claim dead",
        heartbeat_at=timezone.now() - datetime.timedelta(hours=1),
    )

    report = steps_sweep()

    study.refresh_from_db()
    assert report.given_up == (f"reader study preparation {study.pk}",)
    assert study.status == ReaderStudy.Status.FAILED
    assert "stopped answering 3 times" in study.error
