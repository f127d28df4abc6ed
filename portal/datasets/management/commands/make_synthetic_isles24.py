"""``manage.py make_synthetic_isles24 OUT --cases N --seed S``: write a synthetic ISLES'24 release."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from releases.synthetic import write_release


class Command(BaseCommand):
    help = "Write a synthetic ISLES'24 release (head phantoms in the real layout) into a folder."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("out", type=Path, help="Folder to write the release into.")
        parser.add_argument("--cases", type=int, required=True, help="How many cases to write.")
        parser.add_argument(
            "--seed", type=int, required=True, help="Seed: the same seed writes the same data."
        )
        parser.add_argument(
            "--size",
            choices=["small", "full"],
            default="small",
            help="small: 64x64x24 voxels per case; full: 512x512x80, as the real release.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            names = write_release(
                options["out"], cases=options["cases"], seed=options["seed"], size=options["size"]
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        span = names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]}"
        self.stdout.write(self.style.SUCCESS(f"Wrote {len(names)} cases to {options['out']}: {span}"))
