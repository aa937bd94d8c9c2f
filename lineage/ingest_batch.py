"""What the events of one OpenLineage batch share (lineage/ingest.py applies them): posters,
their runs, jobs, datasets by OpenLineage name and the posters' rights on those datasets, each
read once per batch in a constant number of queries."""

import uuid
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from access.policies import datasets_for
from catalog.models import Dataset
from lineage.models import DatasetRef, Job, LineageEvent, Run
from lineage.openlineage import DatasetSpec, ParsedEvent, parse_payload


class EventBatch:
    """What the events of one batch share: posters, their runs (locked), datasets by OpenLineage
    name, the posters' rights on those datasets, jobs. All but the posters are forgotten when a
    savepoint rolls back (rows it created are gone, rows it changed are as they were)."""

    def __init__(self, events: list[LineageEvent]) -> None:
        ids = {e.submitted_by_id for e in events if e.submitted_by_id}
        self.users: dict[int, AbstractBaseUser] = get_user_model().objects.in_bulk(ids)
        self.events = events
        self.parsed: dict[int, ParsedEvent] = {}
        self.forget()

    def forget(self) -> None:
        self.datasets: dict[tuple[str, str], Dataset] = {}
        self.rights: dict[tuple[int, str, int], bool] = {}
        self.jobs: dict[tuple[str, str], Job] = {}
        self.runs: dict[uuid.UUID, Run | None] = {}  # None: known not to exist yet
        self.job_edges: dict[int, dict[tuple, tuple[int, datetime]]] = {}  # job pk -> open edges
        self.matched: set[tuple[str, str]] = set()  # names looked up among catalog datasets
        self.by_location: dict[str, Dataset] = {}
        self.by_name: dict[str, Dataset] = {}

    def preload(self) -> None:
        """Read what the whole batch names in a constant number of queries: its runs (locked),
        its jobs, its datasets by OpenLineage name, and each poster's view right on them."""
        run_ids = {e.run_id for e in self.events if e.run_id}
        self.runs = dict.fromkeys(run_ids)
        self.runs.update(
            {
                r.run_id: r
                for r in Run.objects.select_for_update().filter(run_id__in=run_ids).order_by("pk")
            }
        )
        named: dict[int | None, set[tuple[str, str]]] = {}
        jobs: set[tuple[str, str]] = set()
        for event in self.events:
            parsed = self.parsed_event(event)
            specs = parsed.inputs + parsed.outputs + ([parsed.dataset] if parsed.dataset else [])
            named.setdefault(event.submitted_by_id, set()).update(
                (s.namespace, s.name) for s in specs
            )
            if parsed.job:
                jobs.add((parsed.job[0][:500], parsed.job[1][:500]))
        self._load_jobs(jobs)
        self.load_datasets(set().union(*named.values()))
        for user_id, keys in named.items():
            user = self.users.get(user_id) if user_id else None
            found = [self.datasets[k] for k in keys if k in self.datasets]
            if user is not None and found:
                self.allowed(user, "view", found)

    def parsed_event(self, event: LineageEvent) -> ParsedEvent:
        if event.pk not in self.parsed:
            self.parsed[event.pk] = parse_payload(event.payload, key=event.dedupe_key)
        return self.parsed[event.pk]

    def _load_jobs(self, keys: set[tuple[str, str]]) -> None:
        if keys:
            query = Q()
            for namespace, name in keys:
                query |= Q(namespace=namespace, name=name)
            self.jobs.update({(j.namespace, j.name): j for j in Job.objects.filter(query)})

    def load_datasets(self, keys: set[tuple[str, str]]) -> None:
        """Datasets by (namespace, name): one query on the unique index of DatasetRef."""
        unknown = keys - self.datasets.keys()
        if unknown:
            query = Q()
            for namespace, name in unknown:
                query |= Q(namespace=namespace, name=name)
            for ref in DatasetRef.objects.select_related("dataset").filter(query):
                self.datasets[(ref.namespace, ref.name)] = ref.dataset
        self._load_matches(keys - self.datasets.keys() - self.matched)

    def _load_matches(self, keys: set[tuple[str, str]]) -> None:
        """Catalog datasets that names without a DatasetRef may be: by location (the name, or
        namespace/name) or by catalog name. One query for all of them (location has no index:
        one scan per batch, not one per name)."""
        if not keys:
            return
        self.matched |= keys
        locations = {n for _, n in keys} | {f"{ns}/{n}" for ns, n in keys}
        names = {n for _, n in keys}
        query = Q(location__in=locations) | Q(name__in=names)
        for dataset in Dataset.objects.filter(query).order_by("pk"):
            self.remember(dataset)

    def remember(self, dataset: Dataset) -> None:
        self.by_location.setdefault(dataset.location, dataset)
        self.by_name.setdefault(dataset.name, dataset)

    def match(self, spec: DatasetSpec) -> Dataset | None:
        """The oldest catalog dataset whose location or name is the OpenLineage name."""
        self._load_matches({(spec.namespace, spec.name)} - self.matched)
        found = [
            self.by_location.get(spec.name),
            self.by_location.get(f"{spec.namespace}/{spec.name}"),
            self.by_name.get(spec.name),
        ]
        return min((d for d in found if d is not None), key=lambda d: d.pk, default=None)

    def allowed(self, user: AbstractBaseUser, action: str, datasets: list[Dataset]) -> set[int]:
        """Ids among `datasets` the user may `action`: one policy query for those not yet known."""
        unknown = {d.pk for d in datasets if (user.pk, action, d.pk) not in self.rights}
        if unknown:
            granted = set(
                datasets_for(user, action).filter(pk__in=unknown).values_list("pk", flat=True)
            )
            for pk in unknown:
                self.rights[(user.pk, action, pk)] = pk in granted
        return {d.pk for d in datasets if self.rights[(user.pk, action, d.pk)]}
