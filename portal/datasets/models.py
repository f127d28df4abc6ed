"""Datasets, their cases, the images of each case, ground truth and clinical data.

Every file lives in private storage (``portal.storage.private_storage``) under a content-addressed name,
so a file name says nothing about what it is and a re-import of the same bytes writes nothing.
"""

from django.db import models

from portal.challenges.models import Split
from portal.steps.models import ClaimedStep
from portal.storage import private_storage
from portal.uploads.models import ChunkedUpload


class Dataset(models.Model):
    """A collection of cases of one challenge, in one interface layout (ISLES'24 by default)."""

    challenge = models.ForeignKey("challenges.Challenge", on_delete=models.CASCADE, related_name="datasets")
    slug = models.SlugField(max_length=64)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["challenge", "slug"], name="dataset_slug_unique_in_challenge"),
        ]

    def __str__(self) -> str:
        return f"{self.challenge.slug}/{self.slug}"


class Case(models.Model):
    """One subject of a dataset, e.g. ``sub-stroke0001``: its images, ground truth and clinical data."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="cases")
    name = models.CharField(max_length=64, help_text="The case id, e.g. sub-stroke0001.")
    split = models.CharField(max_length=8, choices=Split.choices)
    admission_data = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Clinical tables known at admission, by name (e.g. demographic_baseline: age, sex, NIHSS at "
            "admission). What an algorithm container receives."
        ),
    )
    outcome_data = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Follow-up clinical tables, by name (e.g. outcome: 90-day mRS). Ground truth too: shown to "
            "participants for training cases only, never given to containers."
        ),
    )
    missing_files = models.JSONField(
        default=list, blank=True, help_text="Files of the release layout the import did not find."
    )
    attributes = models.JSONField(
        default=dict,
        blank=True,
        db_default={},
        help_text=(
            "Attributes from the dataset's last applied attribute table, column -> text (e.g. centre: TUM); "
            "results can be split by them."
        ),
    )
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset", "name"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="case_name_unique_in_dataset"),
        ]

    def __str__(self) -> str:
        return self.name


def _case_file_path(instance: "Image | GroundTruth", filename: str) -> str:
    return f"datasets/{instance.case.dataset_id}/{instance.sha256[:2]}/{instance.sha256}.nii.gz"


class Image(models.Model):
    """One image of a case under an interface slug (``non-contrast-ct``, ``preprocessed-tmax-map``...)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="images")
    interface = models.SlugField(max_length=64, help_text="Interface slug of the container contract.")
    file = models.FileField(storage=private_storage, upload_to=_case_file_path, max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    shape = models.JSONField(help_text="Voxels along x, y, z (and t for 4D perfusion CT).")
    spacing_mm = models.JSONField(help_text="Voxel spacing in mm along x, y, z (and seconds along t).")
    pixel_type = models.CharField(max_length=32, help_text="Stored voxel type, e.g. int16.")
    release_path = models.CharField(
        max_length=255,
        blank=True,
        help_text=(
            "Where the release holds this file, relative to its root (raw_data/sub-stroke0001/...): the "
            "name it is downloaded under. Empty for rows imported before it was recorded."
        ),
    )

    class Meta:
        ordering = ["case", "interface"]
        constraints = [
            models.UniqueConstraint(fields=["case", "interface"], name="one_image_per_interface"),
        ]

    def __str__(self) -> str:
        return f"{self.case.name} {self.interface}"

    @property
    def spacing_label(self) -> str:
        """The spacing as people read it, to three significant digits (0.4 rather than 0.4000000059604645)."""
        return " \N{MULTIPLICATION SIGN} ".join(f"{value:.3g}" for value in self.spacing_mm)


class GroundTruthVersion(models.Model):
    """A named version of a dataset's ground truth, the thing a phase is scored on.

    Version 1 is the import. Later versions come from an annotation campaign (a STAPLE consensus, or one
    annotator's masks) or from masks an organizer uploads; each holds a ``GroundTruth`` row per case
    whose ``version`` is this ``number``. Versions are never deleted and their numbers never reused, so
    a score always says which masks it was computed on.
    """

    class Source(models.TextChoices):
        IMPORT = "IMPORT", "Imported with the release"
        CONSENSUS = "CONSENSUS", "Consensus of annotators (STAPLE)"
        ANNOTATOR = "ANNOTATOR", "One annotator's masks"
        UPLOAD = "UPLOAD", "Masks uploaded by an organizer"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="ground_truth_versions")
    number = models.PositiveSmallIntegerField(help_text="1 for the import, then one more per new version.")
    source = models.CharField(max_length=16, choices=Source.choices)
    note = models.TextField(blank=True, help_text="What changed and why, for the organizers.")
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="ground_truth_version_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} ground truth v{self.number} ({self.get_source_display()})"


class GroundTruth(models.Model):
    """The reference lesion mask of a case in one version, binarised (> 0), stored as uint8. Never served
    by URL. Versions share a file when a mask did not change (names are content-addressed)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="ground_truths")
    version = models.PositiveSmallIntegerField(
        default=1, help_text="The number of the dataset's GroundTruthVersion this mask belongs to."
    )
    file = models.FileField(storage=private_storage, upload_to=_case_file_path, max_length=255)
    sha256 = models.CharField(max_length=64, help_text="Of the stored, binarised file.")
    shape = models.JSONField(help_text="Voxels along x, y, z.")
    spacing_mm = models.JSONField(help_text="Voxel spacing in mm along x, y, z.")
    lesion_volume_ml = models.FloatField(help_text="Lesion voxels times the voxel volume, in ml.")
    source_encoding = models.CharField(
        max_length=64, help_text="How the release stored it, e.g. 'uint16 {0, 65535}'."
    )
    release_path = models.CharField(
        max_length=255,
        blank=True,
        help_text=(
            "Where the release holds the case's mask, relative to its root (derivatives/...): the name it "
            "is downloaded under (as stored: binarised, uint8). Empty when not known."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "version"]
        constraints = [
            models.UniqueConstraint(fields=["case", "version"], name="one_ground_truth_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.case.name} ground truth v{self.version}"


def _attribute_table_path(instance: "CaseAttributeTable", filename: str) -> str:
    return f"case-attributes/{instance.dataset_id}/{filename}"


class CaseAttributeTable(models.Model):
    """A table of case attributes (centre, scanner, acquisition...) an organizer uploaded for a dataset:
    a ``case`` column naming each case as the dataset does, and any other columns.

    The file is stored before it is read. A table is applied whole, setting every case's ``attributes``
    (a case it does not name has none), or refused whole with a sentence per problem.
    """

    class Status(models.TextChoices):
        RECEIVED = "RECEIVED", "Received, not read yet"
        APPLIED = "APPLIED", "Applied"
        REFUSED = "REFUSED", "Refused"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="attribute_tables")
    file = models.FileField(storage=private_storage, upload_to=_attribute_table_path, max_length=255)
    original_name = models.CharField(max_length=255, help_text="The file's name on the organizer's disk.")
    uploaded_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    columns = models.JSONField(default=list, blank=True, help_text="The attribute columns, in file order.")
    cases_named = models.PositiveIntegerField(default=0, help_text="Cases the applied table names.")
    problems = models.JSONField(
        default=list, blank=True, help_text="Why it was refused: one sentence per bad row or column."
    )

    class Meta:
        ordering = ["dataset", "-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return f"attribute table {self.original_name} of {self.dataset} ({self.get_status_display()})"


class ReleaseUpload(ChunkedUpload):
    """A release archive (.tar.gz, .tgz, .tar or .zip) an organizer of the challenge uploads in chunks
    (``portal.uploads``) to import it; once whole, a ``DatasetImport`` unpacks and reads it."""

    challenge = models.ForeignKey(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="release_uploads"
    )
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    original_name = models.CharField(max_length=255, help_text="The archive's name on the organizer's disk.")


class DatasetImport(ClaimedStep):
    """One run of the ISLES'24 importer over a release folder on the server, or over an uploaded release
    archive (``upload``), and how it ended.

    Runs synchronously from ``manage.py import_isles24`` or on the ``cpu`` queue when an organizer asks for
    it on the challenge's data page or in the admin. All of a run's rows and files are kept, or none.
    """

    class Status(models.TextChoices):
        QUEUED = "QUEUED", "Queued"
        RUNNING = "RUNNING", "Running"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="imports")
    source_path = models.CharField(
        max_length=500, help_text="Release folder on the server, or the uploaded archive's name."
    )
    upload = models.ForeignKey(
        ReleaseUpload,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="imports",
        help_text="The uploaded release archive this import unpacks (none: a folder on the server).",
    )
    split = models.CharField(max_length=8, choices=Split.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cases_imported = models.PositiveIntegerField(default=0)
    report = models.JSONField(
        default=dict, blank=True, help_text="Per case: files imported and files missing from the layout."
    )
    error = models.TextField(blank=True, help_text="Why it failed, in a sentence naming the file.")
    progress_stage = models.CharField(
        max_length=200,
        blank=True,
        db_default="",
        help_text="What the import is doing now, e.g. importing a case.",
    )
    progress_done = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Files unpacked or cases imported."
    )
    progress_total = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Of how many (0: not known yet)."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import of {self.source_path} ({self.get_status_display()})"


class DataCard(models.Model):
    """What a challenge's data is and on what terms participants use it: its licence and citation, and the
    data-use terms each participant accepts (``DataTermsAcceptance``) before their first download.

    The modalities, their shapes and spacings and the number of cases per split are read from the imported
    cases (``selectors.data_card_get``), never typed in. Changing the terms is a new ``terms_version``:
    participants accept again before their next download.
    """

    challenge = models.OneToOneField(
        "challenges.Challenge", on_delete=models.CASCADE, related_name="data_card"
    )
    licence = models.CharField(max_length=200, help_text="The data's licence, e.g. CC BY-NC 4.0.")
    citation = models.TextField(blank=True, help_text="How to cite the data, as the organizers ask.")
    terms = models.TextField(help_text="The data-use terms a participant accepts before the first download.")
    terms_version = models.PositiveSmallIntegerField(
        default=1, help_text="Raise it when the terms change: participants then accept them again."
    )

    def __str__(self) -> str:
        return f"data card of {self.challenge}"


class DataTermsAcceptance(models.Model):
    """A participant's acceptance of one version of a challenge's data-use terms, with its time, including
    their consent that their team's algorithm may be run again by the organizers on validation data."""

    card = models.ForeignKey(DataCard, on_delete=models.CASCADE, related_name="acceptances")
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="data_terms_acceptances")
    terms_version = models.PositiveSmallIntegerField()
    consents_to_reruns = models.BooleanField(
        help_text="Whether the organizers may run the team's algorithm again on validation data."
    )
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["card", "-accepted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["card", "user", "terms_version"], name="terms_accepted_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} accepted {self.card} v{self.terms_version}"
