"""Record where the release holds each image and mask, so downloads keep the release's names.

Rows imported before are filled from the ISLES'24 layout where the path can be known from the case and
the interface alone: each image slot has one path. A mask's path cannot (the 2024 release and later ones
name it differently), so masks keep an empty path and are downloaded under the portal's names until the
release is imported again. The layout is written out here, not imported from the release table, so the
migration means the same thing whatever the table says later.
"""

from django.db import migrations, models

RAW = "raw_data/{case}/ses-01"
DERIVED = "derivatives/{case}"
IMAGE_PATHS = {
    "non-contrast-ct": f"{RAW}/{{case}}_ses-01_ncct.nii.gz",
    "ct-angiography": f"{RAW}/{{case}}_ses-01_cta.nii.gz",
    "perfusion-ct": f"{RAW}/{{case}}_ses-01_ctp.nii.gz",
    "tmax-parameter-map": f"{RAW}/perfusion-maps/{{case}}_ses-01_tmax.nii.gz",
    "mtt-parameter-map": f"{RAW}/perfusion-maps/{{case}}_ses-01_mtt.nii.gz",
    "cbf-parameter-map": f"{RAW}/perfusion-maps/{{case}}_ses-01_cbf.nii.gz",
    "cbv-parameter-map": f"{RAW}/perfusion-maps/{{case}}_ses-01_cbv.nii.gz",
    "preprocessed-CT-angiography": f"{DERIVED}/ses-01/{{case}}_ses-01_space-ncct_cta.nii.gz",
    "preprocessed-perfusion-ct": f"{DERIVED}/ses-01/{{case}}_ses-01_space-ncct_ctp.nii.gz",
    "preprocessed-tmax-map": f"{DERIVED}/ses-01/perfusion-maps/{{case}}_ses-01_space-ncct_tmax.nii.gz",
    "preprocessed-mtt-map": f"{DERIVED}/ses-01/perfusion-maps/{{case}}_ses-01_space-ncct_mtt.nii.gz",
    "preprocessed-cbf-map": f"{DERIVED}/ses-01/perfusion-maps/{{case}}_ses-01_space-ncct_cbf.nii.gz",
    "preprocessed-cbv-map": f"{DERIVED}/ses-01/perfusion-maps/{{case}}_ses-01_space-ncct_cbv.nii.gz",
    "follow-up-dwi": f"{DERIVED}/ses-02/{{case}}_ses-02_space-ncct_dwi.nii.gz",
    "follow-up-adc": f"{DERIVED}/ses-02/{{case}}_ses-02_space-ncct_adc.nii.gz",
}


def image_paths_fill(apps, schema_editor):
    Image = apps.get_model("datasets", "Image")
    changed = []
    for image in Image.objects.filter(release_path="").select_related("case"):
        template = IMAGE_PATHS.get(image.interface)
        if template is not None:
            image.release_path = template.format(case=image.case.name)
            changed.append(image)
    Image.objects.bulk_update(changed, ["release_path"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("datasets", "0005_contract_slugs")]

    operations = [
        migrations.AddField(
            model_name="groundtruth",
            name="release_path",
            field=models.CharField(
                blank=True,
                help_text=(
                    "Where the release holds the case's mask, relative to its root (derivatives/...): the "
                    "name it is downloaded under (as stored: binarised, uint8). Empty when not known."
                ),
                max_length=255,
                default="",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="image",
            name="release_path",
            field=models.CharField(
                blank=True,
                help_text=(
                    "Where the release holds this file, relative to its root (raw_data/sub-stroke0001/...): "
                    "the name it is downloaded under. Empty for rows imported before it was recorded."
                ),
                max_length=255,
                default="",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(image_paths_fill, migrations.RunPython.noop),
    ]
