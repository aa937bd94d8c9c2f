"""Template helpers for catalog pages, and the dataset tab bar other apps' pages reuse."""

import functools
import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlencode

import nh3
from django import template
from django.contrib.humanize.templatetags.humanize import intcomma, naturaltime
from django.http import QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils.formats import localize
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime

from catalog.rendering import markdown_to_html
from catalog.selectors import COUNT_CAP

register = template.Library()

# (label, url name): a tab appears once its app has mounted the URL; every URL takes `name`.
DATASET_TABS = [
    ("Overview", "catalog:dataset-detail"),
    ("Schema", "catalog:dataset-schema"),
    ("Versions", "catalog:dataset-versions"),
    ("Issues", "catalog:dataset-issues"),
    ("Access", "access:dataset-access"),
    ("Audits", "audits:dataset-audits"),
    ("Lineage", "lineage:dataset-lineage"),
]


@register.inclusion_tag("catalog/includes/tabs.html", takes_context=True)
def dataset_tabs(context, dataset) -> dict:
    """The dataset's tab bar; tabs whose URL does not exist (yet) are skipped silently."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    current = match.view_name if match else ""
    active_tab = context.get("active_tab", "")
    tabs = []
    for label, url_name in DATASET_TABS:
        try:
            url = reverse(url_name, kwargs={"name": dataset.name})
        except NoReverseMatch:
            continue
        active = label == active_tab or (not active_tab and url_name == current)
        badge = getattr(dataset, "open_issue_count", 0) if label == "Issues" else 0
        tabs.append({"label": label, "url": url, "active": active, "badge": badge})
    return {"tabs": tabs}


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render Markdown sanitised (nh3): safe to mark safe because nothing executable survives."""
    return mark_safe(markdown_to_html(text))  # noqa: S308  sanitised by nh3 just above


# Text Markdown leaves as it is: letters, digits, spaces and punctuation with no Markdown
# meaning, no line starting like a list item ("-", "1.", "1)"), no tabs (made spaces).
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9 ,.;:?!'\"()%/\n-]*")
_LIST_LINE = re.compile(r"^ *(-|\d+[.)])", re.MULTILINE)


@register.filter
def markdown_text(text: str) -> str:
    """Markdown as plain text, for one-line summaries in lists (escaped by the template).

    Text with nothing Markdown would change skips rendering and sanitising (~0.1-0.3 ms a
    description, 20 on every catalog page): its lines are the same either way.
    """
    if _PLAIN_TEXT.fullmatch(text) and not _LIST_LINE.search(text):
        plain = text
    else:
        plain = html.unescape(nh3.clean(markdown_to_html(text), tags=set()))
    return " · ".join(line.strip() for line in plain.splitlines() if line.strip())


@register.filter
def capped(count: int | None) -> str:
    """'10,000+' past the cap; otherwise the number with thousands separators."""
    if count is None:
        return "—"
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


# The catalog page's facets and result cards are written here, not by per-item templates:
# ~60 facet links and 20 cards, each a handful of variables, filters and tags resolved by the
# template engine, were most of the page's template time (~2/3 of ~12 ms of CPU). The markup
# is what catalog/includes/facet.html and the card of results.html rendered, byte for byte
# (tests/catalog/test_search_fragments.py renders both and compares).


def facet_list_html(title: str, key: str, items: list[dict]) -> str:
    """One facet: its title and links (`_facet_links` items: url, active, value, label, count)."""
    if not items:
        return "\n"
    escape = html.escape
    parts = [f'\n<div class="facet">\n  <h3>{escape(title)}</h3>\n  <ul class="plain">\n    ']
    dot = key == "sensitivity"
    for item in items:
        active = " active" if item["active"] else ""
        marker = f'<span class="dot {escape(str(item["value"]))}"></span>' if dot else ""
        label = escape(str(item["label"] or item["value"]))  # |default:item.value
        parts.append(
            f'\n      \n      <li><a href="{escape(item["url"])}" class="facet-link{active}">\n'
            f"        <span>{marker}{label}</span>\n"
            f'        <span class="count">{escape(capped(item["count"]))}</span></a></li>\n'
            "      \n    "
        )
    parts.append("\n  </ul>\n</div>\n\n")
    return "".join(parts)


@register.simple_tag
def facet_list(title: str, key: str, items: list[dict] | None) -> SafeString:
    return mark_safe(facet_list_html(title, key, items or []))  # noqa: S308  every value escaped


def _plural(count: int) -> str:
    """What the `pluralize` filter adds to a count: "" for 1, "s" otherwise."""
    return "" if count == 1 else "s"


_PROFILING_BADGES = {
    "running": '<span class="badge running">Profiling…</span>',
    "pending": '<span class="badge running">Profiling…</span>',
    "failed": '<span class="badge failed">Profile failed</span>',
}


def result_card_html(ds) -> str:
    """One search result (a `selectors.ResultRow`) as an <article> card."""
    escape = html.escape
    meta = [f"<code>{escape(ds.name)}</code>"]
    if ds.domain_name is not None:
        meta.append(f" · {escape(str(ds.domain_name))}")
    if ds.owner_label is not None:
        meta.append(f" · owner {escape(str(ds.owner_label))}")
    if ds.row_count is not None:
        meta.append(f" · {conditional_escape(intcomma(ds.row_count))} row{_plural(ds.row_count)}")
    if ds.version_number is not None:
        meta.append(f" · v{conditional_escape(localize(ds.version_number))}")
    updated = naturaltime(template_localtime(ds.updated_at))  # expects_localtime, as the filter
    meta.append(f" · updated {conditional_escape(updated)}")
    description = f'<p class="result-desc">{escape(ds.summary)}</p>' if ds.description else ""
    chips = ""
    if ds.tag_list:
        chips = "".join(f'<span class="chip">#{escape(str(tag))}</span>' for tag in ds.tag_list)
        chips = f'<p class="chips">{chips}</p>'
    pii = (
        '<span class="badge pii" title="Has columns classified or suggested as personal data">'
        "PII</span>"
        if ds.has_pii
        else ""
    )
    deprecated = '<span class="badge bad">Deprecated</span>' if ds.status == "deprecated" else ""
    return (
        '\n<article class="result card">\n  <div class="result-head">\n'
        f'    <h2><a href="{escape(ds.url)}">{escape(ds.display_title)}</a></h2>\n'
        f"    {_tier_badge(ds.sensitivity)}\n    {pii}\n    {deprecated}\n"
        f"    {_PROFILING_BADGES.get(ds.profile_status, '')}\n  </div>\n"
        f'  <p class="result-meta muted">{"".join(meta)}</p>\n  {description}\n  {chips}\n'
        "</article>\n"
    )


@register.simple_tag
def result_card(ds) -> SafeString:
    return mark_safe(result_card_html(ds))  # noqa: S308  every value escaped


@register.simple_tag(takes_context=True)
def facet_query(context, key: str, value) -> str:
    """The current query with `key` toggled to `value` (or removed when already set); page reset."""
    return toggled_query(context["request"].GET, key, value)


def toggled_query(query: QueryDict, key: str, value) -> str:
    """`query` with `key` toggled to `value` (or removed when already set), as '?…'; page reset."""
    params = query.copy()
    params.pop("page", None)
    params.pop("partial", None)
    value = str(value)
    if params.get(key) == value:
        params.pop(key)
    else:
        params[key] = value
    return "?" + params.urlencode()


def query_toggler(query: QueryDict, key: str) -> Callable[[Any], str]:
    """`toggled_query(query, key, value)` for many values of one key (a facet's ~20 links):
    the other parameters are copied and encoded once, not once per value."""
    params = query.copy()
    params.pop("page", None)
    params.pop("partial", None)
    current = params.get(key)
    encoding = params.encoding
    # The key keeps its place among the others; a new key goes last, as QueryDict puts it.
    before: list[str] = []
    after: list[str] = []
    pieces = before
    for k, values in params.lists():
        if k == key:
            pieces = after
            continue
        pieces.extend(urlencode({k.encode(encoding): str(v).encode(encoding)}) for v in values)
    head, tail = "&".join(before), "&".join(after)
    own_key = quote_plus(key.encode(encoding)) + "="  # urlencode({key: value}), key once

    def toggled(value: Any) -> str:
        value = str(value)
        own = "" if value == current else own_key + quote_plus(value.encode(encoding))
        return "?" + "&".join(part for part in (head, own, tail) if part)

    return toggled


@register.simple_tag(takes_context=True)
def query_without(context, *keys: str) -> str:
    params: QueryDict = context["request"].GET.copy()
    for key in (*keys, "partial"):
        params.pop(key, None)
    return params.urlencode()


@register.simple_tag
def tier_badge(sensitivity: str) -> SafeString:
    return format_html('<span class="badge tier {0}">{1}</span>', sensitivity, sensitivity.title())


@functools.lru_cache(maxsize=64)
def _tier_badge(sensitivity: str) -> SafeString:
    """`tier_badge` for a result card: four tiers, 20 cards a page."""
    return tier_badge(sensitivity)


@register.filter
def percent(value) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value):.1f}%"


@register.filter
def number(value) -> str:
    """A compact number for profile cells: ints with separators, floats to 4 significant digits."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}".rstrip("0").rstrip(".")
        return f"{value:.4g}"
    text = str(value)
    if len(text) > 16 and text[4:5] == "-" and text[10:11] == "T":  # ISO timestamp: to the minute
        return text[:16].replace("T", " ")
    return text


@register.filter
def get_item(mapping, key):
    """mapping[key] in a template (QueryDict: the last value), or ''."""
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""
