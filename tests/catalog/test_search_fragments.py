"""The catalog page's facets and result cards, written in Python (catalog_tags.facet_list and
result_card), give the bytes the per-item templates gave; the templates are kept here."""

import random
from datetime import timedelta

from django.template import Context, Template
from django.utils import timezone

from catalog.selectors import ResultRow
from catalog.templatetags.catalog_tags import facet_list_html, result_card_html

# catalog/includes/facet.html, as it was
FACET_TEMPLATE = """{% load catalog_tags %}{% if items %}
<div class="facet">
  <h3>{{ title }}</h3>
  <ul class="plain">
    {% for item in items %}
      
      <li><a href="{{ item.url }}" class="facet-link{% if item.active %} active{% endif %}">
        <span>{% if key == "sensitivity" %}<span class="dot {{ item.value }}"></span>{% endif %}{{ item.label|default:item.value }}</span>
        <span class="count">{{ item.count|capped }}</span></a></li>
      
    {% endfor %}
  </ul>
</div>
{% endif %}
"""  # noqa: E501, W293  the template's blank lines hold spaces

# the card of catalog/includes/results.html, as it was
CARD_TEMPLATE = """{% load catalog_tags humanize %}
<article class="result card">
  <div class="result-head">
    <h2><a href="{{ ds.url }}">{{ ds.display_title }}</a></h2>
    {% tier_badge ds.sensitivity %}
    {% if ds.has_pii %}<span class="badge pii" title="Has columns classified or suggested as personal data">PII</span>{% endif %}
    {% if ds.status == "deprecated" %}<span class="badge bad">Deprecated</span>{% endif %}
    {% if ds.profile_status == "running" or ds.profile_status == "pending" %}<span class="badge running">Profiling…</span>{% elif ds.profile_status == "failed" %}<span class="badge failed">Profile failed</span>{% endif %}
  </div>
  <p class="result-meta muted"><code>{{ ds.name }}</code>{% if ds.domain_name is not None %} · {{ ds.domain_name }}{% endif %}{% if ds.owner_label is not None %} · owner {{ ds.owner_label }}{% endif %}{% if ds.row_count is not None %} · {{ ds.row_count|intcomma }} row{{ ds.row_count|pluralize }}{% endif %}{% if ds.version_number is not None %} · v{{ ds.version_number }}{% endif %} · updated {{ ds.updated_at|naturaltime }}</p>
  {% if ds.description %}<p class="result-desc">{{ ds.summary }}</p>{% endif %}
  {% if ds.tag_list %}<p class="chips">{% for tag in ds.tag_list %}<span class="chip">#{{ tag }}</span>{% endfor %}</p>{% endif %}
</article>
"""  # noqa: E501

TEXTS = ["", "a", "sales", "<b>x</b>", "Tom & Jerry", 'it\'s "quoted"', "é ü", "10,000+", "x" * 40]


def _facet_items(rng: random.Random) -> list[dict]:
    return [
        {
            "url": "?q=" + rng.choice(TEXTS) + "&tag=" + rng.choice(TEXTS),
            "active": rng.random() < 0.3,
            "value": rng.choice([*TEXTS[1:], "true", "restricted"]),
            "label": rng.choice([None, "", *TEXTS]),
            "count": rng.choice([0, 1, 999, 1000, 10_000, 10_001, 123_456]),
        }
        for _ in range(rng.randrange(0, 5))
    ]


def test_facet_list_matches_the_template():
    template = Template(FACET_TEMPLATE)
    rng = random.Random(8)
    for _ in range(300):
        title = rng.choice(["Sensitivity", "Contains PII", "Tag", "Owner"])
        key = rng.choice(["sensitivity", "contains_pii", "tag", "owner"])
        items = _facet_items(rng)
        context = Context({"title": title, "key": key, "items": items})
        assert facet_list_html(title, key, items) == template.render(context)


def test_result_card_matches_the_template():
    template = Template(CARD_TEMPLATE)
    rng = random.Random(8)
    now = timezone.now()
    for _ in range(300):
        text = rng.choice(TEXTS)
        row = ResultRow(
            name=rng.choice(["bench-1", "a<b>", "x&y"]),
            title=rng.choice(TEXTS),
            description=text,
            sensitivity=rng.choice(["public", "internal", "confidential", "restricted"]),
            status=rng.choice(["active", "deprecated"]),
            profile_status=rng.choice(["pending", "running", "ready", "failed", ""]),
            row_count=rng.choice([None, 0, 1, 7, 1234, 25_612_334]),
            updated_at=now - timedelta(seconds=rng.choice([5, 3600, 86400 * 40, 86400 * 400])),
            domain_name=rng.choice([None, "", "finance", "R&D"]),
            owner_label=rng.choice([None, "", "bench-owner-004", "Ann <O'Neil>"]),
            version_number=rng.choice([None, 1, 12, 1234]),
            has_pii=rng.random() < 0.5,
            tag_list=rng.sample(["a", "b", "<c>", "d&e"], rng.randrange(0, 4)),
            url=rng.choice(["/catalog/datasets/bench-1/", "/catalog/datasets/a%3Cb%3E/?x=1&y=2"]),
            summary=text[:5],
        )
        expected = template.render(Context({"ds": row}))
        assert result_card_html(row) == expected


def test_result_card_counts_one_row_in_the_singular():
    def meta(rows: int) -> str:
        row = ResultRow(
            name="one", title="", description="", sensitivity="internal", status="active",
            profile_status="ready", row_count=rows, updated_at=timezone.now(), domain_name=None,
            owner_label=None, version_number=None, has_pii=False, tag_list=[],
            url="/catalog/datasets/one/", summary="",
        )  # fmt: skip
        return result_card_html(row)

    assert " · 1 row · " in meta(1) and " · 0 rows · " in meta(0)
    assert " · 1,234 rows · " in meta(1234)
