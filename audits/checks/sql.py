"""Checks pushed down into PostgreSQL (SPEC §1): the data never leaves the database.

1. One aggregate query per run, one scan of the table, computes every count, min, max, null,
   range, set and regex metric with `COUNT(*) FILTER (WHERE ...)`, and freshness's MAX.
2. A uniqueness check asks the catalog first: a single-column unique index or primary key
   proves it, with no scan. Otherwise one GROUP BY (a larger work_mem did not make it faster:
   PERFORMANCE.md). One bounded query per drift histogram, PII sample or fairness check.
3. Example values only for failed checks, grouped, always `LIMIT 20`.
Every query runs under CHARTER_AUDIT_STATEMENT_TIMEOUT_MS, not the 30 s source timeout: a
scan of a big table is legitimately long. Lock waits stay bounded by the source timeout.
Identifiers are quoted with psycopg's `sql.Identifier`, values are `sql.Literal`s, and every
query text is kept (`evidence`) so the run shows what it asked the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from audits.checks.drift import (
    BINS,
    MAX_CATEGORIES,
    DistributionDriftCheck,
    equal_width_edges,
)
from audits.checks.fairness import FIELDS, fairness_result, merge_counts
from audits.checks.privacy import SAMPLE_LIMIT, pii_compare, pii_result, retention_facts_result
from audits.checks.quality import (
    CheckContext,
    column_missing_result,
    freshness_result,
    row_count_result,
    schema_drift_result,
)
from audits.checks.results import PARTIAL_LIMIT, json_value, make_result, not_applicable_result

MAP_KINDS = ("range", "allowed_values", "regex")


def _sql():
    from psycopg import sql

    return sql


def _ident(name: str):
    return _sql().Identifier(name)


def _lit(value: Any):
    return _sql().Literal(value)


def _bound(value: Any):
    sql = _sql()
    if isinstance(value, str):
        return sql.SQL("{}::timestamptz").format(_lit(value))
    return _lit(value)


def unexpected_condition(spec: dict[str, Any], numeric: bool = True):
    """The WHERE condition for a non-null value a map check calls unexpected."""
    sql = _sql()
    col = _ident(spec["column"])
    kind = spec["kind"]
    if kind == "range":
        parts = []
        lo, hi = spec.get("min_value"), spec.get("max_value")
        if lo is not None:
            op = "<=" if spec.get("strict_min") else "<"
            parts.append(sql.SQL("{} " + op + " {}").format(col, _bound(lo)))
        if hi is not None:
            op = ">=" if spec.get("strict_max") else ">"
            parts.append(sql.SQL("{} " + op + " {}").format(col, _bound(hi)))
        cond = sql.SQL(" OR ").join(parts)
    elif kind == "allowed_values":
        values = [str(v) for v in spec["value_set"]]
        cond = sql.SQL("NOT ({}::text = ANY({}::text[]))").format(col, _lit(values))
    elif kind == "regex":
        cond = sql.SQL("NOT ({})").format(regex_match(col, spec["regex"], spec.get("mode")))
    else:  # pragma: no cover - guarded by MAP_KINDS
        raise ValueError(kind)
    return sql.SQL("{} IS NOT NULL AND ({})").format(col, cond)


# --- regex: literal ends by LIKE, the regex engine only on the rest ----------------------------
#
# PostgreSQL's regex costs ~1 µs a row and grows with the length of the text; it was 80 % of
# the aggregate scan. Most patterns begin and end with literal text (`user[0-9]+@example\.com`,
# `INV-[0-9]{6}`): `s ~ '^(?:P M S)$'` with literals P and S holds exactly when s starts with
# P, ends with S, is long enough for both, and the middle matches `^(?:M)$`. LIKE decides the
# ends (a byte comparison) and the regex runs on the few characters between them. The split is
# only made when M cannot look past its own ends (no anchors, lookarounds, word boundaries or
# back-references), so the result is the same row for row (tests/audits/test_sql_regex.py).

_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + " !\"#%&',-/:;<=>@_`~"
)  # literal in a PostgreSQL ARE when not escaped
_QUANTIFIERS = frozenset("*+?{")
_CLASS_ESCAPES = frozenset("dDsSwW")


def _atoms(pattern: str) -> list[tuple[str, str | None]] | None:
    """The pattern as (source text, literal character or None) atoms, quantifiers attached
    to the atom they repeat; None when it holds something the split must not touch."""
    atoms: list[tuple[str, str | None]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                return None
            nxt = pattern[i + 1]
            if nxt.isalnum() and nxt not in _CLASS_ESCAPES:
                return None  # anchors, word boundaries, back-references, \b = backspace...
            atoms.append((pattern[i : i + 2], None if nxt.isalnum() else nxt))
            i += 2
        elif ch == "[":
            end = _bracket_end(pattern, i)
            if end is None:
                return None
            atoms.append((pattern[i:end], None))
            i = end
        elif ch in "^$|" or pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
            return None  # anchors, alternation, lookarounds and options: no split
        elif pattern.startswith("(?:", i):
            atoms.append(("(?:", None))
            i += 3
        elif ch in _QUANTIFIERS:
            if not atoms:
                return None
            end = pattern.find("}", i) + 1 if ch == "{" else i + 1
            if end <= 0:
                return None
            text, _ = atoms[-1]
            atoms[-1] = (text + pattern[i:end], None)  # a repeated atom is no literal
            i = end
        else:
            atoms.append((ch, ch if ch in _PLAIN else None))
            i += 1
    return atoms


def _bracket_end(pattern: str, start: int) -> int | None:
    """The index after the `]` that closes the bracket expression opened at `start`."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1
    while i < len(pattern):
        if pattern[i] == "]":
            return i + 1
        if pattern[i] == "[" and pattern[i + 1 : i + 2] in (":", "=", "."):
            close = pattern.find(pattern[i + 1] + "]", i + 2)
            if close < 0:
                return None
            i = close + 2
        elif pattern[i] == "\\":
            i += 2
        else:
            i += 1
    return None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def split_literal_ends(pattern: str, mode: str) -> tuple[str, str, str] | None:
    """(prefix, middle pattern, suffix) with literal prefix and suffix, or None (no split).
    `match` keeps the suffix in the middle (the match may end anywhere)."""
    atoms = _atoms(pattern)
    if atoms is None:
        return None
    head = 0
    while head < len(atoms) and atoms[head][1] is not None:
        head += 1
    tail = len(atoms)
    if mode == "fullmatch":
        while tail > head and atoms[tail - 1][1] is not None:
            tail -= 1
    prefix = "".join(lit for _, lit in atoms[:head])
    suffix = "".join(lit for _, lit in atoms[tail:])
    if not prefix and not suffix:
        return None
    return prefix, "".join(text for text, _ in atoms[head:tail]), suffix


def regex_match(col: Any, pattern: str, mode: str | None = None):
    """`col` matches `pattern` in `mode` (GX's fullmatch, match or search), as SQL."""
    sql = _sql()
    mode = mode or "fullmatch"
    text = sql.SQL("{}::text").format(col)
    anchored = {"fullmatch": f"^(?:{pattern})$", "match": f"^(?:{pattern})"}.get(mode, pattern)
    split = split_literal_ends(pattern, mode) if mode in ("fullmatch", "match") else None
    if split is None:
        return sql.SQL("{} ~ {}").format(text, _lit(anchored))
    prefix, middle, suffix = split
    fixed = len(prefix) + len(suffix)
    like = sql.SQL('({} COLLATE "C") LIKE {}').format(
        text, _lit(_like_escape(prefix) + "%" + _like_escape(suffix))
    )
    if mode == "match":
        rest = sql.SQL("substr({}, {})").format(text, _lit(len(prefix) + 1))
        tail = "" if not middle else f"^(?:{middle})"
        return like if not tail else sql.SQL("{} AND {} ~ {}").format(like, rest, _lit(tail))
    if not middle:
        return sql.SQL('({} COLLATE "C") = {}').format(text, _lit(prefix + suffix))
    run = ascii_run(middle)
    if run is not None:
        return _bytes_in_set(text, like, len(prefix), fixed, run)
    rest = sql.SQL("substr({t}, {start}, char_length({t}) - {fixed})").format(
        t=text, start=_lit(len(prefix) + 1), fixed=_lit(fixed)
    )
    return sql.SQL("{} AND char_length({}) >= {} AND {} ~ {}").format(
        like, text, _lit(fixed), rest, _lit(f"^(?:{middle})$")
    )


# --- a middle that is one repeated ASCII class: bytes, not the regex engine -------------------
#
# `user[0-9]+@example\.com` leaves the middle `[0-9]+`. Even on the few characters between the
# ends, the regex (with the substr and char_length that cut them out) was two thirds of the
# check's cost: PostgreSQL converts each value to wide characters and runs its automaton. When
# the middle is one bracket of printable ASCII characters with a quantifier, the
# middle's bytes are trimmed of the set instead: every byte of a non-ASCII character is >= 0x80
# in UTF-8 (source sessions use it as their client encoding, see catalog.sources.connect), so
# such a character is never trimmed and fails the check as the regex would, and an all-ASCII
# middle has as many bytes as characters. `btrim(bytea, bytea)` is in every PostgreSQL release.

_RUN = re.compile(
    r"\[(?P<set>[^\]\^\\\[][^\]\\\[]*)\]"  # [chars], no ^, ], \ or [ in it
    r"(?P<q>[+*?]|\{(?P<n>\d+)(?P<comma>,(?P<m>\d*))?\})"  # one quantifier, greedy
)
_DUPMAX = 255  # PostgreSQL refuses a larger repetition count: leave such patterns to it


def ascii_run(middle: str) -> tuple[bytes, int, int | None] | None:
    """(the byte set, least and most repeats) of a middle like `[0-9]+` or `[A-Z]{2}`, or None.

    No class escapes such as `\\d`: under an ICU collation they take other scripts' digits."""
    found = _RUN.fullmatch(middle)
    if found is None:
        return None
    chars = _bracket_chars(found["set"])
    quantifier = found["q"]
    if quantifier in ("+", "*", "?"):
        least, most = {"+": (1, None), "*": (0, None), "?": (0, 1)}[quantifier]
    else:
        least = int(found["n"])
        most = least if found["comma"] is None else (int(found["m"]) if found["m"] else None)
    if chars is None or least > _DUPMAX or (most is not None and not least <= most <= _DUPMAX):
        return None
    return "".join(sorted(set(chars))).encode(), least, most


def _bracket_chars(body: str) -> str | None:
    """The characters of a bracket expression's body (`a-z0-9._-`), all printable ASCII."""
    chars, i = [], 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            low, high = body[i], body[i + 2]
            if low > high or "-" in (low, high):
                return None  # an invalid or unusual range: leave it to PostgreSQL
            chars.extend(chr(c) for c in range(ord(low), ord(high) + 1))
            i += 3
        elif body[i] == "-" and 0 < i < len(body) - 1:
            return None  # `-` right after a range (`[a-z-_]`): leave it to PostgreSQL
        else:
            chars.append(body[i])
            i += 1
    return "".join(chars) if all(" " <= c <= "~" for c in chars) else None


def _bytes_in_set(text: Any, like: Any, start: int, fixed: int, run: tuple) -> Any:
    """`like` holds, the middle's length is within the repeats and its bytes are all in the set."""
    sql = _sql()
    allowed, least, most = run
    length = sql.SQL("octet_length({}) >= {}").format(text, _lit(fixed + least))
    if most is not None:
        length = sql.SQL("{} AND octet_length({}) <= {}").format(length, text, _lit(fixed + most))
    middle = sql.SQL(
        "substring(textsend({t}) from {start} for octet_length({t}) - {fixed})"
    ).format(t=text, start=_lit(start + 1), fixed=_lit(fixed))
    return sql.SQL("{} AND {} AND btrim({}, {}) = ''::bytea").format(
        like, length, middle, _lit(allowed)
    )


class PushdownRun:
    """Plan, run and interpret the pushed-down queries of one run against one table."""

    def __init__(self, source: Any, specs: list[dict[str, Any]], ctx: CheckContext) -> None:
        self.source = source
        self.specs = specs
        self.ctx = ctx
        self.evidence: list[str] = []
        self.table = source.qualified
        self.available = [c["name"] for c in ctx.columns]
        self.types = {c["name"]: str(c.get("type", "")) for c in ctx.columns}
        # NOT NULL columns (information_schema) hold no nulls: no per-row count for them
        self.not_null = {c["name"] for c in ctx.columns if c.get("nullable", True) is False}
        self.unique_indexes: dict[str, str] = {}  # column -> the unique index that proves it

    # --- plumbing ---------------------------------------------------------------------------

    def query(self, statement: Any) -> list[tuple]:
        from django.conf import settings

        try:
            text = statement.as_string(None)
        except (TypeError, AttributeError):
            text = str(statement)
        self.evidence.append(text)
        return self.source.run_query(
            statement, timeout_ms=settings.CHARTER_AUDIT_STATEMENT_TIMEOUT_MS
        )

    def _numeric(self, column: str) -> bool:
        kind = self.types.get(column, "").lower()
        return any(t in kind for t in ("int", "numeric", "real", "double", "decimal", "float"))

    # --- the aggregate ----------------------------------------------------------------------

    def _aggregate_items(self, index: int, spec: dict[str, Any]) -> list[tuple[str, Any]]:
        sql = _sql()
        kind = spec["kind"]
        col = _ident(spec["column"]) if spec.get("column") else None
        items: list[tuple[str, Any]] = []
        if col is not None and spec["column"] not in self.not_null:
            items.append(
                (f"c{index}_nulls", sql.SQL("COUNT(*) FILTER (WHERE {} IS NULL)").format(col))
            )
        if kind == "freshness":
            items.append((f"c{index}_latest", sql.SQL("MAX({})").format(col)))
        if kind in MAP_KINDS:
            numeric_range = kind == "range" and self._numeric(spec["column"])
            if numeric_range:
                items.append((f"c{index}_min", sql.SQL("MIN({})").format(col)))
                items.append((f"c{index}_max", sql.SQL("MAX({})").format(col)))
            # MIN and MAX inside numeric bounds prove that no row is out of them: the per-row
            # bound comparisons (numeric ones are slow) run only when they do not (`_map`,
            # in the query for that failure's examples).
            if not (numeric_range and _number_bounds(spec)):
                cond = unexpected_condition(spec)
                bad = sql.SQL("COUNT(*) FILTER (WHERE {})").format(cond)
                items.append((f"c{index}_bad", bad))
        if kind == "distribution_drift" and self._numeric(spec["column"]):
            items.append((f"c{index}_min", sql.SQL("MIN({}::float8)").format(col)))
            items.append((f"c{index}_max", sql.SQL("MAX({}::float8)").format(col)))
            reference = self.ctx.references.get(index)
            if reference and reference.get("type") == "numeric":
                edges = reference["edges"]
                for b in range(BINS):
                    parts = []
                    if b > 0:
                        parts.append(sql.SQL("{}::float8 >= {}").format(col, _lit(edges[b])))
                    if b < BINS - 1:
                        parts.append(sql.SQL("{}::float8 < {}").format(col, _lit(edges[b + 1])))
                    cond = sql.SQL(" AND ").join([sql.SQL("{} IS NOT NULL").format(col), *parts])
                    items.append(
                        (f"c{index}_bin{b}", sql.SQL("COUNT(*) FILTER (WHERE {})").format(cond))
                    )
        if kind == "retention" and spec.get("date_column") and self.ctx.facts.get("retention_days"):
            import datetime as dt

            cutoff = self.ctx.now - dt.timedelta(days=self.ctx.facts["retention_days"])
            date_col = _ident(spec["date_column"])
            items.append(
                (f"c{index}_nulls", sql.SQL("COUNT(*) FILTER (WHERE {} IS NULL)").format(date_col))
            )
            items.append(
                (
                    f"c{index}_expired",
                    sql.SQL("COUNT(*) FILTER (WHERE {} < {})").format(date_col, _lit(cutoff)),
                )
            )
        if kind == "fairness":
            needed = [spec["label"], *spec["protected"]]
            needed += [c for c in (spec.get("prediction"), spec.get("weight")) if c]
            cond = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(_ident(c)) for c in needed)
            items.append((f"c{index}_excluded", sql.SQL("COUNT(*) FILTER (WHERE {})").format(cond)))
        return items

    def aggregate(self, plan: dict[int, dict[str, Any]]) -> dict[str, Any]:
        sql = _sql()
        items: list[tuple[str, Any]] = [("total", sql.SQL("COUNT(*)"))]
        for index, spec in plan.items():
            items.extend(self._aggregate_items(index, spec))
        # Checks on one column share expressions (its null count, its MIN/MAX): each distinct
        # expression is computed once per row.
        first: dict[str, str] = {}  # expression text -> the name it is selected as
        same: dict[str, str] = {}  # name -> the name of the same expression selected first
        for name, expr in items:
            same[name] = first.setdefault(expr.as_string(None), name)
        selected = [(name, expr) for name, expr in items if same[name] == name]
        select = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(expr, _ident(name)) for name, expr in selected
        )
        row = self.query(sql.SQL("SELECT {} FROM {}").format(select, self.table))[0]
        values = {name: value for (name, _), value in zip(selected, row, strict=True)}
        return {name: values[same[name]] for name, _ in items}

    # --- the run ----------------------------------------------------------------------------

    def run(self, on_progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """1. plan (missing columns are not applicable); 2. aggregate; 3. per-check queries."""
        results: dict[int, dict[str, Any]] = {}
        plan: dict[int, dict[str, Any]] = {}
        for index, spec in enumerate(self.specs):
            needed = _columns_of(spec)
            missing = [c for c in needed if c not in self.available]
            if missing:
                results[index] = column_missing_result(spec, missing, self.available)
            else:
                plan[index] = spec
        agg = self.aggregate(plan)
        if any(spec["kind"] == "unique" for spec in plan.values()):
            self.unique_indexes = self._find_unique_indexes()
        for done, (index, spec) in enumerate(plan.items(), start=1):
            results[index] = self.finish(index, spec, agg)
            if on_progress:
                on_progress(min(99, int(done * 100 / max(len(plan), 1))))
        return [results[i] for i in range(len(self.specs))]

    def finish(self, index: int, spec: dict[str, Any], agg: dict[str, Any]) -> dict[str, Any]:
        kind = spec["kind"]
        total = int(agg["total"])
        nulls = int(agg.get(f"c{index}_nulls") or 0)
        if kind == "row_count":
            return row_count_result(spec, total)
        if kind == "not_null":
            return self._not_null(spec, total, nulls)
        if kind in MAP_KINDS:
            return self._map(index, spec, agg, total, nulls)
        if kind == "unique":
            return self._unique(spec, total, nulls)
        if kind == "freshness":
            latest = agg[f"c{index}_latest"]
            return freshness_result(spec, self.ctx.now, _as_utc(latest), total, nulls)
        if kind == "schema_drift":
            return schema_drift_result(spec, self.ctx)
        if kind == "distribution_drift":
            return self._drift(index, spec, agg, total, nulls)
        if kind == "fairness":
            return self._fairness(index, spec, agg)
        if kind == "pii_scan":
            return self._pii(spec, total)
        if kind == "retention":
            expired = agg.get(f"c{index}_expired")
            return retention_facts_result(
                spec,
                self.ctx,
                total=total,
                expired_rows=None if expired is None else int(expired),
                nulls=agg.get(f"c{index}_nulls"),
            )
        return not_applicable_result(spec, f"{kind} does not run against a table")

    def _not_null(self, spec: dict[str, Any], total: int, nulls: int) -> dict[str, Any]:
        success = total == 0 or (total - nulls) / total >= spec.get("mostly", 1.0)
        result = make_result(
            spec=spec,
            success=success,
            element_count=total,
            missing_count=nulls,
            unexpected_count=nulls,
            partial=[None] * min(nulls, PARTIAL_LIMIT),
            details={"mostly": spec.get("mostly", 1.0), "rule": "non_null / all rows >= mostly"},
        )
        result["unexpected_percent"] = result["unexpected_percent_total"]
        result["partial_unexpected_counts"] = [{"value": None, "count": nulls}] if nulls else []
        return result

    def _examples(self, column: str, condition: Any, having: Any = None) -> dict[Any, int]:
        sql = _sql()
        col = _ident(column)
        statement = sql.SQL("SELECT {c}, COUNT(*) FROM {t} WHERE {w} GROUP BY {c}").format(
            c=col, t=self.table, w=condition
        )
        if having is not None:
            statement += sql.SQL(" HAVING {}").format(having)
        statement += sql.SQL(" ORDER BY COUNT(*) DESC, {} LIMIT {}").format(
            col, _lit(PARTIAL_LIMIT)
        )
        return {json_value(v): int(n) for v, n in self.query(statement)}

    def _examples_and_rows(self, column: str, condition: Any) -> tuple[dict[Any, int], int]:
        """The PARTIAL_LIMIT most frequent values meeting `condition`, and how many rows
        meet it in all (summed over every group before the LIMIT): one scan for both."""
        sql = _sql()
        col = _ident(column)
        statement = sql.SQL(
            "SELECT {c}, COUNT(*), SUM(COUNT(*)) OVER () FROM {t} WHERE {w} GROUP BY {c} "
            "ORDER BY COUNT(*) DESC, {c} LIMIT {n}"
        ).format(c=col, t=self.table, w=condition, n=_lit(PARTIAL_LIMIT))
        rows = self.query(statement)
        return {json_value(v): int(n) for v, n, _ in rows}, int(rows[0][2]) if rows else 0

    def _map(
        self, index: int, spec: dict[str, Any], agg: dict[str, Any], total: int, nulls: int
    ) -> dict[str, Any]:
        non_null = total - nulls
        mostly = spec.get("mostly", 1.0)
        if f"c{index}_bad" in agg:
            bad = int(agg[f"c{index}_bad"] or 0)
            success = non_null == 0 or (non_null - bad) / non_null >= mostly
            examples = (
                {}
                if success or not bad
                else self._examples(spec["column"], unexpected_condition(spec))
            )
        elif _inside(spec, agg[f"c{index}_min"], agg[f"c{index}_max"]):
            bad, success, examples = 0, True, {}
        else:  # some value is out: count them (and keep the examples if the check fails)
            examples, bad = self._examples_and_rows(spec["column"], unexpected_condition(spec))
            success = non_null == 0 or (non_null - bad) / non_null >= mostly
            examples = {} if success else examples
        details = {k: spec.get(k) for k in spec if k not in ("kind", "column", "severity", "name")}
        if (
            spec["kind"] == "range"
            and f"c{index}_min" in agg
            and not self.ctx.masks.get(spec["column"])
        ):
            details["observed_min"] = json_value(agg[f"c{index}_min"])
            details["observed_max"] = json_value(agg[f"c{index}_max"])
        return make_result(
            spec=spec,
            success=success,
            element_count=total,
            missing_count=nulls,
            unexpected_count=bad,
            partial=list(examples),
            partial_counts=examples,
            mask=self.ctx.masks.get(spec["column"]),
            details=details,
        )

    def _find_unique_indexes(self) -> dict[str, str]:
        """Columns that a valid, single-column, non-partial unique index (or PK) covers."""
        sql = _sql()
        rows = self.query(
            sql.SQL(
                "SELECT a.attname, ic.relname FROM pg_index i "
                "JOIN pg_class t ON t.oid = i.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "JOIN pg_class ic ON ic.oid = i.indexrelid "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
                "WHERE n.nspname = {s} AND t.relname = {t} AND i.indisunique AND i.indisvalid "
                "AND i.indnkeyatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL"
            ).format(s=_lit(self.source.schema), t=_lit(self.source.table))
        )
        return {column: index for column, index in rows}

    def _duplicates(self, column: str) -> tuple[int, int]:
        """(values that occur more than once, rows holding them); (0, 0) if an index proves it."""
        if column in self.unique_indexes:
            return 0, 0
        sql = _sql()
        groups = sql.SQL(
            "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM (SELECT {c}, COUNT(*) AS n FROM {t} "
            "WHERE {c} IS NOT NULL GROUP BY {c} HAVING COUNT(*) > 1) AS dup"
        ).format(c=_ident(column), t=self.table)
        found = self.query(groups)[0]
        return int(found[0]), int(found[1])

    def _unique(self, spec: dict[str, Any], total: int, nulls: int) -> dict[str, Any]:
        sql = _sql()
        col = _ident(spec["column"])
        dup_values, dup_rows = self._duplicates(spec["column"])
        non_null = total - nulls
        mostly = spec.get("mostly", 1.0)
        success = non_null == 0 or (non_null - dup_rows) / non_null >= mostly
        examples = {}
        if not success:
            examples = self._examples(
                spec["column"], sql.SQL("{} IS NOT NULL").format(col), sql.SQL("COUNT(*) > 1")
            )
        partial = [v for v, n in examples.items() for _ in range(n)][:PARTIAL_LIMIT]
        return make_result(
            spec=spec,
            success=success,
            observed_value=dup_values,
            element_count=total,
            missing_count=nulls,
            unexpected_count=dup_rows,
            partial=partial,
            partial_counts=examples,
            mask=self.ctx.masks.get(spec["column"]),
            details={
                "duplicate_rows": dup_rows,
                "duplicate_values": dup_values,
                "mostly": mostly,
                "proved_by_index": self.unique_indexes.get(spec["column"]),
            },
        )

    def _drift(
        self, index: int, spec: dict[str, Any], agg: dict[str, Any], total: int, nulls: int
    ) -> dict[str, Any]:
        """Rebuild a DistributionDriftCheck's state from SQL counts, then let it decide."""
        sql = _sql()
        check = DistributionDriftCheck(spec, self.ctx, index)
        check.total, check.nulls = total, nulls
        col = _ident(spec["column"])
        numeric = check.numeric if check.numeric is not None else self._numeric(spec["column"])
        check.numeric = numeric
        if numeric:
            lo, hi = agg.get(f"c{index}_min"), agg.get(f"c{index}_max")
            if lo is not None:
                edges = equal_width_edges(float(lo), float(hi))
                rows = self.query(
                    sql.SQL(
                        "SELECT LEAST(width_bucket({c}::float8, {lo}, {hi}, {b}), {b}), COUNT(*) "
                        "FROM {t} WHERE {c} IS NOT NULL GROUP BY 1"
                    ).format(
                        c=col, lo=_lit(edges[0]), hi=_lit(edges[-1]), b=_lit(BINS), t=self.table
                    )
                )
                own = [0] * BINS
                for bucket, n in rows:
                    own[max(1, int(bucket)) - 1] += int(n)
                check.lo, check.hi = float(lo), float(hi)
                check.own_override = {
                    "type": "numeric",
                    "edges": edges,
                    "counts": own,
                    "n": sum(own),
                    "sample_size": sum(own),
                }
            check.ref_bins = [int(agg.get(f"c{index}_bin{b}") or 0) for b in range(BINS)]
        else:
            rows = self.query(
                sql.SQL(
                    "SELECT {c}::text, COUNT(*) FROM {t} WHERE {c} IS NOT NULL GROUP BY 1 "
                    "ORDER BY 2 DESC, 1 LIMIT {n}"
                ).format(c=col, t=self.table, n=_lit(MAX_CATEGORIES))
            )
            for value, n in rows:
                check.categories[value] += int(n)
        return check.finish()

    def _pii(self, spec: dict[str, Any], total: int) -> dict[str, Any]:
        sql = _sql()
        rows = []
        for column in spec.get("columns") or self.available:
            col = _ident(column)
            values = self.query(
                sql.SQL("SELECT DISTINCT {c} FROM {t} WHERE {c} IS NOT NULL LIMIT {n}").format(
                    c=col, t=self.table, n=_lit(SAMPLE_LIMIT)
                )
            )
            rows.append(
                pii_compare(column, self.ctx.declared_pii.get(column, ""), [v for (v,) in values])
            )
        return pii_result(spec, rows, total)

    def _fairness(self, index: int, spec: dict[str, Any], agg: dict[str, Any]) -> dict[str, Any]:
        sql = _sql()
        groups = [_ident(c) for c in spec["protected"]]
        pos = _lit(str(spec.get("pos_label", 1)))
        y = sql.SQL("({}::text = {})").format(_ident(spec["label"]), pos)
        yhat = (
            sql.SQL("({}::text = {})").format(_ident(spec["prediction"]), pos)
            if spec.get("prediction")
            else y
        )
        w = (
            sql.SQL("{}::float8").format(_ident(spec["weight"]))
            if spec.get("weight")
            else sql.SQL("1.0")
        )
        sums = {
            "n": sql.SQL("COUNT(*)"),
            "label_pos": sql.SQL("COUNT(*) FILTER (WHERE {})").format(y),
            "pred_pos": sql.SQL("COUNT(*) FILTER (WHERE {})").format(yhat),
            "w": sql.SQL("SUM({})").format(w),
            "w_label_pos": sql.SQL("COALESCE(SUM({}) FILTER (WHERE {}), 0)").format(w, y),
            "w_pred_pos": sql.SQL("COALESCE(SUM({}) FILTER (WHERE {}), 0)").format(w, yhat),
            "w_tp": sql.SQL("COALESCE(SUM({}) FILTER (WHERE {} AND {}), 0)").format(w, y, yhat),
            "w_fn": sql.SQL("COALESCE(SUM({}) FILTER (WHERE {} AND NOT {}), 0)").format(w, y, yhat),
            "w_fp": sql.SQL("COALESCE(SUM({}) FILTER (WHERE NOT {} AND {}), 0)").format(w, y, yhat),
            "w_tn": sql.SQL("COALESCE(SUM({}) FILTER (WHERE NOT {} AND NOT {}), 0)").format(
                w, y, yhat
            ),
        }
        needed = [spec["label"], *spec["protected"]]
        needed += [c for c in (spec.get("prediction"), spec.get("weight")) if c]
        where = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(_ident(c)) for c in needed)
        statement = sql.SQL("SELECT {g}, {s} FROM {t} WHERE {w} GROUP BY {g}").format(
            g=sql.SQL(", ").join(groups),
            s=sql.SQL(", ").join(sums[f] for f in FIELDS),
            t=self.table,
            w=where,
        )
        counts: dict[tuple, dict[str, float]] = {}
        width = len(groups)
        for row in self.query(statement):
            key = tuple(json_value(v) for v in row[:width])
            merge_counts(
                counts, {key: {f: float(v) for f, v in zip(FIELDS, row[width:], strict=True)}}
            )
        return fairness_result(spec, counts, int(agg.get(f"c{index}_excluded") or 0))


def _number_bounds(spec: dict[str, Any]) -> bool:
    bounds = (spec.get("min_value"), spec.get("max_value"))
    return all(b is None or isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)


def _inside(spec: dict[str, Any], low: Any, high: Any) -> bool:
    """True when a numeric range check's observed MIN and MAX prove every value in range
    (no non-null value: nothing is out). NaN proves nothing (PostgreSQL sorts it above
    every number; the rows are counted instead)."""
    if low is None:
        return True
    if _is_nan(low) or _is_nan(high):
        return False
    lo, hi = spec.get("min_value"), spec.get("max_value")
    if lo is not None and (low <= lo if spec.get("strict_min") else low < lo):
        return False
    return not (hi is not None and (high >= hi if spec.get("strict_max") else high > hi))


def _is_nan(value: Any) -> bool:
    is_nan = getattr(value, "is_nan", None)  # Decimal's NaN refuses comparisons
    return bool(is_nan()) if is_nan is not None else value != value


def _as_utc(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        import pandas as pd

        return (
            pd.Timestamp(value, tz="UTC")
            if pd.Timestamp(value).tzinfo is None
            else pd.Timestamp(value)
        )
    return value


def _columns_of(spec: dict[str, Any]) -> list[str]:
    if spec["kind"] == "pii_scan":
        return list(spec.get("columns") or [])
    if spec["kind"] == "retention":
        return [spec["date_column"]] if spec.get("date_column") else []
    if spec["kind"] == "fairness":
        return [
            spec["label"],
            *spec["protected"],
            *[c for c in (spec.get("prediction"), spec.get("weight")) if c],
        ]
    return [spec["column"]] if spec.get("column") else []


def run_pushdown(
    source: Any,
    specs: list[dict[str, Any]],
    ctx: CheckContext,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run `specs` against a PostgreSQL table; return the results and the queries run."""
    run = PushdownRun(source, specs, ctx)
    results = run.run(on_progress)
    return results, run.evidence
