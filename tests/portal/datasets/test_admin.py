"""The datasets admin: lists of imported rows, and queueing a failed import again."""

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from portal.challenges.models import Split
from portal.datasets.models import DatasetImport
from portal.datasets.services import dataset_import_create, isles24_import
from tests.portal.datasets.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def test_every_datasets_admin_list_shows_the_imported_release(
    admin_client: Client, release: Path, case_names: list[str]
) -> None:
    isles24_import(dataset=DatasetFactory(), root=release, split=Split.TRAIN)
    dataset_import_create(dataset=DatasetFactory(), source_path=release, split=Split.TRAIN, queue=False)

    pages = {
        model: admin_client.get(reverse(f"admin:datasets_{model}_changelist"))
        for model in ["dataset", "case", "image", "groundtruth", "datasetimport"]
    }

    assert {model: response.status_code for model, response in pages.items()} == dict.fromkeys(pages, 200)
    for model in ["case", "image", "groundtruth"]:
        assert case_names[0] in pages[model].content.decode()


def test_the_case_list_filters_cases_with_missing_files(
    admin_client: Client, release: Path, case_names: list[str]
) -> None:
    (release / f"raw_data/{case_names[1]}/ses-01/{case_names[1]}_ses-01_ncct.nii.gz").unlink()
    isles24_import(dataset=DatasetFactory(), root=release, split=Split.TRAIN)

    page = admin_client.get(reverse("admin:datasets_case_changelist"), {"missing": "yes"}).content.decode()

    assert case_names[1] in page
    assert case_names[0] not in page


def test_the_requeue_action_queues_a_failed_import_and_it_runs(
    admin_client: Client, release: Path, django_capture_on_commit_callbacks
) -> None:
    dataset_import = dataset_import_create(
        dataset=DatasetFactory(), source_path=release, split=Split.TRAIN, queue=False
    )
    DatasetImport.objects.filter(pk=dataset_import.pk).update(status=DatasetImport.Status.FAILED, attempt=3)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(
            reverse("admin:datasets_datasetimport_changelist"),
            {"action": "requeue", "_selected_action": [dataset_import.pk]},
            follow=True,
        )

    dataset_import.refresh_from_db()
    assert len(callbacks) == 1
    assert dataset_import.status == DatasetImport.Status.SUCCEEDED
    assert "1 imports queued again." in response.content.decode()


def test_the_requeue_action_says_why_a_running_import_is_not_queued(
    admin_client: Client, release: Path
) -> None:
    dataset_import = dataset_import_create(
        dataset=DatasetFactory(), source_path=release, split=Split.TRAIN, queue=False
    )
    DatasetImport.objects.filter(pk=dataset_import.pk).update(status=DatasetImport.Status.RUNNING)

    response = admin_client.post(
        reverse("admin:datasets_datasetimport_changelist"),
        {"action": "requeue", "_selected_action": [dataset_import.pk]},
        follow=True,
    )

    assert "Only a failed import can be queued again; this one is Running." in response.content.decode()
    assert DatasetImport.objects.get().status == DatasetImport.Status.RUNNING
