"""Admin of the algorithms app: organizers set a phase's sandbox and watch images and jobs."""

from django.contrib import admin

from portal.algorithms.models import AlgorithmImage, AlgorithmSettings, AlgorithmUpload, Job


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
