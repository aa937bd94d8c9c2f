"""A synthetic catalog at scale: datasets, columns, tags, owners, grants (fixed seed).

Rows go straight into the catalog tables with the ORM's `bulk_create`, as the issue asks: the
services (one ledger event, one profile per dataset) would take hours for 100k datasets and
are not what is measured. The search document is built as `catalog.services.
dataset_search_refresh` builds it (name, name words, title, domain, tags, columns, description).
Grants are AccessGrant rows plus the guardian object permissions derived from them, which is
what `access.policies.datasets_for` reads.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta

from bench.common import SEED, log

DOMAINS = ["sales", "marketing", "finance", "people", "risk", "product", "logistics", "support"]
ENTITIES = [
    "customer",
    "order",
    "invoice",
    "payment",
    "session",
    "shipment",
    "claim",
    "account",
    "campaign",
    "ticket",
    "device",
    "employee",
    "contract",
    "transaction",
    "subscription",
    "refund",
]
QUALIFIERS = ["daily", "weekly", "raw", "clean", "curated", "snapshot", "events", "features"]
REGIONS = ["emea", "amer", "apac", "global", "uk", "de", "fr", "us"]
COLUMN_WORDS = [
    "id",
    "email",
    "name",
    "phone",
    "country",
    "amount",
    "currency",
    "status",
    "created_at",
    "updated_at",
    "score",
    "segment",
    "channel",
    "label",
    "age",
    "sex",
    "postcode",
    "price",
    "quantity",
    "discount",
]
TYPES = ["bigint", "text", "double precision", "timestamp", "boolean", "date"]
SENSITIVITY_WEIGHTS = [("public", 30), ("internal", 40), ("confidential", 20), ("restricted", 10)]
BATCH = 5_000


@dataclass
class CatalogPopulation:
    datasets: int
    columns: int
    grants: int
    seconds: float
    engineer_username: str
    steward_username: str
    rare_name: str


def _sensitivities(rng: random.Random, n: int) -> list[str]:
    values, weights = zip(*SENSITIVITY_WEIGHTS, strict=True)
    return rng.choices(values, weights=weights, k=n)


def populate(*, datasets: int, columns_per_dataset: int, grants: int) -> CatalogPopulation:
    """Create the synthetic catalog; idempotent per database (skips when already there)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from access.roles import ENGINEER, STEWARD
    from catalog.models import Column, Dataset, Domain, Tag

    start = time.perf_counter()
    User = get_user_model()  # noqa: N806 - Django's idiom
    rng = random.Random(SEED)
    if Dataset.objects.filter(name__startswith="bench-").exists():
        existing = Dataset.objects.filter(name__startswith="bench-").count()
        return CatalogPopulation(
            existing,
            Column.objects.count(),
            grants,
            0.0,
            "bench-engineer",
            "bench-steward",
            "bench-00000007-rare",
        )

    with transaction.atomic():
        owners = User.objects.bulk_create(
            [User(username=f"bench-owner-{i:03d}", email=f"o{i}@example.com") for i in range(50)]
        )
        engineer = User.objects.create_user("bench-engineer")
        steward = User.objects.create_user("bench-steward")
        engineer.groups.add(Group.objects.get(name=ENGINEER))
        steward.groups.add(Group.objects.get(name=STEWARD))
        domains = Domain.objects.bulk_create([Domain(name=d) for d in DOMAINS])
        tags = Tag.objects.bulk_create([Tag(name=t) for t in [*QUALIFIERS, *REGIONS, "pii", "ml"]])

    sens = _sensitivities(rng, datasets)
    created = 0
    while created < datasets:
        n = min(BATCH, datasets - created)
        rows, col_rows, tag_links = [], [], []
        plan = []
        for i in range(created, created + n):
            entity = ENTITIES[i % len(ENTITIES)]
            qualifier = rng.choice(QUALIFIERS)
            region = rng.choice(REGIONS)
            domain = domains[i % len(domains)]
            name = f"bench-{i:08d}-{entity}-{qualifier}-{region}"
            if i == 7:
                name = "bench-00000007-rare"  # one dataset with a unique word: 'zanzibar'
            title = f"{entity.title()} {qualifier} ({region.upper()})"
            description = (
                f"{qualifier.title()} {entity} records for {region.upper()}, owned by the "
                f"{domain.name} team. Refreshed {rng.choice(['hourly', 'nightly', 'weekly'])}."
            )
            if i == 7:
                description += " Zanzibar archive."
            cols = [rng.choice(COLUMN_WORDS) for _ in range(columns_per_dataset)]
            cols = [f"{c}_{k}" if k else c for k, c in enumerate(cols)]
            my_tags = rng.sample(tags, 2)
            parts = [name, name.replace("_", " ").replace("-", " "), title, domain.name]
            parts += [t.name for t in my_tags]
            for c in cols:
                parts += [c, c.replace("_", " ")]
            parts.append(description)
            rows.append(
                Dataset(
                    name=name,
                    title=title,
                    description=description,
                    owner=owners[i % len(owners)],
                    domain=domain,
                    sensitivity=sens[i],
                    source_kind="postgresql",
                    location=f"public.{entity}_{i}",
                    status="active" if i % 20 else "deprecated",
                    profile_status="ready",
                    row_count=rng.randrange(1_000, 50_000_000),
                    size_bytes=rng.randrange(10**5, 10**11),
                    search_document="\n".join(p for p in parts if p),
                )
            )
            plan.append((cols, my_tags))
        with transaction.atomic():
            made = Dataset.objects.bulk_create(rows, batch_size=BATCH)
            for dataset, (cols, my_tags) in zip(made, plan, strict=True):
                for pos, c in enumerate(cols):
                    col_rows.append(
                        Column(
                            dataset=dataset,
                            name=c,
                            position=pos,
                            data_type=rng.choice(TYPES),
                            pii_kind="email" if c.startswith("email") else "",
                            protected_attribute="sex" if c.startswith("sex") else "",
                        )
                    )
                for tag in my_tags:
                    tag_links.append(Dataset.tags.through(dataset=dataset, tag=tag))
            Column.objects.bulk_create(col_rows, batch_size=BATCH * 2)
            Dataset.tags.through.objects.bulk_create(tag_links, batch_size=BATCH * 2)
        created += n
        if created % 20_000 == 0 or created == datasets:
            log(f"catalog: {created:,} datasets")
    granted = _grants(engineer=engineer, steward=steward, count=grants, rng=rng)
    # VACUUM as well as ANALYZE: a bulk-loaded table has no visibility map until autovacuum
    # gets to it, so every index-only scan (PII flags, facet joins) would still read the heap.
    # A portal that has been running for a while has been vacuumed.
    tables = ("catalog_dataset", "catalog_column", "catalog_dataset_tags")
    tables += ("access_datasetuserobjectpermission", "access_accessgrant")
    if connection.vendor == "postgresql":
        # the typo path's vocabulary (migration 0007) and the narrow search rows (0008)
        tables += ("catalog_searchword", "catalog_datasetsearch")
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
    return CatalogPopulation(
        datasets,
        datasets * columns_per_dataset,
        granted,
        time.perf_counter() - start,
        engineer.username,
        steward.username,
        "bench-00000007-rare",
    )


def _grants(*, engineer, steward, count: int, rng: random.Random) -> int:
    """`count` active grants, spread over 50 engineers; the bench engineer holds a tenth."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.db import transaction
    from django.utils import timezone

    from access.models import AccessGrant, DatasetUserObjectPermission
    from access.roles import ENGINEER
    from catalog.models import Dataset

    User = get_user_model()  # noqa: N806
    with transaction.atomic():
        others = User.objects.bulk_create(
            [User(username=f"bench-eng-{i:03d}", email=f"e{i}@example.com") for i in range(49)]
        )
        Group.objects.get(name=ENGINEER).user_set.add(*others)
    holders = [engineer, *others]
    perm = Permission.objects.get(codename="read_dataset_data", content_type__app_label="catalog")
    ids = list(Dataset.objects.values_list("pk", flat=True))
    # The bench engineer's grants favour restricted datasets, so filtering by grant matters.
    restricted = list(Dataset.objects.filter(sensitivity="restricted").values_list("pk", flat=True))
    now = timezone.now()
    grants, perms = [], []
    seen: set[tuple[int, int]] = set()
    for n in range(count):
        user = holders[0] if n % 10 == 0 else holders[1 + n % (len(holders) - 1)]
        pool = restricted if (n % 10 == 0 and restricted) else ids
        dataset_id = rng.choice(pool)
        if (user.pk, dataset_id) in seen:
            continue
        seen.add((user.pk, dataset_id))
        grants.append(
            AccessGrant(
                user=user,
                dataset_id=dataset_id,
                level="masked",
                purpose="benchmark grant",
                starts_at=now - timedelta(days=1),
                expires_at=now + timedelta(days=30),
            )
        )
        perms.append(
            DatasetUserObjectPermission(user=user, permission=perm, content_object_id=dataset_id)
        )
    with transaction.atomic():
        AccessGrant.objects.bulk_create(grants, batch_size=BATCH)
        DatasetUserObjectPermission.objects.bulk_create(perms, batch_size=BATCH)
    return len(grants)


def api_token_for(username: str) -> str:
    """A fresh API token for `username` (through the real service)."""
    from django.contrib.auth import get_user_model

    from access.services import api_token_create

    user = get_user_model().objects.get(username=username)
    _token, raw = api_token_create(user=user, name="bench")
    return raw


def session_cookie_for(username: str) -> str:
    """A logged-in session cookie header value for `username` (database sessions)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username=username))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
