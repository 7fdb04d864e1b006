# Models whose tables are partitioned (declarative partitioning), as
# django-postgres-extra's PostgresPartitionedModel or a hand-written
# migration creates them: Django sees ordinary table names, the tables are
# made by migrations/0001_initial.py.
from django.db import models


class PAuthor(models.Model):
    """parted_pauthor: by HASH (id), four partitions."""
    name = models.CharField(max_length=255)
    email = models.EmailField()


class PCategory(models.Model):
    """parted_pcategory: by LIST (id), with a default partition."""
    name = models.CharField(max_length=100)


class PBook(models.Model):
    """parted_pbook: by RANGE (id), one range sub-partitioned by HASH (id).
    The link table parted_pbook_categories is partitioned by RANGE (pbook_id)."""
    title = models.CharField(max_length=255)
    author = models.ForeignKey(PAuthor, on_delete=models.CASCADE, related_name="books")
    translator = models.ForeignKey(PAuthor, on_delete=models.CASCADE, null=True,
                                   related_name="translations")
    categories = models.ManyToManyField(PCategory, related_name="books")


class PReview(models.Model):
    """parted_preview: an ordinary table referencing the partitioned books."""
    book = models.ForeignKey(PBook, on_delete=models.CASCADE, related_name="reviews")
    rating = models.IntegerField()
