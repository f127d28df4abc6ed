"""Algorithm uploads become ``portal.uploads.ChunkedUpload`` rows: stored as parts until whole.

An upload in flight keeps what arrived: its partial file becomes its first part. A completed upload's
file is its submission's, and its sha256 is the submission's.
"""

from django.db import migrations, models


def uploads_to_parts(apps: object, schema_editor: object) -> None:
    from portal.storage import private_storage

    upload_model = apps.get_model("algorithms", "AlgorithmUpload")
    storage = private_storage()
    for upload in upload_model.objects.select_related("submission"):
        if upload.submission is not None:
            upload.sha256 = upload.submission.sha256
            upload.save(update_fields=["sha256"])
        elif upload.received_bytes > 0 and storage.exists(upload.file_name):
            with storage.open(upload.file_name, "rb") as partial:
                part = storage.save(f"{upload.file_name}.part-{0:015d}", partial)
            storage.delete(upload.file_name)
            upload.part_names = [part]
            upload.save(update_fields=["part_names"])


class Migration(migrations.Migration):
    dependencies = [
        ("algorithms", "0002_step_claims"),
    ]

    operations = [
        migrations.AddField(
            model_name="algorithmupload",
            name="part_names",
            field=models.JSONField(
                db_default=models.Value([], output_field=models.JSONField()),
                blank=True,
                default=list,
                help_text="The stored parts holding the bytes received so far, in order (joined once whole).",
            ),
        ),
        migrations.AddField(
            model_name="algorithmupload",
            name="sha256",
            field=models.CharField(
                db_default="", blank=True, help_text="Of the whole file, once it arrived.", max_length=64
            ),
        ),
        migrations.AlterField(
            model_name="algorithmupload",
            name="file_name",
            field=models.CharField(
                help_text="Name of the whole file in private storage, once every chunk arrived.",
                max_length=255,
            ),
        ),
        migrations.RunPython(uploads_to_parts, migrations.RunPython.noop),
    ]
