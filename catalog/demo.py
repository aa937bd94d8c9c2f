"""Demo catalog: realistic generated datasets (fixed seed), registered, profiled and described.

`seed_catalog_demo()` is idempotent: files are written only when missing (the same seed always
writes the same bytes), datasets only registered when absent. Profiling runs synchronously
here, since the worker may not be up yet when `make run` seeds.

- loan-applications (CSV, confidential): protected attributes `sex` and `age`, a label
  `approved` and a model's `predicted`, with a planted bias: women are approved at about
  0.7x the rate of men with the same credit profile (fails the four-fifths rule).
- customers (CSV, restricted): PII columns full_name, email, phone, card_number (Luhn-valid
  test numbers), ip_address, date_of_birth.
- transactions (Parquet, internal): card payments with a fraud flag.
- country-reference (CSV, public): a small reference table.
- on PostgreSQL: monthly-revenue, a table read through a Connection (internal).
"""

from __future__ import annotations

import csv
import logging
import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection as db_connection

from catalog import services
from catalog.models import (
    Connection,
    Dataset,
    GlossaryTerm,
    IssueReport,
    LegalBasis,
    PiiKind,
    ProtectedAttribute,
    Sensitivity,
)

logger = logging.getLogger(__name__)
User = get_user_model()
SEED = 20240601

FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "Mateo",
    "Mia",
    "Lucas",
    "Amelia",
    "Levi",
    "Harper",
    "Ezra",
    "Aisha",
    "Kenji",
    "Priya",
    "Omar",
    "Ines",
    "Jonas",
]
LAST = [
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Okafor",
    "Silva",
    "Dubois",
    "Jensen",
    "Haddad",
    "Tanaka",
    "Patel",
    "Novak",
    "Berg",
    "Costa",
    "Ivanova",
    "Khan",
]
CITIES = ["Amsterdam", "Berlin", "Lisbon", "Madrid", "Paris", "Rome", "Vienna", "Warsaw", "Dublin"]
REGIONS = ["north", "south", "east", "west", "central"]
CATEGORIES = ["grocery", "travel", "electronics", "restaurants", "fuel", "pharmacy", "fashion"]
COUNTRIES = [
    ("AT", "Austria", "Europe", 9_100_000),
    ("BE", "Belgium", "Europe", 11_800_000),
    ("DE", "Germany", "Europe", 84_400_000),
    ("DK", "Denmark", "Europe", 5_900_000),
    ("ES", "Spain", "Europe", 48_600_000),
    ("FR", "France", "Europe", 68_200_000),
    ("IE", "Ireland", "Europe", 5_300_000),
    ("IT", "Italy", "Europe", 58_900_000),
    ("NL", "Netherlands", "Europe", 17_900_000),
    ("PL", "Poland", "Europe", 36_700_000),
    ("PT", "Portugal", "Europe", 10_400_000),
    ("SE", "Sweden", "Europe", 10_500_000),
    ("US", "United States", "Americas", 334_900_000),
    ("BR", "Brazil", "Americas", 216_400_000),
    ("JP", "Japan", "Asia", 124_500_000),
    ("IN", "India", "Asia", 1_428_600_000),
]


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    total = 0
    for index, ch in enumerate(reversed(body)):
        digit = int(ch)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def _loans(rng: random.Random, n: int = 3000) -> tuple[list[str], list[list[Any]]]:
    header = [
        "application_id",
        "applied_on",
        "age",
        "sex",
        "region",
        "income",
        "loan_amount",
        "credit_score",
        "employment_years",
        "existing_debt",
        "approved",
        "predicted",
    ]
    rows = []
    start = date(2024, 1, 1)
    for i in range(n):
        sex = "F" if rng.random() < 0.48 else "M"
        age = max(18, min(80, int(rng.gauss(41, 12))))
        income = round(max(9_000, rng.lognormvariate(10.8, 0.45)), -2)
        score = max(300, min(850, int(rng.gauss(680, 70))))
        amount = round(min(income * rng.uniform(0.2, 1.6), 250_000), -2)
        debt = round(max(0, rng.gauss(income * 0.15, income * 0.1)), -2)
        years = max(0, min(age - 18, int(rng.expovariate(1 / 6))))
        logit = (score - 660) / 45 + (income - amount) / 40_000 - debt / 60_000 + 0.05 * years
        p = 1 / (1 + math.exp(-logit))
        if sex == "F":
            p *= 0.68  # the planted bias: same profile, lower approval rate
        approved = int(rng.random() < p)
        # The model learnt from past decisions: mostly agrees, with some noise.
        predicted = approved if rng.random() < 0.86 else 1 - approved
        applied = start + timedelta(days=rng.randint(0, 364))
        rows.append(
            [
                f"APP-{100000 + i}",
                applied.isoformat(),
                age,
                sex,
                rng.choice(REGIONS),
                income,
                amount,
                score,
                years,
                debt,
                approved,
                predicted,
            ]
        )
    return header, rows


def _customers(rng: random.Random, n: int = 1200) -> tuple[list[str], list[list[Any]]]:
    header = [
        "customer_id",
        "full_name",
        "email",
        "phone",
        "date_of_birth",
        "card_number",
        "ip_address",
        "city",
        "segment",
        "signup_date",
        "lifetime_value",
    ]
    rows = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{i}@example.{rng.choice(['com', 'org', 'net'])}".lower()
        prefix = rng.choice(["31", "49", "33", "39", "34"])
        phone = (
            f"+{prefix} {rng.randint(600, 699)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        )
        dob = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))
        card = _luhn_complete(
            rng.choice(["4", "51", "52", "37"]), 16 if rng.random() < 0.9 else 15, rng
        )
        ip = ".".join(
            str(rng.randint(lo, hi)) for lo, hi in ((11, 223), (0, 255), (0, 255), (1, 254))
        )
        signup = date(2019, 1, 1) + timedelta(days=rng.randint(0, 1900))
        rows.append(
            [
                f"C{10000 + i}",
                f"{first} {last}",
                email,
                phone,
                dob.isoformat(),
                card,
                ip,
                rng.choice(CITIES),
                rng.choice(["retail", "retail", "business", "premium"]),
                signup.isoformat(),
                round(rng.lognormvariate(6.5, 1.0), 2),
            ]
        )
    return header, rows


def _transactions(path: Path, rng: random.Random, n: int = 8000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = datetime(2024, 1, 1, tzinfo=UTC)
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "transaction_id",
            "customer_id",
            "occurred_at",
            "amount",
            "currency",
            "merchant_category",
            "country",
            "channel",
            "is_fraud",
        )
    }
    for i in range(n):
        fraud = rng.random() < 0.012
        cols["transaction_id"].append(f"T{5_000_000 + i}")
        cols["customer_id"].append(f"C{10000 + rng.randint(0, 1199)}")
        cols["occurred_at"].append(start + timedelta(seconds=rng.randint(0, 365 * 86400)))
        amount = rng.lognormvariate(3.6, 1.1) * (4 if fraud else 1)
        cols["amount"].append(round(amount, 2))
        cols["currency"].append(rng.choice(["EUR", "EUR", "EUR", "USD", "GBP"]))
        cols["merchant_category"].append(rng.choice(CATEGORIES))
        cols["country"].append(rng.choice(COUNTRIES)[0])
        cols["channel"].append(rng.choice(["card_present", "online", "online", "mobile"]))
        cols["is_fraud"].append(fraud)
    table = pa.table(cols)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="snappy")
    tmp.replace(path)


def demo_files_write(root: Path) -> dict[str, Path]:
    """Write the demo files under `root` if missing (the fixed seed always writes the same)."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "loan-applications": root / "loan_applications.csv",
        "customers": root / "customers.csv",
        "transactions": root / "transactions.parquet",
        "country-reference": root / "countries.csv",
    }
    if not files["loan-applications"].exists():
        _write_csv(files["loan-applications"], *_loans(random.Random(SEED)))
    if not files["customers"].exists():
        _write_csv(files["customers"], *_customers(random.Random(SEED + 1)))
    if not files["transactions"].exists():
        _transactions(files["transactions"], random.Random(SEED + 2))
    if not files["country-reference"].exists():
        _write_csv(
            files["country-reference"],
            ["iso_code", "country", "region", "population"],
            [list(c) for c in COUNTRIES],
        )
    return files


DESCRIPTIONS = {
    "loan-applications": {
        "title": "Loan applications 2024",
        "description": (
            "Consumer loan applications received in 2024 with the credit decision (`approved`) "
            "and the scoring model's output (`predicted`).\n\n"
            "* One row per application\n* `sex` and `age` are **protected attributes**: check "
            "fairness before training on this data\n"
            "* Source: loan origination system, nightly export"
        ),
        "domain": "Lending",
        "tags": ["credit", "ml-training", "decisions"],
        "glossary_terms": ["Applicant", "Approval rate"],
        "sensitivity": Sensitivity.CONFIDENTIAL,
        "legal_basis": LegalBasis.CONTRACT,
        "purpose": "Credit decisioning and training the loan approval model.",
        "retention_days": 2555,
    },
    "customers": {
        "title": "Customer master data",
        "description": (
            "Every retail and business customer with contact details and payment card on file. "
            "Contains **direct identifiers**; request masked access unless you truly need "
            "raw values."
        ),
        "domain": "Customer",
        "tags": ["customer", "pii", "master-data"],
        "glossary_terms": ["Customer"],
        "sensitivity": Sensitivity.RESTRICTED,
        "legal_basis": LegalBasis.CONTRACT,
        "purpose": "Servicing customer accounts; fraud prevention.",
        "retention_days": 3650,
    },
    "transactions": {
        "title": "Card transactions",
        "description": (
            "Card payments for 2024 with merchant category, channel and the confirmed fraud label."
        ),
        "domain": "Payments",
        "tags": ["payments", "fraud", "ml-training"],
        "glossary_terms": ["Transaction"],
        "sensitivity": Sensitivity.INTERNAL,
        "legal_basis": LegalBasis.LEGITIMATE_INTERESTS,
        "purpose": "Fraud detection model training and monitoring.",
        "retention_days": 1825,
    },
    "country-reference": {
        "title": "Country reference",
        "description": "ISO 3166 country codes with region and population (rounded).",
        "domain": "Reference",
        "tags": ["reference"],
        "glossary_terms": [],
        "sensitivity": Sensitivity.PUBLIC,
        "legal_basis": LegalBasis.NONE,
        "purpose": "",
        "retention_days": None,
    },
}
GLOSSARY = {
    "Applicant": "A person who applied for a loan, whether or not it was granted.",
    "Approval rate": (
        "Approved applications divided by all applications in a group (the selection rate)."
    ),
    "Customer": "A person or company with at least one active account.",
    "Transaction": "One authorised card payment, including ones later charged back.",
}
PROTECTED = {"loan-applications": {"sex": ProtectedAttribute.SEX, "age": ProtectedAttribute.AGE}}
COLUMN_NOTES = {
    "loan-applications": {
        "approved": "Credit decision: 1 approved, 0 declined (the label).",
        "predicted": "Approval model v3 output at a 0.5 threshold.",
        "credit_score": "Bureau score at application time (300–850).",
    },
    "customers": {"lifetime_value": "Gross margin to date, EUR."},
    "transactions": {"is_fraud": "Confirmed fraud after investigation (chargeback or report)."},
}


def _describe(dataset: Dataset, steward: Any, key: str) -> None:
    info = dict(DESCRIPTIONS.get(key, {}))
    if not info:
        return
    services.dataset_update(dataset=dataset, actor=steward, data={**info, "stewards": [steward]})
    columns = {c.name: c for c in dataset.columns.all()}
    for name, attribute in PROTECTED.get(key, {}).items():
        if name in columns:
            services.column_update(
                column=columns[name], actor=steward, data={"protected_attribute": attribute}
            )
    for name, note in COLUMN_NOTES.get(key, {}).items():
        if name in columns:
            services.column_update(column=columns[name], actor=steward, data={"description": note})
    for column in columns.values():  # accept the PII suggestions, as a steward would after review
        if (
            column.suggested_pii_kind
            and not column.pii_kind
            and column.suggested_pii_kind in PiiKind.values
        ):
            services.column_update(
                column=column, actor=steward, data={"pii_kind": column.suggested_pii_kind}
            )


def _register(name: str, steward: Any, **source: Any) -> Dataset | None:
    existing = Dataset.objects.filter(name=name).first()
    if existing is not None:
        return None
    dataset = services.dataset_register(
        actor=steward, name=name, owner=steward, profile=False, **source
    )
    services.dataset_profile(
        dataset_id=dataset.pk, actor_id=steward.pk if steward else None, reason="demo seed"
    )
    return Dataset.objects.get(pk=dataset.pk)


def _postgres_demo(steward: Any) -> None:
    """On PostgreSQL: a demo table in the portal's own database, read through a Connection."""
    if (
        db_connection.vendor != "postgresql"
        or Dataset.objects.filter(name="monthly-revenue").exists()
    ):
        return
    with db_connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA IF NOT EXISTS charter_demo")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS charter_demo.monthly_revenue ("
            "month date PRIMARY KEY, region text NOT NULL, revenue numeric(12,2), orders integer)"
        )
        cursor.execute("SELECT count(*) FROM charter_demo.monthly_revenue")
        if cursor.fetchone()[0] == 0:
            rng = random.Random(SEED + 3)
            rows = [
                (
                    date(2023 + m // 12, m % 12 + 1, 1),
                    rng.choice(REGIONS),
                    round(rng.uniform(80e3, 160e3), 2),
                    rng.randint(900, 2400),
                )
                for m in range(24)
            ]
            cursor.executemany(
                "INSERT INTO charter_demo.monthly_revenue VALUES (%s, %s, %s, %s)", rows
            )
    db = settings.DATABASES["default"]
    connection = Connection.objects.filter(name="portal-db").first() or services.connection_create(
        actor=steward,
        name="portal-db",
        host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432),
        database=db["NAME"],
        username=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or "",
        schema="charter_demo",
    )
    dataset = _register(
        "monthly-revenue",
        steward,
        source_kind=Dataset.SourceKind.POSTGRESQL,
        connection=connection,
        table="charter_demo.monthly_revenue",
        sensitivity=Sensitivity.INTERNAL,
        title="Monthly revenue by region",
    )
    if dataset is not None:
        services.dataset_update(
            dataset=dataset,
            actor=steward,
            data={
                "domain": "Finance",
                "tags": ["finance", "reporting"],
                "description": "Revenue and orders per month, from the finance warehouse.",
            },
        )


def seed_catalog_demo() -> list[str]:
    """Write, register, profile and describe the demo datasets; return the names created."""
    steward = User.objects.filter(username="steward").first()
    engineer = User.objects.filter(username="engineer").first()
    for term, definition in GLOSSARY.items():
        GlossaryTerm.objects.get_or_create(name=term, defaults={"definition": definition})
    files = demo_files_write(Path(settings.CHARTER_DATA_ROOTS[0]))
    created = []
    for name, path in files.items():
        dataset = _register(
            name,
            steward,
            source_kind=Dataset.SourceKind.FILE,
            path=str(path),
            sensitivity=DESCRIPTIONS[name]["sensitivity"],
        )
        if dataset is not None:
            _describe(dataset, steward, name)
            created.append(name)
    try:
        _postgres_demo(steward)
    except Exception:  # noqa: BLE001  the PostgreSQL demo is optional; files are the demo's core
        logger.exception("PostgreSQL demo table skipped")
    loans = Dataset.objects.filter(name="loan-applications").first()
    if loans and engineer and not IssueReport.objects.filter(dataset=loans).exists():
        services.issue_report_create(
            dataset=loans,
            reporter=engineer,
            kind=IssueReport.Kind.BIAS,
            title="Approval rate for women looks much lower than for men",
            body="Selection rate by `sex` in 2024: F noticeably below M at similar credit scores. "
            "Is this the data or the process?",
            column_name="sex",
        )
    return created
