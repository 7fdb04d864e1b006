"""Models for what the seed's models do not exercise: primary keys not named
id (text, integer, UUID), db_column, to_field, one-to-one, multi-table
inheritance, a default manager that filters, a model with Meta.ordering, and
reverse relations to them (a reverse foreign key to a model with both)."""
import uuid

from django.db import models


class ActiveManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(active=True)


class Shelf(models.Model):
    code = models.CharField(primary_key=True, max_length=10)
    label = models.CharField(max_length=50)


class Writer(models.Model):
    writer_no = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=50, db_column="writer_name")
    handle = models.CharField(max_length=20, unique=True)
    active = models.BooleanField(default=True)

    objects = ActiveManager()
    all_objects = models.Manager()

    class Meta:
        base_manager_name = "all_objects"


class Tag(models.Model):
    tag_id = models.BigAutoField(primary_key=True)
    word = models.CharField(max_length=30)

    class Meta:
        ordering = ["word"]


class Volume(models.Model):
    number = models.AutoField(primary_key=True)
    title = models.CharField(max_length=50)
    shelf = models.ForeignKey(Shelf, models.CASCADE, null=True, db_column="shelf_code",
                              related_name="volumes")
    writer = models.ForeignKey(Writer, models.CASCADE, to_field="handle", null=True,
                               db_column="writer_handle", related_name="volumes")
    editor = models.ForeignKey(Writer, models.CASCADE, null=True, related_name="edited")
    tags = models.ManyToManyField(Tag, related_name="volumes")


class SpecialVolume(Volume):
    edition = models.CharField(max_length=20)


class VolumeDetail(models.Model):
    volume = models.OneToOneField(Volume, models.CASCADE, primary_key=True,
                                  related_name="detail")
    pages = models.IntegerField()


class Parcel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    shelf = models.ForeignKey(Shelf, models.CASCADE, related_name="parcels")
    special = models.ForeignKey(SpecialVolume, models.CASCADE, null=True,
                                related_name="parcels")
    tags = models.ManyToManyField(Tag, related_name="parcels")


class Note(models.Model):
    detail = models.ForeignKey(VolumeDetail, models.CASCADE, related_name="notes")
    text = models.CharField(max_length=50)


class Chapter(models.Model):
    """A reverse foreign key (volume.chapter_set) to a model with
    Meta.ordering and a default manager that filters."""
    volume = models.ForeignKey(Volume, models.CASCADE)
    number = models.IntegerField()
    active = models.BooleanField(default=True)

    objects = ActiveManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["-number"]
        base_manager_name = "all_objects"
