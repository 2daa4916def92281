"""Source bases as plain JSON text, stored uncompressed on PostgreSQL (see SourceBase)."""

from __future__ import annotations

from django.db import migrations, models


def uncompressed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE partners_sourcebase ALTER COLUMN stated SET STORAGE EXTERNAL"
        )


class Migration(migrations.Migration):
    dependencies = [("partners", "0011_list_counts")]

    operations = [
        migrations.AlterField(
            model_name="sourcebase", name="stated", field=models.TextField(default="{}")
        ),
        migrations.RunPython(uncompressed, migrations.RunPython.noop),
    ]
