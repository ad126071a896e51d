"""The registry state, read from all tags in one ``git for-each-ref`` pass.

GTO reads tags one by one (seconds at 1,000 tags); here one pass gives every tag's
name, type, peeled commit, tagger, date and message, which are turned into events and
then into per-artifact state with GTO's semantics (``gto/base.py``, ``gto show``'s
default ``--sort timestamp``):

- only annotated tags count; a version is active when its newest registration event is
  a registration (not a deregistration), or when it was never registered but has stage
  events;
- a stage's holder is, among active versions, the one whose newest assignment to that
  stage (not followed by an unassignment of the same version and stage) is the newest;
  unassigning the holder hands the stage back to the previous such version;
- an artifact is deprecated when its newest event is a deprecation.

Events that share a timestamp are ordered by GTO's priorities (registration before
deregistration, assignment before unassignment, deprecation first), then by counter.
mlx never writes two events of one artifact in the same second (see
:mod:`mlx.registry.promote`), so its own tags never depend on that tie-break.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlx.adapters.git import Git
from mlx.registry import tags as T

_FIELDS = (
    "refname:lstrip=2",
    "objecttype",
    "*objectname",
    "*objecttype",
    "taggername",
    "taggeremail",
    "taggerdate:iso-strict",
    "contents",
)


@dataclass(frozen=True)
class TagRecord:
    tag: str
    annotated: bool
    commit: str  # the peeled commit ("" for lightweight tags, which are ignored)
    author: str
    author_email: str
    created_at: datetime | None
    message: str


@dataclass
class Event:
    """One registry action: what a GTO tag means."""

    kind: str  # registration | deregistration | assignment | unassignment | deprecation
    artifact: str
    tag: str
    commit: str
    created_at: datetime
    author: str
    author_email: str
    message: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None

    sort_key: tuple[datetime, int, int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the order of events: date, then GTO's priority, then counter (computed once)
        self.sort_key = (self.created_at, T.PRIORITY[self.kind], self.counter or 0, self.tag)

    @property
    def title(self) -> str:
        return self.message.splitlines()[0] if self.message else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "artifact": self.artifact,
            "version": self.version,
            "stage": self.stage,
            "commit": self.commit,
            "tag": self.tag,
            "created_at": self.created_at.isoformat(),
            "author": self.author,
            "author_email": self.author_email,
            "message": self.message,
        }


@dataclass
class VersionState:
    artifact: str
    version: str  # vX.Y.Z, or the commit sha for a never-registered version
    commit: str
    registrations: list[Event] = field(default_factory=list)
    deregistrations: list[Event] = field(default_factory=list)
    stage_events: dict[str, list[Event]] = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        return bool(self.registrations)

    @property
    def deregistered(self) -> bool:
        direct = self.registrations + self.deregistrations
        return bool(direct) and max(direct, key=lambda e: e.sort_key).kind == T.DEREGISTRATION

    @property
    def active(self) -> bool:
        direct = self.registrations + self.deregistrations
        if direct:
            return not self.deregistered
        return any(self.stage_events.values())

    @property
    def registration(self) -> Event | None:
        return max(self.registrations, key=lambda e: e.sort_key) if self.registrations else None

    def stage_active(self, stage: str) -> Event | None:
        """The newest assignment to ``stage`` when it was not unassigned since, else None."""
        events = self.stage_events.get(stage) or []
        if not events or events[-1].kind != T.ASSIGNMENT:
            return None
        return events[-1]

    def active_stages(self) -> dict[str, Event]:
        out = {}
        for stage in self.stage_events:
            ev = self.stage_active(stage)
            if ev is not None:
                out[stage] = ev
        return out


@dataclass
class ArtifactState:
    name: str
    versions: dict[str, VersionState] = field(default_factory=dict)
    deprecations: list[Event] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # oldest first
    max_counter: int = 0
    _by_commit: dict[str, list[VersionState]] = field(default_factory=dict, repr=False)
    _holders: dict[str, tuple[VersionState, Event]] | None = field(default=None, repr=False)

    @property
    def deprecated(self) -> bool:
        return bool(self.events) and self.events[-1].kind == T.DEPRECATION

    @property
    def next_counter(self) -> int:
        return self.max_counter + 1

    def version(self, version: str) -> VersionState | None:
        return self.versions.get(version)

    def at_commit(self, commit: str) -> VersionState | None:
        """The registered version at ``commit`` (the newest registration wins)."""
        found = [v for v in self._by_commit.get(commit, ()) if v.registered]
        if not found:
            return None
        return max(found, key=lambda v: v.registration.sort_key)  # type: ignore[union-attr]

    def active_versions(self) -> list[VersionState]:
        """Active registered versions, highest SemVer first."""
        return sorted(
            (v for v in self.versions.values() if v.registered and v.active),
            key=lambda v: T.SemVer(v.version),
            reverse=True,
        )

    def latest(self) -> VersionState | None:
        versions = self.active_versions()
        return versions[0] if versions else None

    def greatest_ever(self) -> T.SemVer | None:
        """The highest version ever registered, deregistered ones included."""
        seen = [T.SemVer(v.version) for v in self.versions.values() if v.registered]
        return max(seen) if seen else None

    def holders(self) -> dict[str, tuple[VersionState, Event]]:
        """Stage → (version holding it, the assignment that made it so)."""
        if self._holders is None:
            self._holders = self._compute_holders()
        return self._holders

    def _compute_holders(self) -> dict[str, tuple[VersionState, Event]]:
        best: dict[str, tuple[VersionState, Event]] = {}
        for v in self.versions.values():
            if not v.active:
                continue
            for stage, ev in v.active_stages().items():
                if stage not in best or ev.sort_key > best[stage][1].sort_key:
                    best[stage] = (v, ev)
        return best

    def holder(self, stage: str) -> tuple[VersionState, Event] | None:
        return self.holders().get(stage)

    def stages_of(self, version: VersionState) -> list[str]:
        """Stages ``version`` currently holds."""
        return sorted(s for s, (v, _) in self.holders().items() if v is version)


class Registry:
    """Every artifact's state; build it with :meth:`load` (one git call)."""

    def __init__(self, records: list[TagRecord]) -> None:
        self.records = {r.tag: r for r in records}
        self.artifacts: dict[str, ArtifactState] = {}
        self._by_tag: dict[str, Event] = {}
        self._counters: dict[str, int] = {}
        self._build(records)

    @classmethod
    def load(cls, git: Git) -> Registry:
        rows = git.for_each_ref("refs/tags", _FIELDS)
        return cls([_record(row) for row in rows])

    # --- queries ---------------------------------------------------------------------

    def artifact(self, name: str) -> ArtifactState | None:
        return self.artifacts.get(name)

    def event_for_tag(self, tag: str) -> Event | None:
        return self._by_tag.get(tag.removeprefix("refs/tags/"))

    def tag_exists(self, tag: str) -> bool:
        return tag in self.records

    def next_counter(self, name: str) -> int:
        """``N`` for the artifact's next stage tag: the highest counter in any tag + 1."""
        return self._counters.get(name, 0) + 1

    def newest_time(self, name: str) -> datetime | None:
        """When the artifact's newest tag was made (for keeping events strictly ordered)."""
        art = self.artifacts.get(name)
        return art.events[-1].created_at if art and art.events else None

    # --- building --------------------------------------------------------------------

    def _build(self, records: list[TagRecord]) -> None:
        parsed = []
        for rec in records:
            p = T.parse_tag(rec.tag)
            if p is None:
                continue
            if p.counter is not None:  # lightweight tags take counters too (as in GTO)
                self._counters[p.name] = max(self._counters.get(p.name, 0), p.counter)
            if rec.annotated and rec.commit and rec.created_at is not None:
                parsed.append((p, rec))
        # Registrations first, so stage events can find the version at their commit
        # whatever their dates (GTO indexes versions before stages too).
        order = {T.REGISTRATION: 0, T.DEREGISTRATION: 0, T.DEPRECATION: 0, T.CREATION: 0}
        parsed.sort(key=lambda pr: (order.get(pr[0].action, 1), pr[1].created_at, pr[0].tag))
        for p, rec in parsed:
            art = self.artifacts.get(p.name)
            if art is None:
                art = self.artifacts[p.name] = ArtifactState(p.name)
            ev = Event(
                kind=p.action,
                artifact=p.name,
                tag=rec.tag,
                commit=rec.commit,
                created_at=rec.created_at,  # type: ignore[arg-type]
                author=rec.author,
                author_email=rec.author_email,
                message=rec.message.strip(),
                version=p.version,
                stage=p.stage,
                counter=p.counter,
            )
            if p.action in (T.REGISTRATION, T.DEREGISTRATION):
                assert p.version is not None  # a (de)registration tag always names a version
                v = art.versions.get(p.version)
                if v is None:
                    v = art.versions[p.version] = VersionState(p.name, p.version, rec.commit)
                    art._by_commit.setdefault(rec.commit, []).append(v)
                (v.registrations if p.action == T.REGISTRATION else v.deregistrations).append(ev)
            elif p.action in (T.ASSIGNMENT, T.UNASSIGNMENT):
                v = art.at_commit(rec.commit) or art.versions.get(rec.commit)
                if v is None:  # a stage on a commit never registered: GTO names it by sha
                    v = art.versions[rec.commit] = VersionState(p.name, rec.commit, rec.commit)
                ev.version = v.version
                v.stage_events.setdefault(p.stage, []).append(ev)  # type: ignore[arg-type]
            elif p.action == T.DEPRECATION:
                art.deprecations.append(ev)
            else:  # `NAME@created`: GTO parses it but never writes it; not an event here
                continue
            art.events.append(ev)
            self._by_tag[rec.tag] = ev
        for art in self.artifacts.values():
            art.max_counter = self._counters.get(art.name, 0)
            art.events.sort(key=lambda e: e.sort_key)
            for v in art.versions.values():
                for events in v.stage_events.values():
                    events.sort(key=lambda e: e.sort_key)


def _record(row: list[str]) -> TagRecord:
    tag, objtype, peeled, peeled_type, name, email, date, contents = row
    annotated = objtype == "tag" and peeled_type == "commit"
    created = datetime.fromisoformat(date) if date else None
    return TagRecord(
        tag=tag,
        annotated=annotated,
        commit=peeled if annotated else "",
        author=name,
        author_email=email.strip("<>"),
        created_at=created,
        message=contents,
    )
