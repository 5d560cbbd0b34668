from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0009_job_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="waiting_for",
            field=models.CharField(blank=True, max_length=500),
        ),
    ]
