"""What a row needs so that the step engine can run its background steps: the claim of the step it is in.

A model whose rows go through background steps (a submission's check and evaluation, an algorithm's job,
a dataset import) inherits ``ClaimedStep``. The row's own status says which step it is in; these fields
say who is working on that step and whether they are still alive. See ``portal.steps.services``.
"""

from django.db import models


class ClaimedStep(models.Model):
    """The claim on a row's current step: how many times a worker took it, which worker holds it now, and
    its last sign of life."""

    attempt = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a worker claimed the current step."
    )
    claimed_by = models.CharField(
        max_length=200,
        blank=True,
        help_text="The claim on the current step (worker host, process and a token); empty while it waits.",
    )
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "The last sign of life of the worker holding the current step, or when the sweeper queued it "
            "again; empty for a step never claimed."
        ),
    )

    class Meta:
        abstract = True
