"""Leaderboards of a phase: how it ranks and publishes, its columns, and the ranks last computed.

Ranks are computed by ``services.leaderboard_rebuild`` when a result arrives and stored here; pages and
the API only read them. ``LeaderboardSettings`` and the columns are created on demand with the defaults
of the phase's metric profile. An ``Ensemble`` of a phase's algorithm submissions is scored as a
submission of its own and shown on the board marked as one.
"""

from django.conf import settings
from django.db import models

from portal.challenges.models import Phase
from portal.steps.models import ClaimedStep
from portal.storage import private_storage


class LeaderboardSettings(models.Model):
    """How a phase's leaderboard ranks, which submission of a team counts, and who may see what."""

    class RankingMethod(models.TextChoices):
        RANK_THEN_AGGREGATE = "rank_then_aggregate", "Rank then aggregate (mean rank over cases)"
        AGGREGATE_THEN_RANK = "aggregate_then_rank", "Aggregate then rank (rank of the means)"

    class Publication(models.TextChoices):
        AUTOMATIC = "AUTOMATIC", "Automatic: as soon as results arrive"
        MANUAL = "MANUAL", "Manual: when an organizer publishes it"
        AFTER_CLOSE = "AFTER_CLOSE", "After the phase closes"

    class CountedSubmission(models.TextChoices):
        LATEST = "LATEST", "The latest scored submission"
        BEST = "BEST", "The best-ranked submission"
        SELECTED = "SELECTED", "The submission the team selected as final (else the latest)"

    phase = models.OneToOneField(Phase, on_delete=models.CASCADE, related_name="leaderboard_settings")
    ranking_method = models.CharField(
        max_length=32, choices=RankingMethod.choices, default=RankingMethod.RANK_THEN_AGGREGATE
    )
    publication = models.CharField(max_length=16, choices=Publication.choices, default=Publication.AUTOMATIC)
    is_published = models.BooleanField(
        default=False, help_text="With manual publication: whether participants and the public see it."
    )
    show_case_scores_to_participants = models.BooleanField(
        default=False,
        help_text="Participants see their own team's per-case scores. Leave off for hidden test phases.",
    )
    counted_submission = models.CharField(
        max_length=16, choices=CountedSubmission.choices, default=CountedSubmission.LATEST
    )
    publish_outcome_correlations = models.BooleanField(
        default=False,
        help_text=(
            "Everyone who sees the leaderboard sees the correlations of predicted volumes with follow-up "
            "outcomes (e.g. 90-day mRS). Off: organizers only, since the outcomes of hidden cases are ground "
            "truth."
        ),
    )

    class Meta:
        verbose_name_plural = "leaderboard settings"

    def __str__(self) -> str:
        return f"Leaderboard settings of {self.phase}"


class LeaderboardColumn(models.Model):
    """A metric shown on a phase's leaderboard, its direction, and whether it enters the ranking."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="leaderboard_columns")
    metric_key = models.CharField(max_length=64, help_text="The key in the per-case results, e.g. dice.")
    label = models.CharField(max_length=100)
    higher_is_better = models.BooleanField()
    in_ranking = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["phase", "order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["phase", "metric_key"], name="one_column_per_metric"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({'higher' if self.higher_is_better else 'lower'} is better)"


class LeaderboardEntry(models.Model):
    """One ranked row: the submission that counts for a team (or a participant without a team)."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="leaderboard_entries")
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The participant, when they take part without a team.",
    )
    submission = models.ForeignKey("submissions.Submission", on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField(help_text="1 is best; tied entries share the smallest rank.")
    score = models.FloatField(help_text="The ranking score: a mean rank, lower is better.")
    metrics = models.JSONField(help_text="Per column: {'mean': ..., 'sd': ...} over the phase's cases.")
    median_rank = models.FloatField(
        null=True, blank=True, help_text="Median rank over the bootstrap samples; empty until computed."
    )
    rank_interval = models.JSONField(
        null=True, blank=True, help_text="Central 95% interval of the bootstrap ranks: [low, high]."
    )
    rank_counts = models.JSONField(
        default=dict, blank=True, help_text="Bootstrap samples per rank, {rank: count}, nonzero only."
    )
    clinical_correlations = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Spearman of predicted volume with each clinical score known at admission: "
            "{score: {rho, low, high, pairs}}."
        ),
    )
    outcome_correlations = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Spearman of predicted volume with each follow-up outcome, as clinical_correlations; shown only "
            "where the leaderboard's settings allow."
        ),
    )
    api_document = models.TextField(
        blank=True,
        help_text="The entry as the API gives it (JSON without the team's name), written by the rebuild.",
    )
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["phase", "rank", "submission"]
        constraints = [
            models.UniqueConstraint(fields=["phase", "submission"], name="one_entry_per_submission"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} in {self.phase_id}: submission {self.submission_id}"


class RankStability(models.Model):
    """How far to trust a phase's ranking: the bootstrap summary and pairwise tests of its last rebuild."""

    phase = models.OneToOneField(Phase, on_delete=models.CASCADE, related_name="rank_stability")
    method = models.CharField(max_length=32, choices=LeaderboardSettings.RankingMethod.choices)
    columns = models.JSONField(help_text="The columns the ranking used: [{key, label, higher_is_better}].")
    summary = models.JSONField(
        help_text="Samples, seed, Kendall's tau median and quartiles, and the pairwise tests per metric."
    )
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "rank stabilities"

    def __str__(self) -> str:
        return f"Rank stability of {self.phase}"


def _ensemble_mask_path(instance: "EnsembleMask", filename: str) -> str:
    return f"ensembles/{instance.ensemble_id}/{filename}"


class Ensemble(ClaimedStep):
    """An organizer's ensemble of a phase's algorithm submissions: the members' stored outputs fused case
    by case with one rule, scored like any submission (its ``submission``, of kind ENSEMBLE, owned by the
    organizer). Building its masks is a background step (``portal.leaderboards.ensembles.EnsembleBuild``)
    whose state is ``build_status``; the submission's own status says where its scoring is. An ensemble
    validated in one step waits (WAITING) until the re-runs of its members have ended."""

    class Rule(models.TextChoices):
        MAJORITY_VOTE = "majority_vote", "Majority vote (lesion where more than half of the members say so)"
        STAPLE = "staple", "STAPLE (Warfield et al. 2004: members weighted by their estimated accuracy)"

    class BuildStatus(models.TextChoices):
        WAITING = "WAITING", "Waiting for its members to end"
        QUEUED = "QUEUED", "Queued"
        RUNNING = "RUNNING", "Building"
        SUCCEEDED = "SUCCEEDED", "Built"
        FAILED = "FAILED", "Failed"

    submission = models.OneToOneField(
        "submissions.Submission", on_delete=models.CASCADE, related_name="ensemble"
    )
    rule = models.CharField(max_length=32, choices=Rule.choices, default=Rule.MAJORITY_VOTE)
    members = models.ManyToManyField(
        "submissions.Submission", through="EnsembleMember", related_name="ensembles_joined"
    )
    is_ranked = models.BooleanField(
        default=False,
        help_text=(
            "Ranked on the leaderboard like a team's submission; off (the default), it is listed beside the "
            "ranking, marked as an ensemble, without a rank."
        ),
    )
    build_status = models.CharField(max_length=16, choices=BuildStatus.choices, default=BuildStatus.QUEUED)
    built_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why building its masks failed, in a sentence.")

    def __str__(self) -> str:
        return f"ensemble {self.pk} ({self.get_rule_display().split(' (')[0].lower()})"


class EnsembleMember(models.Model):
    """One member submission of an ensemble, in the order the organizer gave."""

    ensemble = models.ForeignKey(Ensemble, on_delete=models.CASCADE, related_name="memberships")
    submission = models.ForeignKey(
        "submissions.Submission", on_delete=models.PROTECT, related_name="ensemble_memberships"
    )
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["ensemble", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ensemble", "submission"], name="one_membership_per_submission"),
        ]

    def __str__(self) -> str:
        return f"submission {self.submission_id} in ensemble {self.ensemble_id}"


class EnsembleMask(models.Model):
    """The ensemble's mask of one case, fused from its members' outputs, and the members that had none
    there (each counted as an empty mask)."""

    ensemble = models.ForeignKey(Ensemble, on_delete=models.CASCADE, related_name="masks")
    case = models.ForeignKey("datasets.Case", on_delete=models.PROTECT, related_name="+")
    file = models.FileField(storage=private_storage, upload_to=_ensemble_mask_path, max_length=255)
    members_without_output = models.JSONField(
        default=list,
        blank=True,
        help_text="Ids of the member submissions with no usable output for the case, counted as empty masks.",
    )
    notes = models.JSONField(
        default=list, blank=True, help_text="Why a member's output was not used, one sentence each."
    )

    class Meta:
        ordering = ["ensemble", "case__name"]
        constraints = [
            models.UniqueConstraint(fields=["ensemble", "case"], name="one_mask_per_ensemble_and_case"),
        ]

    def __str__(self) -> str:
        return f"{self.case} of ensemble {self.ensemble_id}"
