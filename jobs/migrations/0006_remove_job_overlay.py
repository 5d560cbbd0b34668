"""The jobs app knows no overlay: the foreign key goes (0005 copied it into the subject), and
operations are no fixed list any more (jobs.registry holds them)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    # Its own migration (and transaction): PostgreSQL refuses to alter a table with deferred
    # foreign-key checks pending from the rows 0005 updated.
    dependencies = [
        ("jobs", "0005_job_subject_data"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="job", name="jobs_job_overlay_446bd4_idx"),
        migrations.RemoveField(model_name="job", name="overlay"),
        migrations.AlterField(
            model_name="job",
            name="operation",
            field=models.CharField(max_length=40),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                fields=["subject_type", "subject_id", "operation", "state"],
                name="jobs_job_subject_389f53_idx",
            ),
        ),
    ]
