# The tables of tests.composite as Django 5.2 creates them, and the FOREIGN
# KEY constraints of their composite foreign keys (ForeignObject makes none),
# which the server follows, and the indexes on their columns, through which
# reverse_fk() finds the rows of each source.
import django.db.models.deletion
from django.db import migrations, models

FOREIGN_KEYS = """
ALTER TABLE composite_cbook ADD CONSTRAINT composite_cbook_author_fk
    FOREIGN KEY (tenant_id, author_id) REFERENCES composite_cauthor (tenant_id, id)
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE composite_cbook ADD CONSTRAINT composite_cbook_translator_fk
    FOREIGN KEY (tenant_id, translator_id) REFERENCES composite_cauthor (tenant_id, id)
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE composite_creview ADD CONSTRAINT composite_creview_book_fk
    FOREIGN KEY (tenant_id, book_id) REFERENCES composite_cbook (tenant_id, id)
    DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX composite_cbook_author_idx ON composite_cbook (tenant_id, author_id);
CREATE INDEX composite_cbook_translator_idx ON composite_cbook (tenant_id, translator_id);
CREATE INDEX composite_creview_book_idx ON composite_creview (tenant_id, book_id);
"""

DROP_FOREIGN_KEYS = """
DROP INDEX composite_creview_book_idx, composite_cbook_translator_idx, composite_cbook_author_idx;
ALTER TABLE composite_creview DROP CONSTRAINT composite_creview_book_fk;
ALTER TABLE composite_cbook DROP CONSTRAINT composite_cbook_translator_fk;
ALTER TABLE composite_cbook DROP CONSTRAINT composite_cbook_author_fk;
"""


def _id():
    return models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                               verbose_name="ID")


def _pk():
    return models.CompositePrimaryKey("tenant_id", "id", blank=True, editable=False,
                                      primary_key=True, serialize=False)


def _tenant(related_name):
    return models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                             related_name=related_name, to="composite.tenant")


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Tenant",
            fields=[("id", _id()), ("name", models.CharField(max_length=50))],
        ),
        migrations.CreateModel(
            name="CPublisher",
            fields=[("id", _id()), ("name", models.CharField(max_length=100))],
        ),
        migrations.CreateModel(
            name="CAuthor",
            fields=[
                ("pk", _pk()),
                ("tenant", _tenant("authors")),
                ("id", models.IntegerField()),
                ("name", models.CharField(max_length=100)),
            ],
        ),
        migrations.CreateModel(
            name="CBook",
            fields=[
                ("pk", _pk()),
                ("tenant", _tenant("books")),
                ("id", models.IntegerField()),
                ("title", models.CharField(max_length=100)),
                ("author_id", models.IntegerField()),
                ("translator_id", models.IntegerField(null=True)),
                ("author", models.ForeignObject(
                    from_fields=["tenant", "author_id"],
                    on_delete=django.db.models.deletion.CASCADE, related_name="books",
                    to="composite.cauthor", to_fields=["tenant", "id"])),
                ("translator", models.ForeignObject(
                    from_fields=["tenant", "translator_id"], null=True,
                    on_delete=django.db.models.deletion.DO_NOTHING,
                    related_name="translations", to="composite.cauthor",
                    to_fields=["tenant", "id"])),
                ("publisher", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="books",
                    to="composite.cpublisher")),
            ],
        ),
        migrations.CreateModel(
            name="CReview",
            fields=[
                ("id", _id()),
                ("tenant", _tenant("reviews")),
                ("book_id", models.IntegerField()),
                ("rating", models.IntegerField()),
                ("book", models.ForeignObject(
                    from_fields=["tenant", "book_id"],
                    on_delete=django.db.models.deletion.CASCADE, related_name="reviews",
                    to="composite.cbook", to_fields=["tenant", "id"])),
            ],
        ),
        migrations.CreateModel(
            name="CLoose",
            fields=[
                ("id", _id()),
                ("tenant", _tenant("+")),
                ("author_id", models.IntegerField()),
                ("author", models.ForeignObject(
                    from_fields=["tenant", "author_id"],
                    on_delete=django.db.models.deletion.DO_NOTHING, related_name="+",
                    to="composite.cauthor", to_fields=["tenant", "id"])),
            ],
        ),
        migrations.RunSQL(FOREIGN_KEYS, DROP_FOREIGN_KEYS),
    ]
