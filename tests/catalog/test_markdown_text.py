"""The catalog page's one-line description summary: the plain-text shortcut changes nothing."""

import html
import random

import nh3

from catalog.rendering import markdown_to_html
from catalog.templatetags.catalog_tags import markdown_text

TOKENS = [
    "Daily", "customer", "records", "EMEA", "a", "1", "2024", "x", " ", "  ", "    ", "\n",
    "\n\n", ",", ".", ";", ":", "?", "!", "'", '"', "(", ")", "%", "/", "-", "--", "1.", "2)",
    "*", "_", "`", "#", "<b>", "&amp;", "[x](y)", "\t", "=", ">", "+",
]  # fmt: skip


def _rendered(text: str) -> str:
    plain = html.unescape(nh3.clean(markdown_to_html(text), tags=set()))
    return " · ".join(line.strip() for line in plain.splitlines() if line.strip())


def test_plain_text_shortcut_matches_rendering():
    rng = random.Random(8)
    for _ in range(3000):
        text = "".join(rng.choice(TOKENS) for _ in range(rng.randrange(1, 14)))
        assert markdown_text(text) == _rendered(text), repr(text)


def test_markdown_is_still_rendered():
    assert markdown_text("Hourly **readings**\n\n- one\n- two") == "Hourly readings · one · two"
    assert markdown_text("2024. The year\n\ttabbed") == "The year · tabbed"
