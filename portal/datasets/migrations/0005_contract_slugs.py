"""Store the raw perfusion maps under the official ISLES'24 contract's slugs.

The importer stored the raw Tmax, CBF, CBV and MTT maps as ``tmax-map``, ``cbf-map``, ``cbv-map`` and
``mtt-map``; containers written from the official ISLES'24 template read
``/input/images/tmax-parameter-map/`` and the like, so the portal now names them as the contract does.
Stored files keep their paths: only the interface slug of each image changes. The slugs are written out
here, not imported from the release table, so the migration means the same thing whatever the table
says later.
"""

from django.db import migrations

RENAMED = {
    "tmax-map": "tmax-parameter-map",
    "cbf-map": "cbf-parameter-map",
    "cbv-map": "cbv-parameter-map",
    "mtt-map": "mtt-parameter-map",
}


def _rename(apps, renames):
    Image = apps.get_model("datasets", "Image")
    for old, new in renames.items():
        Image.objects.filter(interface=old).update(interface=new)


def to_contract_slugs(apps, schema_editor):
    _rename(apps, RENAMED)


def to_release_slugs(apps, schema_editor):
    _rename(apps, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [("datasets", "0004_step_claims")]

    operations = [migrations.RunPython(to_contract_slugs, to_release_slugs)]
