"""Template helpers for catalog pages, and the dataset tab bar other apps' pages reuse."""

import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import nh3
from django import template
from django.http import QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

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

    def toggled(value: Any) -> str:
        value = str(value)
        own = "" if value == current else urlencode({key.encode(encoding): value.encode(encoding)})
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
