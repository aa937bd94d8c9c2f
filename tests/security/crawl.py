"""A small same-origin crawler for the Django test client: follows every link a user can see."""

from __future__ import annotations

import html
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from urllib.parse import urljoin, urlsplit

HREF = re.compile(r'href="([^"#]*)"')
SKIP_PREFIXES = ("/static/", "/logout/", "/admin/", "/api/docs/", "/api/redoc/", "/media/")
VARIANTS_PER_PATH = 4  # ?page=2, ?sort=..., facets: a few per path, not every combination


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def crawl(
    client, start: Iterable[str] = ("/",), *, limit: int = 400, **extra
) -> Iterator[tuple[str, object, bytes]]:
    """Breadth-first GET of every same-origin link reachable from `start`: (url, response, body)."""
    queue = deque(start)
    seen: set[str] = set()
    variants: Counter = Counter()
    while queue and len(seen) < limit:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url, **extra)
        body = body_of(response)
        yield url, response, body
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        for raw in HREF.findall(body.decode(errors="replace")):
            target = urljoin(url, html.unescape(raw))
            parts = urlsplit(target)
            if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
                continue
            if parts.path.startswith(SKIP_PREFIXES):
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if local in seen:
                continue
            if parts.query:
                variants[parts.path] += 1
                if variants[parts.path] > VARIANTS_PER_PATH:
                    continue
            queue.append(local)
