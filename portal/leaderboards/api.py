"""API of the leaderboards: the stored ranking with its stability, per-case scores, exports, and the
organizers' ensembles of submissions.

The leaderboard answers from two queries whatever its size: the phase with its settings, stored
stability and the user's roles, then one page of entries (the JSON the rebuild stored) with their teams.
"""

import json
import math
from typing import NoReturn

from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluation.biomarkers import Agreement
from evaluation.stats import Correlation
from portal.challenges.models import Phase
from portal.converters import BIGINT_MAX
from portal.leaderboards import biomarkers, ensembles, selectors, services, subgroups
from portal.leaderboards.models import Ensemble, LeaderboardSettings
from portal.leaderboards.selectors import LeaderboardAccess, entry_submitter_name
from portal.leaderboards.views import export_response

MAX_PAGE = 1000
NOT_PUBLISHED = "The leaderboard is not published yet (code not_published)."


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=100)
    offset = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, default=0)
    rank_counts = serializers.BooleanField(
        default=False, help_text="Also give each entry's full bootstrap rank distribution."
    )


class EntrySerializer(serializers.Serializer):
    """The shape of an entry in the API's answer (``selectors.leaderboard_page`` builds it)."""

    rank = serializers.IntegerField()
    team = serializers.CharField()
    submission = serializers.IntegerField()
    submitted_at = serializers.DateTimeField()
    ranking_score = serializers.FloatField()
    metrics = serializers.JSONField(help_text="Per column key: {mean, sd} over the phase's cases.")
    median_rank = serializers.FloatField(
        allow_null=True, help_text="Median rank over the bootstrap samples; null until they are drawn."
    )
    rank_interval = serializers.JSONField(allow_null=True)
    clinical_correlations = serializers.JSONField(
        help_text="Spearman of the predicted volume with each clinical score known at admission."
    )
    outcome_correlations = serializers.JSONField(
        required=False,
        help_text=(
            "The same with each follow-up outcome (e.g. 90-day mRS): for organizers, and for everyone once "
            "they publish them."
        ),
    )
    rank_counts = serializers.JSONField(
        required=False, help_text="Bootstrap samples per rank, nonzero ranks only (with ?rank_counts=true)."
    )


class LeaderboardSerializer(serializers.Serializer):
    phase = serializers.CharField()
    ground_truth_version = serializers.IntegerField(
        help_text="The dataset's ground-truth version the phase is scored on."
    )
    metric_profile = serializers.CharField(help_text="The metric profile's name, e.g. isles24.")
    metric_profile_title = serializers.CharField(help_text="What the profile computes, in a sentence.")
    counted_submission = serializers.ChoiceField(
        choices=LeaderboardSettings.CountedSubmission.choices,
        help_text="Which of a team's submissions the board counts.",
    )
    ranking_method = serializers.CharField()
    computed_at = serializers.DateTimeField(allow_null=True)
    columns = serializers.JSONField()
    stability = serializers.JSONField()
    count = serializers.IntegerField()
    results = EntrySerializer(many=True)


class CaseScoreSerializer(serializers.Serializer):
    rank = serializers.IntegerField(source="entry.rank")
    team = serializers.SerializerMethodField()
    submission = serializers.IntegerField(source="entry.submission_id")
    case = serializers.CharField(source="case_name")
    metrics = serializers.JSONField()
    error = serializers.CharField()

    def get_team(self, row: selectors.CaseScoreRow) -> str:
        return entry_submitter_name(row.entry)


class CaseScoresSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = CaseScoreSerializer(many=True)


def _refuse(request: Request, sentence: str, *, code: str = "permission_denied") -> NoReturn:
    """Refuse what the user may not see: 401 without credentials (an organizer may see it), else 403."""
    if not request.user.is_authenticated:
        raise NotAuthenticated()
    raise PermissionDenied(sentence, code=code)


def _access(request: Request, phase_slug: str) -> LeaderboardAccess:
    try:
        access = selectors.leaderboard_access_get(user=request.user, phase_slug=phase_slug)
    except Phase.DoesNotExist as error:
        raise Http404("No such phase.") from error
    if not access.leaderboard_visible:
        _refuse(request, "The leaderboard of this phase is not published yet.", code="not_published")
    return access


def _case_scores_access(
    request: Request, phase_slug: str, *, hidden: str = "Per-case scores of this phase are not shown to you."
) -> LeaderboardAccess:
    """The phase's leaderboard access, refused with ``hidden`` when its per-case results are not the user's
    to see."""
    access = _access(request, phase_slug)
    if not access.case_scores_visible:
        _refuse(request, hidden, code="hidden_cases")
    return access


class LeaderboardView(APIView):
    """A phase's leaderboard, best first: columns, entries (means +- sd, bootstrap ranks) and stability."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[PageSerializer],
        responses={200: LeaderboardSerializer, 403: OpenApiResponse(description=NOT_PUBLISHED)},
    )
    def get(self, request: Request, phase_slug: str) -> HttpResponse:
        page = PageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        access = _access(request, phase_slug)
        stability = access.stability
        basis = selectors.leaderboard_scoring_basis(phase=access.phase)
        head = {
            "phase": access.phase.slug,
            "ground_truth_version": basis.ground_truth_version,
            "metric_profile": basis.metric_profile,
            "metric_profile_title": basis.metric_profile_title,
            "counted_submission": access.settings.counted_submission,
        }
        if stability is None:
            head |= {"ranking_method": access.settings.ranking_method}
            head |= {"computed_at": None, "columns": [], "stability": {}, "count": 0}
            documents: list[str] = []
        else:
            head |= {"ranking_method": stability.method}
            head |= {"computed_at": stability.computed_at, "columns": stability.columns}
            head |= {"stability": stability.summary, "count": stability.summary.get("entries", 0)}
            documents = selectors.leaderboard_page_documents(
                phase=access.phase,
                offset=page.validated_data["offset"],
                limit=page.validated_data["limit"],
                with_rank_counts=page.validated_data["rank_counts"],
                with_outcome_correlations=access.outcome_correlations_visible,
            )
        # The entries arrive as JSON texts (see leaderboard_page_documents); only the head is encoded here.
        body = json.dumps(head, cls=DjangoJSONEncoder)[:-1] + ',"results":[' + ",".join(documents) + "]}"
        return HttpResponse(body, content_type="application/json")


class LeaderboardCasesView(APIView):
    """Per-case scores: every entry's for organizers; the user's own team's for a participant when the
    phase shows per-case scores to participants; refused otherwise."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: CaseScoresSerializer,
            403: OpenApiResponse(description=f"{NOT_PUBLISHED} Or per-case scores hidden from the user."),
        }
    )
    def get(self, request: Request, phase_slug: str) -> Response:
        access = _case_scores_access(request, phase_slug)
        entries = selectors.leaderboard_case_entries(access=access, user=request.user)
        rows = selectors.leaderboard_case_rows(entries=entries)
        return Response({"count": len(rows), "results": CaseScoreSerializer(rows, many=True).data})


class SplitQuerySerializer(serializers.Serializer):
    attribute = serializers.CharField(
        required=False, help_text="The case attribute to split by (default: the first offered)."
    )
    metric = serializers.CharField(required=False, help_text="The column's key (default: the first column).")


class SubgroupSerializer(serializers.Serializer):
    subgroup = serializers.CharField()
    cases = serializers.IntegerField()
    mean = serializers.FloatField()
    interval = serializers.ListField(
        child=serializers.FloatField(), help_text="Bootstrap percentile 95% interval of the mean."
    )


class SubgroupTestSerializer(serializers.Serializer):
    test = serializers.ChoiceField(
        choices=["mann-whitney", "kruskal-wallis"],
        allow_null=True,
        help_text="Mann-Whitney U for two subgroups, Kruskal-Wallis H for more; null when none could run.",
    )
    statistic = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    subgroups = serializers.IntegerField()


class SubmissionSubgroupsSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text="Null for an ensemble listed without a rank.")
    team = serializers.CharField()
    submission = serializers.IntegerField()
    is_ensemble = serializers.BooleanField(help_text="An organizer's ensemble of submissions.")
    overall_mean = serializers.FloatField(allow_null=True, help_text="The mean over all its scored cases.")
    subgroups = SubgroupSerializer(many=True)
    test = SubgroupTestSerializer()


class SubgroupSplitSerializer(serializers.Serializer):
    attributes = serializers.DictField(child=serializers.CharField(), help_text="Offered: key -> label.")
    metrics = serializers.DictField(child=serializers.CharField(), help_text="Offered: column key -> label.")
    attribute = serializers.CharField(allow_null=True, help_text="Null when the cases have no attribute.")
    metric = serializers.CharField(allow_null=True)
    cases_without_value = serializers.IntegerField(help_text="Cases in no subgroup: without the attribute.")
    results = SubmissionSubgroupsSerializer(many=True)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class LeaderboardSubgroupsView(APIView):
    """A metric split by a case attribute: per entry, each subgroup's mean with its bootstrap interval and
    the test of a difference between subgroups. Seen where the per-case scores are: every entry for
    organizers, the user's own team's for a participant when the phase shows per-case scores (never in
    a hidden test phase)."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[SplitQuerySerializer],
        responses={
            200: SubgroupSplitSerializer,
            400: OpenApiResponse(description="No such attribute or metric: the sentence names the choices."),
            403: OpenApiResponse(description=f"{NOT_PUBLISHED} Or per-case scores hidden from the user."),
        },
    )
    def get(self, request: Request, phase_slug: str) -> Response:
        query = SplitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        access = _case_scores_access(request, phase_slug)
        choices = subgroups.leaderboard_split_choices(phase=access.phase)
        split = subgroups.leaderboard_subgroup_split(
            access=access,
            user=request.user,
            choices=choices,
            attribute=query.validated_data.get("attribute"),
            metric=query.validated_data.get("metric"),
        )
        return Response(
            {
                "attributes": choices.attributes,
                "metrics": choices.metrics,
                "attribute": None if split is None else split.attribute,
                "metric": None if split is None else split.metric,
                "cases_without_value": 0 if split is None else split.cases_without_value,
                "results": [] if split is None else [_submission_split(row) for row in split.submissions],
            }
        )


def _submission_split(row: subgroups.SubmissionSubgroups) -> dict[str, object]:
    return {
        "rank": row.submission.rank,
        "team": row.submission.name,
        "submission": row.submission.submission_id,
        "is_ensemble": row.submission.is_ensemble,
        "overall_mean": row.overall_mean,
        "subgroups": [
            {
                "subgroup": group.subgroup,
                "cases": group.cases,
                "mean": group.mean,
                "interval": list(group.interval),
            }
            for group in row.subgroups
        ],
        "test": {
            "test": row.test.test,
            "statistic": _finite(row.test.statistic),
            "p_value": _finite(row.test.p_value),
            "subgroups": row.test.subgroups,
        },
    }


class IntervalField(serializers.ListField):
    """A 95% interval as [low, high]; null bounds where it is undefined."""

    child = serializers.FloatField(allow_null=True)


class AgreementSerializer(serializers.Serializer):
    cases = serializers.IntegerField(
        help_text="Cases with a value from both the submission and the reference."
    )
    icc = serializers.FloatField(
        allow_null=True, help_text="ICC(A,1); null under 2 cases or for constant values."
    )
    icc_interval = IntervalField()
    bias = serializers.FloatField(allow_null=True, help_text="Mean of submission minus reference.")
    bias_interval = IntervalField()
    lower_limit = serializers.FloatField(allow_null=True, help_text="Bias - 1.96 sd.")
    lower_limit_interval = IntervalField()
    upper_limit = serializers.FloatField(allow_null=True, help_text="Bias + 1.96 sd.")
    upper_limit_interval = IntervalField()


class CorrelationSerializer(serializers.Serializer):
    rho = serializers.FloatField(
        allow_null=True, help_text="Spearman's rho; null when either side is constant."
    )
    interval = IntervalField(help_text="Bootstrap percentile 95% interval (1000 samples of the cases).")
    p_value = serializers.FloatField(allow_null=True)
    pairs = serializers.IntegerField()


class CorrelationBesideReferenceSerializer(serializers.Serializer):
    correlation = CorrelationSerializer(help_text="The submission's lesion volume with the score.")
    reference = CorrelationSerializer(
        help_text="The reference annotation's volume with it, on the same cases."
    )
    difference = serializers.FloatField(
        allow_null=True, help_text="The submission's rho minus the reference's."
    )
    difference_interval = IntervalField(help_text="Paired bootstrap 95% interval of the difference.")


class CaseBiomarkersSerializer(serializers.Serializer):
    case = serializers.CharField()
    volume_ml = serializers.FloatField()
    lesion_count = serializers.IntegerField(
        allow_null=True, help_text="Null for a result scored before lesion counts were stored."
    )


class ReferenceBiomarkersSerializer(serializers.Serializer):
    cases = CaseBiomarkersSerializer(many=True)
    correlations = serializers.DictField(child=CorrelationSerializer(), help_text="By clinical score label.")


class SubmissionBiomarkersSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text="Null for an ensemble listed without a rank.")
    team = serializers.CharField()
    submission = serializers.IntegerField()
    is_ensemble = serializers.BooleanField()
    cases = CaseBiomarkersSerializer(many=True)
    volume_agreement = AgreementSerializer(help_text="Lesion volume (ml) against the reference's.")
    lesion_count_agreement = AgreementSerializer(help_text="Lesion count against the reference's.")
    correlations = serializers.DictField(
        child=CorrelationBesideReferenceSerializer(), help_text="By clinical score label."
    )


class BiomarkersSerializer(serializers.Serializer):
    clinical_scores = serializers.ListField(
        child=serializers.CharField(),
        help_text="The scores correlated: those the cases carry, outcomes only where the user may see them.",
    )
    reference = ReferenceBiomarkersSerializer()
    results = SubmissionBiomarkersSerializer(many=True)


class LeaderboardBiomarkersView(APIView):
    """Lesion volume and lesion count as biomarkers: per compared submission (the entries, and for
    organizers the unranked ensembles) and for the reference annotation, the per-case values, the
    agreement with the reference (ICC(A,1), Bland-Altman) and the volume's Spearman correlation with each
    clinical score beside the reference's. Seen where the per-case scores are (never by a participant in a
    hidden test phase); correlations with follow-up outcomes where the user may see them."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: BiomarkersSerializer,
            403: OpenApiResponse(description=f"{NOT_PUBLISHED} Or per-case scores hidden from the user."),
        }
    )
    def get(self, request: Request, phase_slug: str) -> Response:
        access = _case_scores_access(
            request,
            phase_slug,
            hidden="Per-case volumes and lesion counts of this phase are not shown to you.",
        )
        result = biomarkers.leaderboard_biomarkers(access=access, user=request.user)
        return Response(
            {
                "clinical_scores": result.clinical_labels,
                "reference": {
                    "cases": [vars(case) for case in result.reference.cases],
                    "correlations": {
                        label: _correlation(correlation)
                        for label, correlation in result.reference.correlations.items()
                    },
                },
                "results": [_submission_biomarkers(row) for row in result.submissions],
            }
        )


def _submission_biomarkers(row: biomarkers.SubmissionBiomarkers) -> dict[str, object]:
    return {
        "rank": row.submission.rank,
        "team": row.submission.name,
        "submission": row.submission.submission_id,
        "is_ensemble": row.submission.is_ensemble,
        "cases": [vars(case) for case in row.cases],
        "volume_agreement": _agreement(row.volume_agreement),
        "lesion_count_agreement": _agreement(row.count_agreement),
        "correlations": {
            label: {
                "correlation": _correlation(beside.correlation),
                "reference": _correlation(beside.reference),
                "difference": _finite(beside.difference.difference),
                "difference_interval": _interval(beside.difference.interval),
            }
            for label, beside in row.correlations.items()
        },
    }


def _interval(bounds: tuple[float, float] | None) -> list[float | None]:
    return [None, None] if bounds is None else [_finite(bound) for bound in bounds]


def _agreement(agreement: Agreement) -> dict[str, object]:
    icc, limits = agreement.icc, agreement.bland_altman
    return {
        "cases": agreement.cases,
        "icc": None if icc is None else _finite(icc.coefficient),
        "icc_interval": _interval(None if icc is None else icc.interval),
        "bias": None if limits is None else _finite(limits.bias),
        "bias_interval": _interval(None if limits is None else limits.bias_interval),
        "lower_limit": None if limits is None else _finite(limits.lower_limit),
        "lower_limit_interval": _interval(None if limits is None else limits.lower_limit_interval),
        "upper_limit": None if limits is None else _finite(limits.upper_limit),
        "upper_limit_interval": _interval(None if limits is None else limits.upper_limit_interval),
    }


def _correlation(correlation: Correlation) -> dict[str, object]:
    return {
        "rho": _finite(correlation.coefficient),
        "interval": _interval(correlation.interval),
        "p_value": _finite(correlation.p_value),
        "pairs": correlation.pairs,
    }


class LeaderboardExportView(APIView):
    """The leaderboard (``leaderboard``), its per-case scores (``cases``), their split by every case
    attribute (``subgroups``) or the clinical biomarkers (``biomarkers``) as ``csv`` or ``json``;
    organizers only."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("table", str, OpenApiParameter.PATH, enum=list(services.EXPORT_TABLES)),
            OpenApiParameter("file_format", str, OpenApiParameter.PATH, enum=["csv", "json"]),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/json"): {"type": "array", "items": {"type": "object"}},
            403: OpenApiResponse(description="Not an organizer of the challenge."),
        },
    )
    def get(self, request: Request, phase_slug: str, table: str, file_format: str) -> HttpResponse:
        try:
            access = selectors.leaderboard_access_get(user=request.user, phase_slug=phase_slug)
        except Phase.DoesNotExist as error:
            raise Http404("No such phase.") from error
        if not access.is_organizer:
            _refuse(request, "Only the challenge's organizers may export its results.")
        if table not in services.EXPORT_TABLES or file_format not in ("csv", "json"):
            raise Http404("No such export.")
        return export_response(
            services.leaderboard_export(phase=access.phase, table=table, file_format=file_format)  # type: ignore[arg-type]  # checked above
        )


class EnsembleCreateSerializer(serializers.Serializer):
    members = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX),
        required=False,
        help_text="Ids of succeeded algorithm submissions of the phase, in order.",
    )
    top = serializers.IntegerField(
        min_value=1,
        max_value=ensembles.MAX_MEMBERS,
        required=False,
        help_text="Instead of members: the N best-ranked algorithm submissions on the phase's leaderboard.",
    )
    rule = serializers.CharField(
        default=Ensemble.Rule.MAJORITY_VOTE, help_text=f"One of {', '.join(Ensemble.Rule.values)}."
    )

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if ("members" in attrs) == ("top" in attrs):
            raise serializers.ValidationError(
                "Name the members, or ask for the top N of the leaderboard, not both nor neither.",
                code="members_or_top",
            )
        return attrs


class EnsembleCaseSerializer(serializers.Serializer):
    case = serializers.CharField(source="case.name")
    members_without_output = serializers.ListField(child=serializers.IntegerField())
    notes = serializers.ListField(child=serializers.CharField())


class BestMemberTestSerializer(serializers.Serializer):
    metric = serializers.CharField()
    best_member = serializers.IntegerField()
    cases = serializers.IntegerField()
    statistic = serializers.FloatField()
    p_value = serializers.FloatField()
    better = serializers.ChoiceField(choices=["ensemble", "best member", "neither"])


class EnsembleSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    submission = serializers.IntegerField(source="submission_id")
    phase = serializers.CharField(source="submission.phase.slug")
    rule = serializers.CharField()
    members = serializers.SerializerMethodField()
    is_ranked = serializers.BooleanField()
    build_status = serializers.CharField()
    status = serializers.CharField(source="submission.status")
    error = serializers.SerializerMethodField()
    metrics_mean = serializers.DictField(source="submission.metrics_mean", child=serializers.FloatField())
    cases = serializers.SerializerMethodField()
    best_member_test = serializers.SerializerMethodField()

    def get_members(self, ensemble: Ensemble) -> list[int]:
        return ensembles.ensemble_member_ids(ensemble=ensemble)

    def get_error(self, ensemble: Ensemble) -> str:
        return ensemble.error or ensemble.submission.error

    @extend_schema_field(EnsembleCaseSerializer(many=True))
    def get_cases(self, ensemble: Ensemble) -> object:
        return EnsembleCaseSerializer(ensemble.masks.select_related("case"), many=True).data

    @extend_schema_field(BestMemberTestSerializer(allow_null=True))
    def get_best_member_test(self, ensemble: Ensemble) -> object:
        comparison = ensembles.ensemble_comparison(ensemble=ensemble)
        if comparison.test is None:
            return None
        return BestMemberTestSerializer({"metric": comparison.metric_key, **vars(comparison.test)}).data


ORGANIZERS_ONLY = "Only the challenge's organizers build and read ensembles of its submissions."


class PhaseEnsemblesView(APIView):
    """The phase's ensembles of submissions (GET) and a new one (POST): organizers of the challenge only.
    The new ensemble's masks are built and scored in the background; poll it for its status."""

    permission_classes = [AllowAny]

    def _organizer_access(self, request: Request, phase_slug: str) -> LeaderboardAccess:
        access = _access(request, phase_slug)
        if not access.is_organizer:
            _refuse(request, ORGANIZERS_ONLY)
        return access

    @extend_schema(
        responses={200: EnsembleSerializer(many=True), 403: OpenApiResponse(description=ORGANIZERS_ONLY)}
    )
    def get(self, request: Request, phase_slug: str) -> Response:
        access = self._organizer_access(request, phase_slug)
        return Response(EnsembleSerializer(ensembles.ensemble_list(phase=access.phase), many=True).data)

    @extend_schema(
        request=EnsembleCreateSerializer,
        responses={
            201: EnsembleSerializer,
            400: OpenApiResponse(description="The members or the rule cannot make an ensemble (a sentence)."),
            403: OpenApiResponse(description=ORGANIZERS_ONLY),
        },
    )
    def post(self, request: Request, phase_slug: str) -> Response:
        access = self._organizer_access(request, phase_slug)
        choice = EnsembleCreateSerializer(data=request.data)
        choice.is_valid(raise_exception=True)
        members = choice.validated_data.get("members")
        if members is None:
            members = ensembles.ensemble_top_members(phase=access.phase, count=choice.validated_data["top"])
        ensemble = ensembles.ensemble_create(
            phase=access.phase, user=request.user, members=members, rule=choice.validated_data["rule"]
        )
        return Response(EnsembleSerializer(ensemble).data, status=201)


class EnsembleView(APIView):
    """One ensemble: members, rule, build and scoring status, the members without an output per case, and
    the paired test against its best member on the leaderboard's first column (organizers only)."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: EnsembleSerializer})
    def get(self, request: Request, ensemble_id: int) -> Response:
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        try:
            ensemble = ensembles.ensemble_get_for_organizer(user=request.user, ensemble_id=ensemble_id)
        except Ensemble.DoesNotExist as error:
            raise Http404("No such ensemble.") from error
        return Response(EnsembleSerializer(ensemble).data)
