"""``manage.py import_isles24 PATH --challenge SLUG --split train|test``: import a release synchronously.

PATH lies under the import root (``ISLES_IMPORT_ROOT``), as on the challenge's data page; the site admin,
who reads the server's files anyway, may import a folder elsewhere with ``--outside-import-root``.
"""

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.challenges.models import Challenge, Split
from portal.datasets.models import Dataset, DatasetImport
from portal.datasets.services import dataset_import_create, dataset_import_run


class Command(BaseCommand):
    help = (
        "Import an ISLES'24 release folder into a dataset of a challenge (created if missing), "
        "in this process, and print what was imported."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", help="The release folder (holding raw_data/ and derivatives/).")
        parser.add_argument("--challenge", required=True, help="Slug of the challenge.")
        parser.add_argument(
            "--split", required=True, choices=["train", "test"], help="Which split the cases join."
        )
        parser.add_argument("--dataset", default="isles24", help="Slug of the dataset (default: isles24).")
        parser.add_argument(
            "--outside-import-root",
            action="store_true",
            help="Import PATH even though it is not under ISLES_IMPORT_ROOT (the site admin's override).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            challenge = Challenge.objects.get(slug=options["challenge"])
        except Challenge.DoesNotExist as error:
            raise CommandError(f"There is no challenge with the slug {options['challenge']!r}.") from error
        dataset, _ = Dataset.objects.get_or_create(
            challenge=challenge, slug=options["dataset"], defaults={"title": "ISLES'24 release"}
        )
        split = Split.TRAIN if options["split"] == "train" else Split.TEST
        try:
            dataset_import = dataset_import_create(
                dataset=dataset,
                source_path=options["path"],
                split=split,
                queue=False,
                outside_import_root=options["outside_import_root"],
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        dataset_import_run(dataset_import_id=dataset_import.pk)
        dataset_import.refresh_from_db()
        if dataset_import.status != DatasetImport.Status.SUCCEEDED:
            raise CommandError(dataset_import.error)
        self._summary(dataset=dataset, report=dataset_import.report)

    def _summary(self, *, dataset: Dataset, report: dict[str, Any]) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report['cases']} cases into {dataset}: "
                f"{report['images']} images, {report['masks']} ground-truth masks."
            )
        )
        for case, paths in report["missing_files"].items():
            self.stdout.write(f"{case} lacks {len(paths)} files: {', '.join(paths)}")
