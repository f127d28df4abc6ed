"""How challenges, phases, cases and the current user look in the API (output only, except queries)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.archives import ReleaseEntry
from portal.datasets.models import Case, GroundTruth, Image
from portal.datasets.selectors import case_ground_truth_visible, case_outcome_data


class ChallengeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Challenge
        fields = ["slug", "title", "summary", "description", "is_public", "created_at"]


class PhaseSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Phase
        fields = [
            "slug",
            "title",
            "description",
            "order",
            "submission_kind",
            "metric_profile",
            "opens_at",
            "closes_at",
            "is_open",
            "dataset",
            "split",
            "daily_submission_limit",
            "total_submission_limit",
            "upload_max_mb",
        ]


class ImageSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "interface",
            "shape",
            "spacing_mm",
            "pixel_type",
            "size_bytes",
            "sha256",
            "release_path",
            "download_url",
        ]

    def get_download_url(self, image: Image) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:image-file", kwargs={"pk": image.pk}))


class GroundTruthSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = GroundTruth
        fields = [
            "id",
            "version",
            "shape",
            "spacing_mm",
            "lesion_volume_ml",
            "sha256",
            "release_path",
            "download_url",
        ]

    def get_download_url(self, ground_truth: GroundTruth) -> str:
        url = reverse("api:ground-truth-file", kwargs={"pk": ground_truth.pk})
        return self.context["request"].build_absolute_uri(url)


class CaseSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    images = ImageSerializer(many=True, read_only=True)
    outcome_data = serializers.SerializerMethodField()
    ground_truth = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = ["name", "dataset", "split", "admission_data", "outcome_data", "images", "ground_truth"]

    @extend_schema_field(GroundTruthSerializer(allow_null=True))
    def get_ground_truth(self, case: Case) -> dict[str, object] | None:
        """The newest reference lesion mask (binarised, uint8): null for a hidden test case unless the
        user organizes the challenge."""
        ground_truth = case_ground_truth_visible(case=case)
        if ground_truth is None:
            return None
        return GroundTruthSerializer(ground_truth, context=self.context).data

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_outcome_data(self, case: Case) -> dict[str, object] | None:
        """Follow-up outcome tables (e.g. 90-day mRS): null for a hidden test case unless the user
        organizes the challenge."""
        return case_outcome_data(case=case)


class CaseQuerySerializer(serializers.Serializer):
    split = serializers.ChoiceField(
        choices=[value.lower() for value in Split.values],
        required=False,
        help_text="Only cases of this split (train or test).",
    )


class ReleaseQuerySerializer(serializers.Serializer):
    split = serializers.ChoiceField(
        choices=[value.lower() for value in Split.values],
        required=False,
        help_text="Only cases of this split (train or test); every split the user sees when absent.",
    )
    case = serializers.ListField(
        child=serializers.RegexField(r"^[A-Za-z0-9_.-]{1,64}$"),
        required=False,
        max_length=5000,
        help_text="Only these cases, by name (repeat the parameter); every case when absent.",
    )


class ReleaseFileSerializer(serializers.Serializer):
    case = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=["image", "mask", "table"], read_only=True)
    path = serializers.CharField(
        read_only=True, source="archive_path", help_text="Where the archive puts it."
    )
    sha256 = serializers.CharField(read_only=True)
    size_bytes = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField(
        help_text="Where this one file downloads (GET; a Range request resumes it); null for a clinical "
        "table, which comes in the archive only."
    )

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, entry: ReleaseEntry) -> str | None:
        if entry.stored_id is None:
            return None
        name = "api:image-file" if entry.kind == "image" else "api:ground-truth-file"
        return str(self.context["request"].build_absolute_uri(reverse(name, args=[entry.stored_id])))


class ReleaseFileListSerializer(serializers.Serializer):
    manifest = serializers.CharField(
        read_only=True, help_text="Where the archive puts its manifest, MANIFEST.sha256 (sha256sum format)."
    )
    size_bytes = serializers.IntegerField(read_only=True, help_text="The archive's length in bytes.")
    files = ReleaseFileSerializer(many=True, read_only=True)


class RoleSerializer(serializers.ModelSerializer):
    challenge = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ChallengeRole
        fields = ["challenge", "role"]


class MeSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    email_verified = serializers.BooleanField(
        read_only=True,
        help_text="Whether the user confirmed an e-mail address, as they must before their first submission.",
    )
    roles = RoleSerializer(many=True, read_only=True)


class ModalitySerializer(serializers.Serializer):
    interface = serializers.CharField()
    cases = serializers.IntegerField()
    shapes = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    spacing_min = serializers.ListField(child=serializers.FloatField())
    spacing_max = serializers.ListField(child=serializers.FloatField())


class DataCardSerializer(serializers.Serializer):
    """A challenge's data card: the organizers' licence, citation and terms (null before they write them),
    what the imported cases hold, and whether the user has accepted the current terms."""

    licence = serializers.CharField(allow_null=True)
    citation = serializers.CharField(allow_null=True)
    terms = serializers.CharField(allow_null=True)
    terms_version = serializers.IntegerField(allow_null=True)
    cases_by_split = serializers.DictField(child=serializers.IntegerField())
    modalities = ModalitySerializer(many=True)
    terms_accepted = serializers.BooleanField()


class DataTermsAcceptSerializer(serializers.Serializer):
    consents_to_reruns = serializers.BooleanField(
        help_text="Whether the organizers may run your team's algorithm again on validation data."
    )


class DataTermsAcceptanceSerializer(serializers.Serializer):
    terms_version = serializers.IntegerField()
    consents_to_reruns = serializers.BooleanField()
    accepted_at = serializers.DateTimeField()
