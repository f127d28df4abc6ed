"""The two management commands: writing a synthetic release and importing a release."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from portal.challenges.models import Split
from portal.datasets.models import Case, Dataset, DatasetImport
from tests.portal.challenges.factories import ChallengeFactory


def test_make_synthetic_isles24_writes_the_cases_it_says(tmp_path: Path) -> None:
    out = StringIO()

    call_command(
        "make_synthetic_isles24", str(tmp_path / "release"), "--cases", "2", "--seed", "7", stdout=out
    )

    subjects = sorted(path.name for path in (tmp_path / "release" / "raw_data").iterdir())
    assert len(subjects) == 2
    assert f"Wrote 2 cases to {tmp_path / 'release'}" in out.getvalue()
    assert subjects[0] in out.getvalue()


def test_make_synthetic_isles24_refuses_zero_cases(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="at least one case"):
        call_command("make_synthetic_isles24", str(tmp_path), "--cases", "0", "--seed", "7")


@pytest.mark.django_db
def test_import_isles24_creates_the_dataset_and_prints_a_summary(
    release: Path, case_names: list[str]
) -> None:
    challenge = ChallengeFactory(slug="isles24")
    missing = f"raw_data/{case_names[0]}/ses-01/{case_names[0]}_ses-01_cta.nii.gz"
    (release / missing).unlink()
    out = StringIO()

    call_command("import_isles24", str(release), "--challenge", "isles24", "--split", "test", stdout=out)

    dataset = Dataset.objects.get(challenge=challenge, slug="isles24")
    assert dataset.cases.filter(split=Split.TEST).count() == 3
    assert DatasetImport.objects.get().status == DatasetImport.Status.SUCCEEDED
    assert "Imported 3 cases into isles24/isles24: 38 images, 3 ground-truth masks." in out.getvalue()
    assert missing in out.getvalue()


@pytest.mark.django_db
def test_import_isles24_into_a_named_dataset_twice_keeps_one_copy(release: Path) -> None:
    ChallengeFactory(slug="isles24")
    arguments = [str(release), "--challenge", "isles24", "--split", "train", "--dataset", "release-1"]

    call_command("import_isles24", *arguments, stdout=StringIO())
    call_command("import_isles24", *arguments, stdout=StringIO())

    assert Case.objects.filter(dataset__slug="release-1").count() == 3
    assert DatasetImport.objects.filter(status=DatasetImport.Status.SUCCEEDED).count() == 2


@pytest.mark.django_db
def test_import_isles24_says_why_it_failed(release: Path, case_names: list[str], tmp_path: Path) -> None:
    ChallengeFactory(slug="isles24")
    broken = f"derivatives/{case_names[0]}/ses-02/{case_names[0]}_ses-02_lesion-msk.nii.gz"
    (release / broken).write_bytes(b"garbage")

    with pytest.raises(CommandError, match=broken):
        call_command("import_isles24", str(release), "--challenge", "isles24", "--split", "train")
    with pytest.raises(CommandError, match="not a folder on the server"):
        call_command(
            "import_isles24", str(tmp_path / "nowhere"), "--challenge", "isles24", "--split", "train"
        )
    with pytest.raises(CommandError, match="no challenge with the slug 'isles25'"):
        call_command("import_isles24", str(release), "--challenge", "isles25", "--split", "train")
    assert Case.objects.count() == 0
