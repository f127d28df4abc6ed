"""Case attributes as an organizer uploads them: a CSV or XLSX table per dataset, stored before it is read,
applied whole or refused whole with a sentence per bad row; and the attributes the portal derives."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Split
from portal.datasets.models import Case, CaseAttributeTable, Dataset, GroundTruth
from portal.datasets.selectors import case_attributes_get
from tests.hostile_tables import FAR_DOWN, FAR_RIGHT, workbook_bytes
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory

pytestmark = pytest.mark.django_db

CASES = ["sub-stroke0001", "sub-stroke0002", "sub-stroke0003"]


@pytest.fixture
def dataset() -> Dataset:
    dataset = DatasetFactory(slug="release")
    for name in CASES:
        CaseFactory(dataset=dataset, name=name, split=Split.TEST)
    return dataset


def _organizer(dataset: Dataset) -> Client:
    user: User = ChallengeRoleFactory(challenge=dataset.challenge, role=ChallengeRole.Role.ORGANIZER).user
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, dataset: Dataset, name: str, content: bytes) -> object:
    return client.post(
        f"/api/challenges/{dataset.challenge.slug}/datasets/{dataset.slug}/case-attributes/",
        {"file": SimpleUploadedFile(name, content)},
    )


def _attributes(dataset: Dataset) -> dict[str, dict[str, str]]:
    return dict(Case.objects.filter(dataset=dataset).values_list("name", "attributes"))


def _xlsx(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_csv_table_sets_every_cases_attributes_and_a_case_it_does_not_name_gets_none(
    dataset: Dataset,
) -> None:
    client = _organizer(dataset)
    CaseFactory(dataset=dataset, name="sub-stroke0004", attributes={"centre": "old"})
    table = (
        b"case,centre,scanner\nsub-stroke0001,TUM,Siemens\nsub-stroke0002,Zurich,\n\nsub-stroke0003,TUM,GE\n"
    )

    answer = _post(client, dataset, "centres.csv", table)

    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "APPLIED"
    assert answer.json()["columns"] == ["centre", "scanner"]
    assert answer.json()["cases_named"] == 3
    assert _attributes(dataset) == {
        "sub-stroke0001": {"centre": "TUM", "scanner": "Siemens"},
        "sub-stroke0002": {"centre": "Zurich"},
        "sub-stroke0003": {"centre": "TUM", "scanner": "GE"},
        "sub-stroke0004": {},
    }
    stored = CaseAttributeTable.objects.get()
    assert stored.file.read() == table


def test_an_xlsx_table_with_the_case_column_anywhere_and_numbers_is_applied(dataset: Dataset) -> None:
    content = _xlsx(
        [["Centre", "Case", "field_strength"], ["TUM", "sub-stroke0001", 3.0], [2, "sub-stroke0002", 1.5]]
    )

    answer = _post(_organizer(dataset), dataset, "centres.xlsx", content)

    assert answer.status_code == 201, answer.content
    assert _attributes(dataset)["sub-stroke0001"] == {"Centre": "TUM", "field_strength": "3"}
    assert _attributes(dataset)["sub-stroke0002"] == {"Centre": "2", "field_strength": "1.5"}


def test_a_table_with_bad_rows_is_refused_whole_with_a_sentence_per_row_and_kept(dataset: Dataset) -> None:
    client = _organizer(dataset)
    assert _post(client, dataset, "first.csv", b"case,centre\nsub-stroke0001,TUM\n").status_code == 201
    table = b"case,centre\nsub-stroke0002,Zurich\nsub-stroke9999,TUM\nsub-stroke0002,TUM\n,TUM\n"

    answer = _post(client, dataset, "second.csv", table)

    assert answer.status_code == 400
    assert answer.json()["status"] == "REFUSED"
    assert answer.json()["problems"] == [
        "Row 3 names 'sub-stroke9999', which is not a case of dataset release: correct the name or remove "
        "the row.",
        "Row 4 names 'sub-stroke0002' again (first on row 2): keep one row per case.",
        "Row 5 names no case: fill in its case or remove the row.",
    ]
    assert _attributes(dataset)["sub-stroke0001"] == {"centre": "TUM"}  # the first table still holds
    assert _attributes(dataset)["sub-stroke0002"] == {}
    refused = CaseAttributeTable.objects.get(original_name="second.csv")
    assert refused.file.read() == table


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        (b"", "The file is empty: upload a CSV or XLSX table whose first row names the columns."),
        (b"  \n", "The file is empty: upload a CSV or XLSX table whose first row names the columns."),
        (b"subject,centre\nsub-stroke0001,TUM\n", "The first row names no 'case' column"),
        (b"case\nsub-stroke0001\n", "The table has only a case column"),
        (b"case,centre\n", "The table has a header but no rows: add one row per case."),
        (b"case,centre,centre\nsub-stroke0001,A,B\n", "Two columns are named 'centre': rename one of them."),
        (
            b"case,lesion_volume\nsub-stroke0001,big\n",
            "The column 'lesion_volume' has the name of an attribute the portal derives itself",
        ),
        (
            b"\xff\xfe\x00c\x00a",
            "The file cannot be read: it is neither a UTF-8 CSV table nor an XLSX workbook",
        ),
        (
            b"PK\x03\x04broken",
            "The file cannot be read: it is neither a UTF-8 CSV table nor an XLSX workbook",
        ),
        (
            b"case,note\nsub-stroke0001," + b"x" * 200_000 + b"\n",
            "The file cannot be read: it is neither a UTF-8 CSV table nor an XLSX workbook (field larger",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "no case column",
        "no attribute",
        "no rows",
        "column twice",
        "derived name",
        "binary",
        "bad xlsx",
        "huge field",
    ],
)
def test_a_table_that_cannot_be_read_is_refused_with_its_sentence(
    dataset: Dataset, content: bytes, sentence: str
) -> None:
    answer = _post(_organizer(dataset), dataset, "table.csv", content)

    assert answer.status_code == 400
    assert answer.json()["problems"][0].startswith(sentence)
    assert not any(_attributes(dataset).values())


def test_the_data_page_applies_a_table_and_says_so_or_names_each_problem(dataset: Dataset) -> None:
    client = _organizer(dataset)
    url = f"/challenges/{dataset.challenge.slug}/organize/data/case-attributes/"

    applied = client.post(
        url,
        {"dataset": dataset.pk, "table": SimpleUploadedFile("c.csv", b"case,centre\nsub-stroke0001,TUM\n")},
        follow=True,
    )
    refused = client.post(
        url,
        {"dataset": dataset.pk, "table": SimpleUploadedFile("c.csv", b"case,centre\nsub-stroke0404,TUM\n")},
        follow=True,
    )

    assert "The attributes centre of 1 cases of ISLES&#x27;24 release are applied" in applied.content.decode()
    assert "Row 2 names &#x27;sub-stroke0404&#x27;, which is not a case of dataset release" in (
        refused.content.decode()
    )
    assert _attributes(dataset)["sub-stroke0001"] == {"centre": "TUM"}


def test_derived_attributes_bin_the_scored_reference_volume_and_the_onset_time(dataset: Dataset) -> None:
    first, second = (Case.objects.get(name=name) for name in CASES[:2])
    first.attributes = {"centre": "TUM"}
    first.admission_data = {"demographic_baseline": {"onset_to_imaging_min": 400}}
    first.save()
    second.admission_data = {"demographic_baseline": {"onset_to_imaging_h": 2.5}}
    second.save()
    for case, version, volume in [(first, 1, 3.0), (first, 2, 30.0), (second, 2, 90.0)]:
        GroundTruth.objects.create(
            case=case,
            version=version,
            file="x",
            sha256="0" * 64,
            shape=[1, 1, 1],
            spacing_mm=[1, 1, 1],
            lesion_volume_ml=volume,
        )

    attributes = case_attributes_get(dataset_id=dataset.pk, split=Split.TEST, ground_truth_version=2)

    assert attributes.labels == {
        "centre": "centre",
        "lesion_volume": "Reference lesion volume",
        "onset_to_imaging": "Onset to imaging",
    }
    assert attributes.by_case == {
        "sub-stroke0001": {"centre": "TUM", "lesion_volume": "20-70 ml", "onset_to_imaging": "6-24 h"},
        "sub-stroke0002": {"lesion_volume": "70+ ml", "onset_to_imaging": "0-6 h"},
        "sub-stroke0003": {},
    }


@pytest.mark.parametrize(
    ("sheet_edit", "sentence"),
    [
        (FAR_RIGHT, "The file cannot be read: its row 3 has more than 200 columns."),
        (FAR_DOWN, "The file cannot be read: it has more than 100,000 rows."),
    ],
    ids=["a cell far right", "a cell far down"],
)
def test_a_hand_made_workbook_that_claims_a_huge_sheet_is_refused_with_its_sentence(
    dataset: Dataset, sheet_edit: str, sentence: str
) -> None:
    workbook = workbook_bytes([["case", "centre"], ["sub-stroke0001", "TUM"]], sheet_edit=sheet_edit)

    answer = _post(_organizer(dataset), dataset, "table.xlsx", workbook)

    assert answer.status_code == 400
    assert answer.json()["problems"][0].startswith(sentence)
    assert CaseAttributeTable.objects.get(original_name="table.xlsx").file.read() == workbook
