"""The IncidentStore behaviour every backend must show, written once and run against each.

A backend's test module subclasses `StoreContract` (and `PersistenceContract` when the database
outlives a store, which `:memory:` does not) and provides a `backend` fixture returning a
`Backend`: how to open a store on one database, and how to run raw SQL on it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from pydantic import ValidationError

from aegis.core.models import (
    AuditRecord,
    Category,
    Diagnosis,
    Evidence,
    EvidenceId,
    EvidenceKind,
    FixProposal,
    Incident,
    IncidentId,
    IncidentSource,
    IncidentState,
    ObjectRef,
    PatchOperation,
    RCAResult,
    Risk,
    Silence,
)
from aegis.core.store import IncidentExistsError, IncidentStore, SchemaTooNewError, open_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = IncidentState


class Backend:
    """One database of one backend: open stores on it (all closed at teardown) and run raw SQL."""

    migrations: Sequence[tuple[str, ...]] = ()

    def __init__(self, location: str) -> None:
        self.location = location
        self.stores: list[IncidentStore] = []

    async def open(self) -> IncidentStore:
        store = await open_store(self.location)
        self.stores.append(store)
        return store

    async def close_all(self) -> None:
        for store in self.stores:
            await store.close()
        self.stores.clear()

    async def execute(self, sql: str) -> None:
        raise NotImplementedError

    async def schema_versions(self) -> list[int]:
        raise NotImplementedError


def incident(
    incident_id: str,
    *,
    minutes: int = 0,
    receiver: str | None = None,
    group_key: str | None = None,
    state: IncidentState = S.OPEN,
    **fields: object,
) -> Incident:
    at = T0 + timedelta(minutes=minutes)
    return Incident.model_validate(
        {
            "id": incident_id,
            "source": IncidentSource.ALERTMANAGER if group_key else IncidentSource.SLASH_COMMAND,
            "state": state,
            "title": f"incident {incident_id}",
            "receiver": receiver,
            "group_key": group_key,
            "created_at": at,
            "updated_at": at,
            **fields,
        }
    )


def diagnosis() -> Diagnosis:
    deployment = ObjectRef(kind="Deployment", namespace="shop", name="api")
    return Diagnosis(
        target=ObjectRef(kind="Pod", namespace="shop", name="api-7d9f-abcde"),
        workload=deployment,
        rca=RCAResult(
            category=Category.OOM_KILLED,
            summary="The container exceeds its 128Mi memory limit — OOMKilled 5 times.",
            confidence=0.9,
            analysis_steps=["1. status — OOMKilled [E1]"],
            evidence_summary=["exit 137 [E1]"],
            evidence_ids=[EvidenceId("E1")],
        ),
        evidence=[Evidence(id=EvidenceId("E1"), kind=EvidenceKind.STATUS, summary="OOMKilled", excerpt="reason: OOMKilled ünïcode")],
        fix=FixProposal(
            target=deployment,
            patch=[
                PatchOperation(op="test", path="/spec/template/spec/containers/0/resources/limits/memory", value="128Mi"),
                PatchOperation(op="replace", path="/spec/template/spec/containers/0/resources/limits/memory", value="256Mi"),
            ],
            summary="Double the memory limit",
            decision_rationale="The working set grows past the limit under normal load.",
            risk=Risk.LOW,
        ),
        analyzed_at=T0,
        duration_ms=12.5,
    )


class StoreContract:
    """Behaviour of one store on one database."""

    @pytest_asyncio.fixture
    async def store(self, backend: Backend) -> AsyncIterator[IncidentStore]:
        yield await backend.open()
        await backend.close_all()

    async def test_create_then_get_round_trips_every_field(self, store: IncidentStore) -> None:
        """A stored incident comes back equal, diagnosis, target, labels and timestamps included."""
        original = incident(
            "INC-1",
            receiver="slack",
            group_key='{}:{alertname="KubePodCrashLooping"}',
            target=ObjectRef(kind="Pod", namespace="shop", name="api-7d9f-abcde"),
            requested_by="U123",
            channel="C1",
            thread_ts="1700000000.000100",
            alert_fingerprints=["a1", "b2"],
            labels={"namespace": "shop", "pod": "api"},
            annotations={"summary": "it crashes"},
            repeat_count=2,
            diagnosis=diagnosis(),
            proposal_revision=1,
            severity="critical",
            silence=Silence(id="5e1f-1d", until=T0 + timedelta(hours=4), by="U9", url="http://am.example/#/silences/5e1f-1d"),
            owner="U7",
            alertmanager_url="http://am.example",
            generator_url="http://prometheus.example/graph?g0.expr=up",
        )
        created = await store.create(original)
        assert created == original
        assert await store.get(IncidentId("INC-1")) == original

    async def test_naive_timestamps_are_taken_as_utc(self, store: IncidentStore) -> None:
        """A naive created_at is stored as UTC and comes back timezone-aware."""
        naive = datetime(2026, 3, 1, 12, 0)  # naive on purpose
        created = await store.create(incident("INC-1").model_copy(update={"created_at": naive, "updated_at": naive}))
        assert created.created_at == T0
        assert created.created_at.tzinfo is not None

    async def test_get_unknown_is_none(self, store: IncidentStore) -> None:
        """get() of an id never stored is None, not an error."""
        assert await store.get(IncidentId("INC-404")) is None

    async def test_create_refuses_an_existing_id(self, store: IncidentStore) -> None:
        """A second incident with the same id is refused with IncidentExistsError naming the id."""
        await store.create(incident("INC-1"))
        with pytest.raises(IncidentExistsError, match="INC-1"):
            await store.create(incident("INC-1", minutes=1))

    async def test_one_open_incident_per_alert_group(self, store: IncidentStore) -> None:
        """A second open incident for the same (receiver, group_key) is refused; once the first is terminal a new one is allowed."""
        await store.create(incident("INC-1", receiver="slack", group_key="g"))
        with pytest.raises(IncidentExistsError, match="slack/g"):
            await store.create(incident("INC-2", minutes=1, receiver="slack", group_key="g"))
        await store.create(incident("INC-3", minutes=1, receiver="other", group_key="g"))
        await store.transition(IncidentId("INC-1"), allowed_from={S.OPEN}, to=S.RESOLVED, actor="alertmanager")
        await store.create(incident("INC-2", minutes=2, receiver="slack", group_key="g"))

    async def test_find_by_group_returns_the_newest_even_if_terminal(self, store: IncidentStore) -> None:
        """find_by_group returns the group's newest incident, including a terminal one (a late 'resolved' finds its thread)."""
        assert await store.find_by_group("slack", "g") is None
        await store.create(incident("INC-1", receiver="slack", group_key="g", state=S.RESOLVED))
        await store.create(incident("INC-2", minutes=5, receiver="slack", group_key="g"))
        await store.create(incident("INC-3", minutes=9, receiver="slack", group_key="other"))
        found = await store.find_by_group("slack", "g")
        assert found is not None and found.id == "INC-2"
        await store.transition(IncidentId("INC-2"), allowed_from={S.OPEN}, to=S.REJECTED, actor="U1")
        found = await store.find_by_group("slack", "g")
        assert found is not None and found.id == "INC-2" and found.state == S.REJECTED
        assert await store.find_by_group("nobody", "g") is None

    async def test_find_by_thread(self, store: IncidentStore) -> None:
        """find_by_thread maps a button's (channel, message ts) back to its incident."""
        await store.create(incident("INC-1"))
        await store.update(IncidentId("INC-1"), channel="C1", thread_ts="1.1")
        found = await store.find_by_thread("C1", "1.1")
        assert found is not None and found.id == "INC-1"
        assert await store.find_by_thread("C1", "1.2") is None
        assert await store.find_by_thread("C2", "1.1") is None

    async def test_transition_moves_the_state_and_records_it(self, store: IncidentStore) -> None:
        """An allowed transition returns the updated incident and is recorded with actor, reason and both states."""
        await store.create(incident("INC-1"))
        moved = await store.transition(IncidentId("INC-1"), allowed_from={S.OPEN}, to=S.INVESTIGATING, actor="aegis")
        assert moved is not None and moved.state == S.INVESTIGATING and moved.updated_at > T0
        moved = await store.transition(IncidentId("INC-1"), allowed_from={S.INVESTIGATING}, to=S.DIAGNOSED, actor="aegis", reason="OOM")
        assert moved is not None and moved.state == S.DIAGNOSED
        stored = await store.get(IncidentId("INC-1"))
        assert stored is not None and stored.state == S.DIAGNOSED
        history = await store.transitions(IncidentId("INC-1"))
        assert [(t.from_state, t.to_state, t.actor, t.reason) for t in history] == [
            (S.OPEN, S.INVESTIGATING, "aegis", ""),
            (S.INVESTIGATING, S.DIAGNOSED, "aegis", "OOM"),
        ]
        assert all(t.incident_id == "INC-1" and t.at.tzinfo is not None for t in history)

    async def test_transition_from_a_disallowed_state_changes_nothing(self, store: IncidentStore) -> None:
        """A transition whose allowed_from excludes the current state returns None and records nothing."""
        await store.create(incident("INC-1"))
        assert await store.transition(IncidentId("INC-1"), allowed_from={S.VERIFIED, S.DIAGNOSED}, to=S.APPLYING, actor="U1") is None
        assert await store.transition(IncidentId("INC-1"), allowed_from=set(), to=S.APPLYING, actor="U1") is None
        stored = await store.get(IncidentId("INC-1"))
        assert stored is not None and stored.state == S.OPEN and stored.updated_at == T0
        assert await store.transitions(IncidentId("INC-1")) == []

    async def test_a_second_click_is_a_no_op(self, store: IncidentStore) -> None:
        """The same Reject clicked twice: the first moves the state, the second gets None."""
        await store.create(incident("INC-1", state=S.DIAGNOSED))
        first = await store.transition(IncidentId("INC-1"), allowed_from={S.DIAGNOSED}, to=S.REJECTED, actor="U1")
        second = await store.transition(IncidentId("INC-1"), allowed_from={S.DIAGNOSED}, to=S.REJECTED, actor="U2")
        assert first is not None and second is None
        assert len(await store.transitions(IncidentId("INC-1"))) == 1

    async def test_transition_of_an_unknown_incident_is_none(self, store: IncidentStore) -> None:
        """transition() on an id never stored returns None instead of raising."""
        assert await store.transition(IncidentId("INC-404"), allowed_from={S.OPEN}, to=S.REJECTED, actor="U1") is None

    async def test_twenty_concurrent_transitions_have_one_winner(self, store: IncidentStore) -> None:
        """20 concurrent Apply clicks from the same state: exactly one wins and one transition is recorded."""
        await store.create(incident("INC-1", state=S.VERIFIED))
        results = await asyncio.gather(*(store.transition(IncidentId("INC-1"), allowed_from={S.VERIFIED}, to=S.APPLYING, actor=f"U{n}") for n in range(20)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and winners[0].state == S.APPLYING
        history = await store.transitions(IncidentId("INC-1"))
        assert len(history) == 1 and history[0].actor == next(f"U{n}" for n, r in enumerate(results) if r is not None)

    async def test_update_writes_only_the_named_fields(self, store: IncidentStore) -> None:
        """update() changes the given non-state fields, bumps updated_at and leaves everything else alone."""
        await store.create(incident("INC-1", labels={"a": "1"}))
        updated = await store.update(IncidentId("INC-1"), channel="C1", thread_ts="1.1", diagnosis=diagnosis(), proposal_revision=3)
        assert updated is not None
        assert (updated.channel, updated.thread_ts, updated.proposal_revision) == ("C1", "1.1", 3)
        assert updated.diagnosis == diagnosis()
        assert updated.labels == {"a": "1"} and updated.state == S.OPEN and updated.updated_at > T0
        assert await store.get(IncidentId("INC-1")) == updated
        cleared = await store.update(IncidentId("INC-1"), diagnosis=None, labels={"b": "2"}, annotations={"x": "y"})
        assert cleared is not None and cleared.diagnosis is None and cleared.labels == {"b": "2"} and cleared.channel == "C1"

    async def test_silence_and_owner_are_set_and_cleared(self, store: IncidentStore) -> None:
        """A silence set from the thread and the owner round-trip through update(); Unsilence clears the silence."""
        await store.create(incident("INC-1", receiver="slack", group_key="g"))
        silence = Silence(id="abc", until=T0 + timedelta(hours=1), by="U1")
        updated = await store.update(IncidentId("INC-1"), silence=silence, owner="U2")
        assert updated is not None and updated.silence == silence and updated.owner == "U2"
        cleared = await store.update(IncidentId("INC-1"), silence=None)
        assert cleared is not None and cleared.silence is None and cleared.owner == "U2"
        assert await store.get(IncidentId("INC-1")) == cleared

    async def test_update_of_an_unknown_incident_is_none(self, store: IncidentStore) -> None:
        """update() on an id never stored returns None."""
        assert await store.update(IncidentId("INC-404"), channel="C1") is None

    async def test_update_refuses_the_state_and_unknown_fields(self, store: IncidentStore) -> None:
        """The state changes only through transition(): update(state=…) and unknown fields are TypeErrors."""
        await store.create(incident("INC-1"))
        with pytest.raises(TypeError, match="transition"):
            await store.update(IncidentId("INC-1"), state=S.RESOLVED)
        with pytest.raises(TypeError, match="created_at"):
            await store.update(IncidentId("INC-1"), created_at=T0)

    async def test_update_validates_values(self, store: IncidentStore) -> None:
        """A value of the wrong type is refused before anything is written."""
        await store.create(incident("INC-1"))
        with pytest.raises(ValidationError):
            await store.update(IncidentId("INC-1"), repeat_count="many")
        with pytest.raises(ValidationError):
            await store.update(IncidentId("INC-1"), labels={"a": 1})

    async def test_concurrent_repeats_are_all_counted(self, store: IncidentStore) -> None:
        """10 concurrent repeat notifications: repeat_count 10, fingerprints merged without duplicates."""
        await store.create(incident("INC-1", receiver="slack", group_key="g", alert_fingerprints=["a"]))
        await asyncio.gather(*(store.record_repeat(IncidentId("INC-1"), ["a", f"f{n % 3}"]) for n in range(10)))
        stored = await store.get(IncidentId("INC-1"))
        assert stored is not None and stored.repeat_count == 10
        assert stored.alert_fingerprints[0] == "a" and sorted(stored.alert_fingerprints) == ["a", "f0", "f1", "f2"]
        assert await store.record_repeat(IncidentId("INC-404"), ["a"]) is None

    async def test_audit_records_keep_their_order_and_content(self, store: IncidentStore) -> None:
        """Audit records come back per incident, in the order added, also for an incident never stored."""
        await store.create(incident("INC-1"))
        records = [
            AuditRecord(incident_id=IncidentId("INC-1"), actor="U1", action="apply", outcome="refused", detail="not an approver", at=T0),
            AuditRecord(incident_id=IncidentId("INC-1"), actor="U2", action="reject", outcome="ok", at=T0),  # same instant: order kept
            AuditRecord(incident_id=IncidentId("INC-9"), actor="U3", action="apply", outcome="refused", detail="unknown", at=T0),
        ]
        for record in records:
            await store.add_audit(record)
        assert await store.audit(IncidentId("INC-1")) == records[:2]
        assert await store.audit(IncidentId("INC-9")) == records[2:]
        assert await store.audit(IncidentId("INC-404")) == []

    async def test_list_open_is_newest_first_without_terminal(self, store: IncidentStore) -> None:
        """list_open returns non-terminal incidents by created_at, newest first, up to the limit."""
        await store.create(incident("INC-1", minutes=1))
        await store.create(incident("INC-2", minutes=3, state=S.DIAGNOSED))
        await store.create(incident("INC-3", minutes=2, state=S.RESOLVED))
        await store.create(incident("INC-4", minutes=4))
        await store.create(incident("INC-5", minutes=0, state=S.APPLY_FAILED))
        await store.transition(IncidentId("INC-4"), allowed_from={S.OPEN}, to=S.REJECTED, actor="U1")
        assert [i.id for i in await store.list_open()] == ["INC-2", "INC-1", "INC-5"]
        assert [i.id for i in await store.list_open(limit=2)] == ["INC-2", "INC-1"]

    async def test_next_id_is_unique_under_concurrency(self, store: IncidentStore) -> None:
        """50 concurrent next_id() calls give 50 distinct INC-<n> ids, and later ones are higher."""
        ids = await asyncio.gather(*(store.next_id() for _ in range(50)))
        assert len(set(ids)) == 50 and all(i.startswith("INC-") for i in ids)
        numbers = sorted(int(i.removeprefix("INC-")) for i in ids)
        later = int((await store.next_id()).removeprefix("INC-"))
        assert later > numbers[-1]

    async def test_next_id_feeds_create(self, store: IncidentStore) -> None:
        """An id from next_id() creates an incident that get() finds."""
        new_id = await store.next_id()
        await store.create(incident(new_id))
        found = await store.get(new_id)
        assert found is not None and found.id == new_id


    async def test_transition_records_the_worker_and_the_next_one_clears_it(self, store: IncidentStore) -> None:
        """The replica running an in-flight step is stored with the step, and gone once the step ends."""
        await store.create(incident("INC-1", state=S.DIAGNOSED))
        moved = await store.transition(IncidentId("INC-1"), allowed_from={S.DIAGNOSED}, to=S.APPLYING, actor="U1", worker="replica-a")
        assert moved is not None and moved.worker == "replica-a"
        done = await store.transition(IncidentId("INC-1"), allowed_from={S.APPLYING}, to=S.APPLIED, actor="aegis")
        assert done is not None and done.worker is None

    async def test_heartbeats_say_which_replicas_are_alive(self, store: IncidentStore) -> None:
        """A replica that beat recently is live; one never seen is not."""
        await store.heartbeat("replica-a")
        assert await store.live_replicas(30.0) == frozenset({"replica-a"})
        assert "replica-b" not in await store.live_replicas(30.0)

    async def test_channel_slots_are_spaced_by_the_interval(self, store: IncidentStore) -> None:
        """Ten reservations at once get ten distinct slots a second apart; another channel starts free."""
        waits = sorted(await asyncio.gather(*(store.reserve_slot("C1", 1.0) for _ in range(10))))
        assert waits[0] < 0.5
        gaps = [b - a for a, b in itertools.pairwise(waits)]
        assert all(0.9 < gap < 1.1 for gap in gaps), gaps
        assert await store.reserve_slot("C2", 1.0) < 0.5


class PersistenceContract:
    """Behaviour across stores on one database: restarts and replicas."""

    async def test_after_a_restart_old_threads_and_groups_still_work(self, backend: Backend) -> None:
        """After reopening, a repeat alert finds its group, a button finds its thread and its transition still applies."""
        store = await backend.open()
        first = await store.next_id()
        await store.create(incident(first, receiver="slack", group_key="g", state=S.DIAGNOSED))
        await store.update(first, channel="C1", thread_ts="1.1", diagnosis=diagnosis())
        await store.add_audit(AuditRecord(incident_id=first, actor="aegis", action="analyze", outcome="ok", at=T0))
        await backend.close_all()

        store = await backend.open()
        by_group = await store.find_by_group("slack", "g")
        by_thread = await store.find_by_thread("C1", "1.1")
        assert by_group is not None and by_thread is not None and by_group == by_thread
        assert by_group.id == first and by_group.diagnosis == diagnosis()
        moved = await store.transition(first, allowed_from={S.DIAGNOSED}, to=S.REJECTED, actor="U1", reason="not ours")
        assert moved is not None and moved.state == S.REJECTED
        assert len(await store.audit(first)) == 1
        assert int((await store.next_id()).removeprefix("INC-")) > int(first.removeprefix("INC-"))

    async def test_two_replicas_racing_a_click_have_one_winner(self, backend: Backend) -> None:
        """20 clicks split over two stores on one database (two replicas): exactly one transition wins."""
        replicas = [await backend.open(), await backend.open()]
        await replicas[0].create(incident("INC-1", state=S.VERIFIED))
        results = await asyncio.gather(
            *(replicas[n % 2].transition(IncidentId("INC-1"), allowed_from={S.VERIFIED}, to=S.APPLYING, actor=f"U{n}") for n in range(20))
        )
        assert sum(r is not None for r in results) == 1
        assert len(await replicas[1].transitions(IncidentId("INC-1"))) == 1

    async def test_two_replicas_get_distinct_ids(self, backend: Backend) -> None:
        """next_id() from two stores on one database never hands out the same id."""
        replicas = [await backend.open(), await backend.open()]
        ids = await asyncio.gather(*(replicas[n % 2].next_id() for n in range(40)))
        assert len(set(ids)) == 40

    async def test_two_replicas_receiving_one_alert_make_one_incident(self, backend: Backend) -> None:
        """Both replicas create an incident for the same new alert group: one succeeds, the other finds it."""
        replicas = [await backend.open(), await backend.open()]
        results = await asyncio.gather(
            *(r.create(incident(f"INC-{n}", receiver="slack", group_key="g")) for n, r in enumerate(replicas)), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in results) == ["Incident", "IncidentExistsError"]
        winner = next(r for r in results if isinstance(r, Incident))
        assert await replicas[1].find_by_group("slack", "g") == winner

    async def test_two_replicas_share_one_channel_pace(self, backend: Backend) -> None:
        """Slots reserved through two stores on one database never overlap: the pace holds across replicas."""
        first, second = await backend.open(), await backend.open()
        waits = sorted(await asyncio.gather(*(s.reserve_slot("C1", 0.5) for s in (first, second) * 5)))
        gaps = [b - a for a, b in itertools.pairwise(waits)]
        assert all(gap > 0.4 for gap in gaps), gaps

    async def test_migrations_are_idempotent_also_when_replicas_start_at_once(self, backend: Backend) -> None:
        """Three stores opening an empty database at once, then a reopen: every migration is applied exactly once."""
        await asyncio.gather(*(backend.open() for _ in range(3)))
        await backend.close_all()
        store = await backend.open()
        await store.create(incident("INC-1"))
        await backend.close_all()
        await backend.open()
        assert await backend.schema_versions() == list(range(1, len(backend.migrations) + 1))
        assert await backend.stores[0].get(IncidentId("INC-1")) is not None

    async def test_a_newer_schema_is_refused(self, backend: Backend) -> None:
        """A database migrated by a newer AEGIS stops start-up with SchemaTooNewError telling to upgrade."""
        await backend.open()
        await backend.close_all()
        newest = len(backend.migrations)
        await backend.execute(f"INSERT INTO schema_version (version, applied_at) VALUES ({newest + 1}, '2030-01-01T00:00:00+00:00')")
        with pytest.raises(SchemaTooNewError, match=f"version {newest + 1}.*upgrade AEGIS"):
            await backend.open()
