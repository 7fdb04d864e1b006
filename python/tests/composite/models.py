# Models with composite keys (Django 5.2's CompositePrimaryKey), as a
# multi-tenant schema has them: authors and books keyed by (tenant, id),
# books pointing at their author and translator by composite foreign keys
# (ForeignObject, with the FOREIGN KEY constraints the migration adds), at
# their publisher by an ordinary foreign key, and reviews (keyed by id) at
# their book by a composite one.  Installed only on Django 5.2 and later.
from django.db import models


class Tenant(models.Model):
    name = models.CharField(max_length=50)


class CPublisher(models.Model):
    name = models.CharField(max_length=100)


class CAuthor(models.Model):
    pk = models.CompositePrimaryKey("tenant_id", "id")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="authors")
    id = models.IntegerField()
    name = models.CharField(max_length=100)


class CBook(models.Model):
    pk = models.CompositePrimaryKey("tenant_id", "id")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="books")
    id = models.IntegerField()
    title = models.CharField(max_length=100)
    author_id = models.IntegerField()
    author = models.ForeignObject(CAuthor, on_delete=models.CASCADE,
                                  from_fields=["tenant", "author_id"], to_fields=["tenant", "id"],
                                  related_name="books")
    translator_id = models.IntegerField(null=True)
    translator = models.ForeignObject(CAuthor, on_delete=models.DO_NOTHING, null=True,
                                      from_fields=["tenant", "translator_id"],
                                      to_fields=["tenant", "id"], related_name="translations")
    publisher = models.ForeignKey(CPublisher, on_delete=models.CASCADE, related_name="books")


class CReview(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="reviews")
    book_id = models.IntegerField()
    book = models.ForeignObject(CBook, on_delete=models.CASCADE,
                                from_fields=["tenant", "book_id"], to_fields=["tenant", "id"],
                                related_name="reviews")
    rating = models.IntegerField()


class CLoose(models.Model):
    """A composite ForeignObject without a FOREIGN KEY constraint."""
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    author_id = models.IntegerField()
    author = models.ForeignObject(CAuthor, on_delete=models.DO_NOTHING,
                                  from_fields=["tenant", "author_id"], to_fields=["tenant", "id"],
                                  related_name="+")
