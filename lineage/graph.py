"""Lay out a lineage graph left to right, in layers, for server-side SVG (no JavaScript needed).

Layers come from the flow of data: a node sits one layer right of its furthest-left input
(longest path), cycles are broken where a back edge is found, and the order inside a layer is
improved by a few barycentre sweeps so edges cross less. Pure Python; fine for hundreds of nodes.
"""

from collections import defaultdict
from dataclasses import dataclass

from lineage.selectors import NodeInfo, NodeKey, Walk

NODE_W, NODE_H = 190, 46
GAP_X, GAP_Y = 90, 22
PAD = 24


@dataclass
class PlacedNode:
    info: NodeInfo
    x: int
    y: int
    is_start: bool
    expand_url: str

    @property
    def cx(self) -> int:
        return self.x + NODE_W // 2

    @property
    def short_label(self) -> str:
        label = self.info.label
        return label if len(label) <= 24 else label[:22] + "…"

    @property
    def job_points(self) -> str:
        w, h, m = NODE_W, NODE_H, 12
        return f"{m},0 {w - m},0 {w},{h // 2} {w - m},{h} {m},{h} 0,{h // 2}"

    @property
    def kind_label(self) -> str:
        return {"dataset": "dataset", "job": "job", "model_version": "model version"}.get(
            self.info.kind, ""
        )

    @property
    def short_sub(self) -> str:
        sub = self.info.sub or ""
        return sub if len(sub) <= 30 else "…" + sub[-28:]


@dataclass
class PlacedEdge:
    path: str
    kind: str


def _layers(
    nodes: list[NodeKey], edges: list[tuple[NodeKey, NodeKey]], start: NodeKey
) -> dict[NodeKey, int]:
    succ: dict[NodeKey, list[NodeKey]] = defaultdict(list)
    indeg: dict[NodeKey, int] = {n: 0 for n in nodes}
    for a, b in edges:
        if a != b:
            succ[a].append(b)
            indeg[b] += 1
    layer = {n: 0 for n in nodes}
    ready = [n for n in nodes if indeg[n] == 0]
    done: set[NodeKey] = set()
    while len(done) < len(nodes):
        if not ready:  # a cycle: break it at the unfinished node with the fewest open inputs
            pick = min((n for n in nodes if n not in done), key=lambda n: (indeg[n], n))
            ready.append(pick)
            indeg[pick] = 0
        node = ready.pop()
        if node in done:
            continue
        done.add(node)
        for nxt in succ[node]:
            if nxt in done:
                continue
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indeg[nxt] -= 1
            if indeg[nxt] == 0:
                ready.append(nxt)
    shift = layer.get(start, 0)
    return {n: layer[n] - shift for n in nodes}


def layout(
    walk: Walk, details: dict[NodeKey, NodeInfo], expand_url: "callable"
) -> dict[str, object]:
    """Place every node of `walk` and route its edges; returns what the SVG template draws."""
    keys = list(walk.nodes)
    pairs = [
        ((sk, si), (dk, di))
        for sk, si, dk, di, _ in walk.edges.values()
        if (sk, si) in walk.nodes and (dk, di) in walk.nodes
    ]
    layer = _layers(keys, pairs, walk.start)
    columns: dict[int, list[NodeKey]] = defaultdict(list)
    for key in sorted(keys, key=lambda k: (details[k].kind, details[k].label, k)):
        columns[layer[key]].append(key)
    preds: dict[NodeKey, list[NodeKey]] = defaultdict(list)
    succs: dict[NodeKey, list[NodeKey]] = defaultdict(list)
    for a, b in pairs:
        preds[b].append(a)
        succs[a].append(b)
    order = sorted(columns)
    for sweep in range(4):
        pos = {k: i for col in columns.values() for i, k in enumerate(col)}
        seq = order if sweep % 2 == 0 else list(reversed(order))
        for col in seq:
            near = preds if sweep % 2 == 0 else succs

            def bary(k: NodeKey, near=near, pos=pos) -> float:
                ns = [pos[n] for n in near[k] if n in pos]
                return sum(ns) / len(ns) if ns else pos[k]

            columns[col].sort(key=bary)
    tallest = max((len(c) for c in columns.values()), default=1)
    height = PAD * 2 + tallest * (NODE_H + GAP_Y)
    placed: dict[NodeKey, PlacedNode] = {}
    min_layer = order[0] if order else 0
    for col in order:
        members = columns[col]
        offset = (tallest - len(members)) * (NODE_H + GAP_Y) // 2
        for i, key in enumerate(members):
            placed[key] = PlacedNode(
                info=details[key],
                x=PAD + (col - min_layer) * (NODE_W + GAP_X),
                y=PAD + offset + i * (NODE_H + GAP_Y),
                is_start=key == walk.start,
                expand_url=expand_url(key),
            )
    edges = []
    for sk, si, dk, di, kind in walk.edges.values():
        a, b = placed.get((sk, si)), placed.get((dk, di))
        if a is None or b is None:
            continue
        x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
        x2, y2 = b.x, b.y + NODE_H // 2
        if x2 <= x1:  # a back edge (cycle): loop around underneath
            low = max(a.y, b.y) + NODE_H + GAP_Y // 2
            path = f"M{x1},{y1} C{x1 + 40},{low} {x2 - 40},{low} {x2},{y2}"
        else:
            mid = (x1 + x2) // 2
            path = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
        edges.append(PlacedEdge(path=path, kind=kind))
    width = PAD * 2 + len(order) * (NODE_W + GAP_X) - GAP_X if order else 200
    return {
        "nodes": list(placed.values()),
        "edges": edges,
        "width": max(width, 200),
        "height": max(height, 120),
        "node_w": NODE_W,
        "node_h": NODE_H,
    }
