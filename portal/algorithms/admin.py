"""Admin of the algorithms app: organizers set a phase's sandbox and watch images and jobs; administrators
watch and revoke remote workers."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from portal.algorithms.models import AlgorithmImage, AlgorithmSettings, AlgorithmUpload, Job, RemoteWorker


@admin.register(AlgorithmSettings)
class AlgorithmSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "phase",
        "interface_set",
        "time_limit_s",
        "memory_gb",
        "cpus",
        "logs_visible_to_participants",
    ]


@admin.register(AlgorithmUpload)
class AlgorithmUploadAdmin(admin.ModelAdmin):
    list_display = ["id", "phase", "user", "received_bytes", "total_bytes", "submission", "created_at"]
    readonly_fields = ["file_name", "received_bytes", "submission"]


@admin.register(AlgorithmImage)
class AlgorithmImageAdmin(admin.ModelAdmin):
    list_display = ["submission", "phase", "status", "image_id", "user", "size_bytes"]
    list_filter = ["status"]
    readonly_fields = ["sha256", "size_bytes", "image_id", "user", "entrypoint", "problems"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "submission",
        "case",
        "is_sanity",
        "status",
        "attempt",
        "exit_code",
        "duration_s",
        "had_gpu",
    ]
    list_filter = ["status", "is_sanity", "had_gpu"]
    readonly_fields = ["stdout_tail", "stderr_tail", "failure", "segmentation"]


@admin.register(RemoteWorker)
class RemoteWorkerAdmin(admin.ModelAdmin):
    """The GPU hosts that run jobs through the worker API: when each was last heard from, and revoking one.
    A worker is added with ``manage.py remote_worker add NAME``, which shows its key once."""

    list_display = ["name", "created_at", "last_seen_at", "revoked_at"]
    fields = ["name", "created_at", "last_seen_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected workers' keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[RemoteWorker]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} worker key(s) revoked; they open nothing from now on.")
