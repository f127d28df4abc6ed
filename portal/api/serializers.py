"""How challenges, phases, cases and the current user look in the API (output only, except queries)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.models import Case, Image
from portal.datasets.selectors import case_outcome_data


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
            "download_url",
        ]

    def get_download_url(self, image: Image) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:image-file", kwargs={"pk": image.pk}))


class CaseSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    images = ImageSerializer(many=True, read_only=True)
    outcome_data = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = ["name", "dataset", "split", "admission_data", "outcome_data", "images"]

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


class RoleSerializer(serializers.ModelSerializer):
    challenge = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ChallengeRole
        fields = ["challenge", "role"]


class MeSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    roles = RoleSerializer(many=True, read_only=True)
