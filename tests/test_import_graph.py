"""The map of the house, enforced: which app may import which.

The portal's apps form layers; an app imports only apps of lower layers (and the core modules beside them:
the Celery app, storage, the error root, the step engine), never one of its own layer or above, so the
graph has no circle and the lower rooms can be read, tested and changed without the upper ones. The pure
packages never import the portal. Imports under ``if TYPE_CHECKING:`` are annotations only and do not
count, as in import-linter's ``exclude_type_checking_imports``. Every import counts, also one inside a
function (an ``AppConfig.ready`` that registers a plug-in imports the app it plugs into).
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CORE = {
    "celery",
    "converters",
    "csv_export",
    "downloads",
    "errors",
    "settings",
    "storage",
    "urls",
    "wsgi",
    "steps",
    "uploads",
}
"""Modules, the step engine and the chunked uploads under ``portal/`` that every app may use; they import
no app."""

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"accounts"}),  # users, teams, roles, the one organizer rule
    frozenset({"challenges"}),  # challenges and phases
    frozenset({"datasets"}),  # cases, images, ground truth, clinical data, imports
    frozenset({"submissions"}),  # the life cycle and the kind interface
    frozenset({"algorithms", "leaderboards"}),  # a submission kind; the results' publisher
    frozenset({"annotations"}),  # annotation campaigns
    frozenset({"readerstudies"}),  # blinded studies (its list page shows a reader's campaigns too)
    frozenset({"organizers"}),  # the organizer's pages, composing the apps below
    frozenset({"api", "health", "demo"}),  # on top: nothing imports them
)
PURE_PACKAGES = ("evaluation", "inference", "releases")


def _layer_of(app: str) -> int:
    for index, layer in enumerate(LAYERS):
        if app in layer:
            return index
    raise AssertionError(f"portal/{app} is in no layer of tests/test_import_graph.py: give it one.")


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in the file, outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if node.lineno in skipped if hasattr(node, "lineno") else False:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from portal import accounts`
                yield node.lineno, f"{node.module}.{alias.name}"


def _portal_apps() -> list[str]:
    return sorted(
        path.name
        for path in (ROOT / "portal").iterdir()
        if (path / "__init__.py").exists() and path.name not in CORE
    )


def _app_files(app: str) -> list[Path]:
    return [path for path in (ROOT / "portal" / app).rglob("*.py") if "migrations" not in path.parts]


def app_imports_that_break_the_layers(app: str) -> list[str]:
    """``file:line imports portal.X`` for each import of an app of the same layer or above."""
    own = _layer_of(app)
    broken = []
    for path in _app_files(app):
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] != "portal" or len(parts) < 2 or parts[1] in CORE or parts[1] == app:
                continue
            if parts[1] not in {name for layer in LAYERS for name in layer}:
                continue  # `from portal import X` names a core module or is checked as portal.X
            if _layer_of(parts[1]) >= own:
                broken.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return sorted(set(broken))


@pytest.mark.parametrize("app", _portal_apps())
def test_an_app_imports_only_apps_of_lower_layers(app: str) -> None:
    assert app_imports_that_break_the_layers(app) == []


def test_the_core_modules_import_no_app() -> None:
    core_files = [path for path in (ROOT / "portal").glob("*.py")] + [
        path for package in ("steps", "uploads") for path in (ROOT / "portal" / package).rglob("*.py")
    ]
    apps = {name for layer in LAYERS for name in layer}
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in core_files
        if path.name != "urls.py"  # the URL conf includes every app's routes: it is the top of the site
        for line, module in imported_modules(path)
        if module.split(".")[0] == "portal" and len(module.split(".")) > 1 and module.split(".")[1] in apps
    ]
    assert found == []


# The one program of a pure package that consumes the broker: a GPU worker on another host, which takes the
# portal's gpu messages with a Celery app of its own and reaches the portal only through its API.
BROKER_CONSUMERS = {"inference/remote_worker.py"}


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_the_pure_packages_never_import_the_portal(package: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in (ROOT / package).rglob("*.py")
        for line, module in imported_modules(path)
        if module.split(".")[0] in ("portal", "django", "rest_framework")
        or (module.split(".")[0] == "celery" and str(path.relative_to(ROOT)) not in BROKER_CONSUMERS)
    ]
    assert found == []


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The rule can fail: an import of a higher app, even inside a function, is found; one under
    ``TYPE_CHECKING`` is not."""
    module = tmp_path / "module.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from portal.algorithms.models import Job\n"
        "def f():\n"
        "    from portal.algorithms import services\n"
    )

    assert list(imported_modules(module)) == [
        (1, "typing"),
        (1, "typing.TYPE_CHECKING"),
        (5, "portal.algorithms"),
        (5, "portal.algorithms.services"),
    ]


def test_no_test_module_imports_another_test_module() -> None:
    """Setup shared between test modules lives in ``conftest.py``, factories and the world modules beside
    them; importing it from another ``test_*.py`` runs that module's tests' imports for nothing and ties
    the two files together."""
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in (ROOT / "tests").rglob("*.py")
        for line, module in imported_modules(path)
        if module.startswith("tests.") and any(part.startswith("test_") for part in module.split(".")[1:])
    ]
    assert found == []
