"""The forms of the challenge's data page: start an import, upload a ground-truth version, and upload a
table of case attributes."""

from typing import Any

from django import forms
from django.db.models import QuerySet

from portal.challenges.models import Split
from portal.datasets.models import Dataset


class DatasetImportForm(forms.Form):
    """Which dataset and split the release joins, and where it comes from: an archive uploaded in chunks
    by the page (its upload's id), or a folder under the import root."""

    dataset = forms.SlugField(
        max_length=64,
        initial="isles24",
        help_text="A dataset of the challenge, or the slug of a new one.",
    )
    split = forms.ChoiceField(choices=Split.choices, initial=Split.TRAIN)
    upload = forms.UUIDField(required=False, widget=forms.HiddenInput)
    folder = forms.CharField(
        required=False,
        max_length=500,
        help_text="A release folder under the import root, by its path there (e.g. isles24/train).",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("upload") is None and not data.get("folder"):
            raise forms.ValidationError(
                "Upload a release archive, or name a release folder under the import root.", code="no_source"
            )
        if data.get("upload") is not None and data.get("folder"):
            raise forms.ValidationError(
                "Import the uploaded archive or the folder, one at a time: clear the folder's name.",
                code="two_sources",
            )
        return data


class GroundTruthUploadForm(forms.Form):
    """An archive of masks, one per case named by the case, for the dataset's next ground-truth version."""

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    archive = forms.FileField(
        help_text="A .zip or .tar.gz of masks named by case, e.g. sub-stroke0001.nii.gz; other cases keep "
        "the current version's mask."
    )
    note = forms.CharField(
        max_length=500, required=False, help_text="Why this version, e.g. corrected borders."
    )

    def __init__(self, *args: Any, datasets: QuerySet[Dataset], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets  # type: ignore[attr-defined]  # a ModelChoiceField


class CaseAttributeTableForm(forms.Form):
    """A dataset's table of case attributes: a ``case`` column and a column per attribute."""

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    table = forms.FileField(
        allow_empty_file=True,  # stored, then refused with the service's sentence
        help_text="A CSV or XLSX file: a 'case' column naming each case (e.g. sub-stroke0001) and a column "
        "per attribute, e.g. centre, scanner. It replaces the dataset's previous table.",
    )

    def __init__(self, *args: Any, datasets: QuerySet[Dataset], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets  # type: ignore[attr-defined]  # a ModelChoiceField
