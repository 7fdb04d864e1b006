# The tables of tests.parted, partitioned, created by hand with the columns,
# keys, foreign keys and indexes Django would create for the models (a
# partitioned table's primary key and unique constraints hold its partition
# key: the link table's primary key is (id, pbook_id)).
import django.db.models.deletion
from django.db import migrations, models

DDL = """
CREATE TABLE parted_pauthor (
    id bigserial NOT NULL, name varchar(255) NOT NULL, email varchar(254) NOT NULL,
    PRIMARY KEY (id)) PARTITION BY HASH (id);
CREATE TABLE parted_pauthor_0 PARTITION OF parted_pauthor FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE parted_pauthor_1 PARTITION OF parted_pauthor FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE parted_pauthor_2 PARTITION OF parted_pauthor FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE parted_pauthor_3 PARTITION OF parted_pauthor FOR VALUES WITH (MODULUS 4, REMAINDER 3);

CREATE TABLE parted_pcategory (
    id bigserial NOT NULL, name varchar(100) NOT NULL,
    PRIMARY KEY (id)) PARTITION BY LIST (id);
CREATE TABLE parted_pcategory_low PARTITION OF parted_pcategory FOR VALUES IN (0, 1, 2, 3);
CREATE TABLE parted_pcategory_rest PARTITION OF parted_pcategory DEFAULT;

CREATE TABLE parted_pbook (
    id bigserial NOT NULL, title varchar(255) NOT NULL,
    author_id bigint NOT NULL, translator_id bigint NULL,
    PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE parted_pbook_low PARTITION OF parted_pbook FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE parted_pbook_mid PARTITION OF parted_pbook FOR VALUES FROM (100) TO (200)
    PARTITION BY HASH (id);
CREATE TABLE parted_pbook_mid_0 PARTITION OF parted_pbook_mid FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE parted_pbook_mid_1 PARTITION OF parted_pbook_mid FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE parted_pbook_high PARTITION OF parted_pbook FOR VALUES FROM (200) TO (1000);
CREATE TABLE parted_pbook_rest PARTITION OF parted_pbook DEFAULT;
ALTER TABLE parted_pbook ADD CONSTRAINT parted_pbook_author_id_fk FOREIGN KEY (author_id)
    REFERENCES parted_pauthor (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE parted_pbook ADD CONSTRAINT parted_pbook_translator_id_fk FOREIGN KEY (translator_id)
    REFERENCES parted_pauthor (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX parted_pbook_author_id ON parted_pbook (author_id);
CREATE INDEX parted_pbook_translator_id ON parted_pbook (translator_id);

CREATE TABLE parted_pbook_categories (
    id bigserial NOT NULL, pbook_id bigint NOT NULL, pcategory_id bigint NOT NULL,
    PRIMARY KEY (id, pbook_id),
    CONSTRAINT parted_pbook_categories_pbook_id_pcategory_id_uniq UNIQUE (pbook_id, pcategory_id)
) PARTITION BY RANGE (pbook_id);
CREATE TABLE parted_pbook_categories_low PARTITION OF parted_pbook_categories
    FOR VALUES FROM (MINVALUE) TO (150);
CREATE TABLE parted_pbook_categories_high PARTITION OF parted_pbook_categories
    FOR VALUES FROM (150) TO (MAXVALUE);
ALTER TABLE parted_pbook_categories ADD CONSTRAINT parted_pbook_categories_pbook_id_fk
    FOREIGN KEY (pbook_id) REFERENCES parted_pbook (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE parted_pbook_categories ADD CONSTRAINT parted_pbook_categories_pcategory_id_fk
    FOREIGN KEY (pcategory_id) REFERENCES parted_pcategory (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX parted_pbook_categories_pbook_id ON parted_pbook_categories (pbook_id);
CREATE INDEX parted_pbook_categories_pcategory_id ON parted_pbook_categories (pcategory_id);

CREATE TABLE parted_preview (
    id bigserial NOT NULL PRIMARY KEY, book_id bigint NOT NULL, rating integer NOT NULL);
ALTER TABLE parted_preview ADD CONSTRAINT parted_preview_book_id_fk FOREIGN KEY (book_id)
    REFERENCES parted_pbook (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX parted_preview_book_id ON parted_preview (book_id);
"""

DROP = """
DROP TABLE parted_preview, parted_pbook_categories, parted_pbook, parted_pcategory,
    parted_pauthor;
"""


def _id():
    return models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                               verbose_name="ID")


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.RunSQL(DDL, DROP, state_operations=[
            migrations.CreateModel(
                name="PAuthor",
                fields=[
                    ("id", _id()),
                    ("name", models.CharField(max_length=255)),
                    ("email", models.EmailField(max_length=254)),
                ],
            ),
            migrations.CreateModel(
                name="PCategory",
                fields=[
                    ("id", _id()),
                    ("name", models.CharField(max_length=100)),
                ],
            ),
            migrations.CreateModel(
                name="PBook",
                fields=[
                    ("id", _id()),
                    ("title", models.CharField(max_length=255)),
                    ("author", models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="books",
                        to="parted.pauthor")),
                    ("translator", models.ForeignKey(
                        null=True, on_delete=django.db.models.deletion.CASCADE,
                        related_name="translations", to="parted.pauthor")),
                    ("categories", models.ManyToManyField(
                        related_name="books", to="parted.pcategory")),
                ],
            ),
            migrations.CreateModel(
                name="PReview",
                fields=[
                    ("id", _id()),
                    ("rating", models.IntegerField()),
                    ("book", models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="reviews",
                        to="parted.pbook")),
                ],
            ),
        ]),
    ]
