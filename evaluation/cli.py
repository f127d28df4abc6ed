"""The command line: ``python -m evaluation score --profile isles24 --ground-truth DIR --predictions DIR``.

It writes the JSON document of ``FolderScore.as_json`` and reports progress on stderr, one line per case.
Unusable arguments (a missing or empty folder, an unknown profile, a case named twice) end it with exit
status 2 and one sentence on stderr.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from evaluation.profiles import PROFILES, profile_get
from evaluation.scoring import CaseScore, CaseStatus, score_folders

__all__ = ["main"]

USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    arguments = _parser().parse_args(argv)
    try:
        profile = profile_get(name=arguments.profile)
        if arguments.workers is not None and arguments.workers < 1:
            raise ValueError(f"--workers must be 1 or more, not {arguments.workers}.")
        if not arguments.output.parent.is_dir():
            raise ValueError(f"The folder of the output file, {arguments.output.parent}, does not exist.")
        result = score_folders(
            profile=profile,
            ground_truth_dir=arguments.ground_truth,
            predictions_dir=arguments.predictions,
            workers=arguments.workers,
            on_case=_report_progress,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    arguments.output.write_text(json.dumps(result.as_json(), indent=2) + "\n")
    print(
        f"Scored {len(result.cases)} cases with {profile.name}: {len(result.missing)} missing, "
        f"{len(result.errors)} errors, {len(result.warnings)} warnings; wrote {arguments.output}.",
        file=sys.stderr,
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser(
        "score", help="score a folder of predictions against a folder of ground truth"
    )
    score.add_argument("--profile", required=True, help=f"metric profile: {', '.join(sorted(PROFILES))}")
    score.add_argument("--ground-truth", required=True, type=Path, help="folder of ground-truth masks")
    score.add_argument("--predictions", required=True, type=Path, help="folder of predicted masks")
    score.add_argument("--output", required=True, type=Path, help="JSON file to write")
    score.add_argument("--workers", type=int, default=None, help="processes to use (default: one per CPU)")
    return parser


def _report_progress(done: int, total: int, score: CaseScore) -> None:
    note = {CaseStatus.SCORED: "scored", CaseStatus.MISSING: "missing prediction", CaseStatus.ERROR: "error"}
    detail = f": {score.message}" if score.message else ""
    print(f"[{done}/{total}] {score.case_id} {note[score.status]}{detail}", file=sys.stderr, flush=True)
