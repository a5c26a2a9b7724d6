"""LeadLifecycle: the application service that turns inputs into lead events.

It resolves each input's lead by key, hands it to the Lead aggregate, and saves the
resulting events. It is idempotent by ``touchpoint_id`` / ``action_id``, which are
global (:mod:`lifecycle.inputs`): a redelivery reports ``duplicate`` and writes nothing;
the same id with other content, or for another lead, is rejected (``id_conflict``); an
input whose keys name two different leads is rejected (``identity_conflict``) unless
``identity_conflict = "first_key"`` is configured. It keeps hot leads in a bounded cache, and
saves a whole batch of inputs in one transaction — optionally together with the
upstream position (a Kafka offset) that produced them.
"""

from __future__ import annotations

import os
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    Mapper,
    Notification,
    PersistenceError,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
)

from lifecycle.adapters import adapter_for, driver_errors
from lifecycle.adapters.protocol import EventRecorder, InputRow
from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.lead_key import LeadKey, key_index_id, lead_id_for
from lifecycle.chain import previous_hashes
from lifecycle.contracts import SalesAction, Touchpoint, normalized_email
from lifecycle.errors import (
    IdConflict,
    IdentityConflict,
    ImplausibleTime,
    InputRejected,
    LeadErased,
    LeadNotFound,
    UnknownTemplate,
)
from lifecycle.inputs import (
    Recorded,
    cause_of,
    content,
    differing,
    id_field_of,
    open_content,
    seal_content,
)
from lifecycle.persistence import FastMapper
from lifecycle.privacy import PersonalData, PersonalProperties, SubjectKeys
from lifecycle.scoring import ScoringConfig, load_scoring
from lifecycle.settings import Settings
from lifecycle.templates import FunnelTemplate, TemplateRegistry, load_templates

__all__ = [
    "INTERNAL_ERROR",
    "UNSTORABLE",
    "LeadLifecycle",
    "Outcome",
    "Result",
    "build_application",
    "keys_of",
]

Inbound = Touchpoint | SalesAction


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one input."""

    input_id: str
    outcome: Outcome
    lead_id: UUID | None = None
    events: int = 0
    code: str | None = None
    reason: str | None = None


INTERNAL_ERROR = "internal_error"
"""Code of an input the engine failed on unexpectedly (a bug, reported, never a stop)."""
UNSTORABLE = "unstorable"
"""Code of an input whose events the database refused (found by storing apart)."""

# What a refused save of an input's events looks like: the database refused a value
# (DataError), or encoding it failed. Anything else (a lost connection, a full disk, a
# concurrent writer) is the store's condition, not an input's, and stops the batch.
_POISON_AT_SAVE = (DataError, ValueError, TypeError, ArithmeticError)
# Errors of the store met while applying an input: never the input's fault.
_STORE_ERRORS: tuple[type[BaseException], ...] = (PersistenceError, *driver_errors(), MemoryError)


class _Unstorable(Exception):
    """Storing a batch failed in a way that one of its inputs may have caused."""


class _Redo(Exception):
    """An input failed unexpectedly: the batch's leads may be half-applied."""


def keys_of(item: Touchpoint | SalesAction) -> tuple[str, ...]:
    """The input's lead keys, external id first: a system's own id beats an email."""
    keys = []
    if item.external_id:
        keys.append(f"external:{item.external_id}")
    if item.email:
        keys.append(f"email:{item.email}")
    return tuple(keys)


_KEY_FIELDS = {"external": "external_id", "email": "email"}


class _LRU(OrderedDict[Any, Any]):
    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def get_recent(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


class _Batch:
    """Aggregates touched by the inputs of one transaction."""

    def __init__(self) -> None:
        self.aggregates: dict[UUID, Aggregate] = {}
        self.new_keys: list[str] = []
        # Lead keys as this batch knows them: registered by it, or read for it (None:
        # not registered when it started). Unlike the LRU, this cannot lose a key
        # registered earlier in the batch and not yet saved.
        self.keys: dict[str, UUID | None] = {}
        # Leads read for this batch (see _prefetch) that no input has used yet.
        self.loaded: dict[UUID, Aggregate] = {}
        # Input ids (causes) recorded before the batch (read by _prefetch) or accepted in
        # it; the accepted ones go to the input index with the events.
        self.recorded: dict[str, Recorded] = {}
        self.inputs: list[tuple[str, UUID, bytes]] = []  # cause, lead, content


class LeadLifecycle(Application[UUID]):
    """Records touchpoints and sales actions as lead events."""

    name = "lifecycle"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        templates: TemplateRegistry | None = None,
        scoring: ScoringConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.templates = templates or load_templates(
            self.settings.templates_dir, default=self.settings.default_template
        )
        self.scoring = scoring or load_scoring(self.settings.scoring_file)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.event_storage = adapter_for(self.settings)
        # Its recorder also writes each aggregate's chain head (tamper evidence) and the
        # input index with the events.
        super().__init__(env=self.event_storage.persistence_env())
        self._leads = _LRU(max(self.settings.cache_size, 1))
        self._keys = _LRU(max(self.settings.cache_size * 2, 1))

    def construct_mapper(self) -> Mapper[UUID]:
        self.subject_keys = SubjectKeys(self.settings.database_url,
                                        cache_size=self.settings.cache_size * 2)
        self.personal_data = PersonalData(
            self.subject_keys, PersonalProperties.parse(self.settings.personal_properties))
        self.fast_mapper = FastMapper(personal=self.personal_data)
        return self.fast_mapper

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder keeps tracking records (upstream positions) in the same
        # transaction as the events they produced.
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        recorder = self.recorder
        assert isinstance(recorder, ProcessRecorder)
        return recorder

    @property
    def event_recorder(self) -> EventRecorder:
        """The recorder as the storage adapter made it (:mod:`lifecycle.adapters`)."""
        return cast(EventRecorder, self.recorder)

    # -- writing --------------------------------------------------------------------------

    def record(self, item: Inbound) -> Result:
        """Records one input in its own transaction."""
        return self.record_batch([item])[0]

    def record_batch(
        self,
        items: Sequence[Inbound],
        *,
        tracking: Tracking | Sequence[Tracking] | None = None,
        before_commit: Callable[[list[Result]], None] | None = None,
    ) -> list[Result]:
        """Records many inputs and saves all their events in one transaction.

        Args:
            items: validated inputs, applied in order.
            tracking: upstream positions to store atomically with the events: one, or
                one per upstream (e.g. each Kafka partition the batch came from).
            before_commit: called with the results before anything is saved (e.g. to
                send rejects to a dead-letter topic); if it raises, nothing is saved.

        Returns:
            One result per input, in order. Rejections are results, not exceptions:
            whatever goes wrong while applying one input (a domain error, an unexpected
            exception, a value the database refuses) rejects that input alone.

        Raises:
            eventsourcing.persistence.IntegrityError: another writer changed one of the
                leads meanwhile; nothing was saved and the touched leads were evicted
                from the cache, so calling again with the same items is safe.
            eventsourcing.persistence.PersistenceError: the store failed (not an input).

        ``before_commit`` may be called twice: when the database refuses the batch, its
        inputs are stored apart (halves, then halves of the failing half, each in its
        own transaction, so only the culprit is rejected), then ``before_commit`` is
        called again with the final results and the tracking records are stored last.
        """
        trackings = [tracking] if isinstance(tracking, Tracking) else list(tracking or ())
        recorded_at = self.clock()
        try:
            return self._record_together(items, trackings, before_commit, recorded_at)
        except _Unstorable:
            results = self._record_apart(items, recorded_at)
            self._record_together([], trackings, before_commit, recorded_at, results=results)
            return results

    def _record_together(
        self,
        items: Sequence[Inbound],
        trackings: list[Tracking],
        before_commit: Callable[[list[Result]], None] | None,
        recorded_at: datetime,
        *,
        results: list[Result] | None = None,
    ) -> list[Result]:
        """Applies ``items`` and stores their events with ``trackings``, one transaction.

        ``results`` (with no items): outcomes decided before, handed to before_commit.

        Raises:
            _Unstorable: the store refused the events (nothing was saved).
        """
        failed: dict[int, Result] = {}
        while True:
            batch = _Batch()
            outcomes = list(results or ())
            try:
                self._prefetch(items, batch)
                for index, item in enumerate(items):
                    result = failed.get(index) or self._handle(item, batch, recorded_at)
                    if result.code == INTERNAL_ERROR and index not in failed:
                        # The failing command may have changed its lead before raising:
                        # apply the batch again from the store, without this input.
                        failed[index] = result
                        raise _Redo
                    outcomes.append(result)
                if before_commit is not None:
                    before_commit(outcomes)
                processing = ProcessingEvent[UUID](tracking=trackings[0] if trackings else None)
                if len(trackings) > 1:  # written by the adapter's recorder (adapters/)
                    processing.saved_kwargs["more_trackings"] = trackings[1:]
                if batch.inputs:  # the input index's rows, sealed by _store
                    processing.saved_kwargs["inputs"] = batch.inputs
                # Not processing.collect_events(): its runtime protocol checks cost more
                # than encoding the events.
                for aggregate in batch.aggregates.values():
                    processing.events.extend(aggregate.collect_events())
                if processing.events or trackings:
                    try:
                        if self._nobody_listens():
                            self._store(processing)
                        else:
                            self._notify(self._record(processing))
                    except IntegrityError:
                        raise
                    except _POISON_AT_SAVE as e:
                        if not processing.events:
                            raise  # tracking records alone: no input to blame
                        raise _Unstorable(f"{type(e).__name__}: {e}") from e
            except _Redo:
                self._forget(batch)
                continue
            except BaseException:
                self._forget(batch)
                raise
            return outcomes

    def _record_apart(self, items: Sequence[Inbound], recorded_at: datetime) -> list[Result]:
        """Stores ``items`` in order, each part in its own transaction, halving a part the
        store refuses until the input that causes it is alone: that one is rejected."""
        try:
            return self._record_together(items, [], None, recorded_at)
        except _Unstorable as e:
            if len(items) == 1:
                return [Result(items[0].input_id, Outcome.REJECTED, code=UNSTORABLE,
                               reason=f"the database refused this input's events ({e}); "
                               "check its values (e.g. text the database cannot hold)")]
            middle = len(items) // 2
            return (self._record_apart(items[:middle], recorded_at)
                    + self._record_apart(items[middle:], recorded_at))

    def _nobody_listens(self) -> bool:
        """Whether the recordings of a batch would go unused: ``_notify`` is still
        eventsourcing's (which does nothing) and ``_record`` is still this class's.
        Then record_batch stores without building a Recording and a Notification per
        event: on the ingest path those objects cost more (allocation, and the garbage
        collector walking them) than the work they stand for. Hooks go in ``_notify``.
        """
        cls = type(self)
        return cls._notify is Application._notify and cls._record is LeadLifecycle._record

    def regrade_all(self, lead_ids: Iterable[UUID], at: datetime, *, cause: str) -> int:
        """Policy: re-evaluates leads' grades with behaviour decayed to ``at``.

        Returns:
            How many leads changed (their events are saved in one transaction).
        """
        return self._policy(lead_ids, lambda lead, now: lead.regrade(
            at, template=self._template(lead.template), config=self.scoring,
            recorded_at=now, cause=cause))

    def send_due_nurture(self, lead_ids: Iterable[UUID], at: datetime, *, cause: str) -> int:
        """Policy: sends each nurturing lead's next step if it is due at ``at``."""
        return self._policy(lead_ids, lambda lead, now: lead.send_due_nurture(
            at, config=self.scoring, recorded_at=now, cause=cause))

    def _policy(self, lead_ids: Iterable[UUID], command: Callable[[Lead, datetime], bool]) -> int:
        batch = _Batch()
        now = self.clock()
        changed = 0
        try:
            for lead_id in lead_ids:
                lead = self._load_lead(lead_id, batch)
                if lead is not None and command(lead, now):
                    changed += 1
            events = [e for a in batch.aggregates.values() for e in a.collect_events()]
            if events:
                self.save(*events)
        except BaseException:
            self._forget(batch)
            raise
        return changed

    def _handle(self, item: Inbound, batch: _Batch, recorded_at: datetime) -> Result:
        try:
            self._check_business_time(item, recorded_at)
            return self._apply(item, batch, recorded_at)
        except InputRejected as e:
            return Result(item.input_id, Outcome.REJECTED, code=e.code, reason=str(e))
        except _STORE_ERRORS:
            raise
        except Exception as e:
            # No input may stop ingestion: a bug met by one input rejects that input.
            return Result(item.input_id, Outcome.REJECTED, code=INTERNAL_ERROR,
                          reason=f"the engine failed on this input ({type(e).__name__}: {e}); "
                          "nothing of it was recorded; please report it with the input")

    def _check_business_time(self, item: Inbound, recorded_at: datetime) -> None:
        """Rejects business times outside [earliest, recorded time + skew].

        Raises:
            ImplausibleTime: naming the window.
        """
        earliest = self.settings.earliest_business_time
        try:
            latest = recorded_at + self.settings.max_future_skew
        except OverflowError:
            latest = datetime.max.replace(tzinfo=UTC)
        if earliest <= item.occurred_at <= latest:
            return
        skew = self.settings.max_future_skew
        raise ImplausibleTime(
            f"occurred_at {item.occurred_at.isoformat()} is outside the plausible window "
            f"{earliest.isoformat()} .. {latest.isoformat()} (recorded time plus "
            f"{_duration(skew)}); fix the source's clock or the value, or widen "
            "LIFECYCLE_EARLIEST_BUSINESS_TIME / LIFECYCLE_MAX_FUTURE_SKEW")

    def _apply(self, item: Inbound, batch: _Batch, recorded_at: datetime) -> Result:
        cause = cause_of(item)
        known = batch.recorded.get(cause)
        if known is not None:
            return self._redelivery(item, cause, known, batch)
        keys = keys_of(item)
        lead_id = self._resolve(keys, batch)
        if isinstance(item, Touchpoint):
            template_name = item.template or self.templates.default
            if template_name not in self.templates:
                raise UnknownTemplate(template_name, known=self.templates.names())
            if lead_id is None:
                new_id = lead_id_for(keys[0])
                created = Lead.capture(new_id, item, keys=keys,
                                       template=self.templates[template_name],
                                       config=self.scoring, recorded_at=recorded_at)
                batch.aggregates[new_id] = created
                self._leads.put(new_id, created)
                self._register_keys(keys, new_id, batch, recorded_at)
                self._accepted(item, cause, new_id, batch)
                return Result(item.input_id, Outcome.ACCEPTED, new_id,
                              len(created.pending_events))
        elif lead_id is None:
            raise LeadNotFound(keys[0])
        assert lead_id is not None
        lead = self._load_lead(lead_id, batch)
        if lead is None:
            raise LeadNotFound(keys[0])
        if cause in lead.seen:  # recorded before the input index existed: no digest
            return Result(item.input_id, Outcome.DUPLICATE, lead_id)
        before = len(lead.pending_events)
        template = self._template(lead.template)
        try:
            if isinstance(item, Touchpoint):
                lead.record_touchpoint(item, template=template, config=self.scoring,
                                       recorded_at=recorded_at)
            else:
                lead.act(item, template=template, config=self.scoring, recorded_at=recorded_at)
        except InputRejected:
            if len(lead.pending_events) != before:  # a command must guard before it emits
                raise RuntimeError(f"command on lead {lead_id} emitted before rejecting") from None
            raise
        for key in keys:
            if key not in lead.keys:  # known by a key it was not captured with
                unregistered = [k for k in keys
                                if k not in lead.keys and self._lookup(k, batch) is None]
                self._register_keys(tuple(unregistered), lead_id, batch, recorded_at)
                break
        self._accepted(item, cause, lead_id, batch)
        return Result(item.input_id, Outcome.ACCEPTED, lead_id, len(lead.pending_events) - before)

    @staticmethod
    def _accepted(item: Inbound, cause: str, lead_id: UUID, batch: _Batch) -> None:
        plain = content(item)
        batch.recorded[cause] = Recorded(lead_id, plain=plain)
        batch.inputs.append((cause, lead_id, plain))

    def _redelivery(self, item: Inbound, cause: str, known: Recorded, batch: _Batch) -> Result:
        """An input whose id is recorded: ``duplicate`` when its content is the same.

        Raises:
            IdConflict: other content, or keys that point to another lead.
        """
        plain = known.plain
        if plain is None:  # stored
            assert known.sealed is not None
            cipher = self.subject_keys.cipher(known.lead_id)
            if cipher is None:
                # Erased: what it said cannot be read any more. The same keys mean a
                # redelivery (nothing written, and no reject copies the person's data).
                lead_id = self._resolve(keys_of(item), batch, strict=False)
                if lead_id == known.lead_id:
                    return Result(item.input_id, Outcome.DUPLICATE, known.lead_id)
                raise IdConflict(id_field=id_field_of(item), input_id=item.input_id,
                                 recorded_lead=known.lead_id, lead_id=lead_id, differs=())
            plain = open_content(cipher, known.lead_id, cause, known.sealed)
        new = content(item)
        if new == plain:
            return Result(item.input_id, Outcome.DUPLICATE, known.lead_id)
        differs = ("(the recorded content does not decrypt: altered?)",) if plain is None else (
            differing(plain, new))
        raise IdConflict(id_field=id_field_of(item), input_id=item.input_id,
                         recorded_lead=known.lead_id,
                         lead_id=self._resolve(keys_of(item), batch, strict=False),
                         differs=differs)

    def _template(self, name: str) -> FunnelTemplate:
        if name not in self.templates:
            raise UnknownTemplate(name, known=self.templates.names())
        return self.templates[name]

    # -- identity and cache ------------------------------------------------------------

    def _prefetch(self, items: Sequence[Inbound], batch: _Batch) -> None:
        """Reads what the batch needs from the store in a few queries, not one per input.

        First the lead keys that are not cached (one query per 500 keys; a key not
        found is remembered as absent for the batch), then the leads those keys name
        that are not cached. Inputs then find both in memory; what they read is what
        they would have read one by one, as nothing of this batch is stored yet.

        Before both, the input index rows of the batch's ids (one query per 500 ids):
        an input whose id is recorded needs neither its keys nor its lead.
        """
        causes = [cause_of(item) for item in items]
        for cause, (owner, sealed) in self.event_recorder.inputs_of(causes).items():
            batch.recorded[cause] = Recorded(owner, sealed=sealed)
        recorded = batch.recorded
        cached = self._keys
        wanted: dict[UUID, str] = {}
        item_keys = [keys_of(item) for item, cause in zip(items, causes, strict=True)
                     if cause not in recorded]
        for keys in item_keys:
            for key in keys:
                if key not in cached and key not in batch.keys:
                    batch.keys[key] = None
                    wanted[key_index_id(key)] = key
        if wanted:
            for entry in self._reconstruct_all(wanted):
                if isinstance(entry, LeadKey):
                    batch.keys[wanted[entry.id]] = entry.lead_id
                    cached.put(wanted[entry.id], entry.lead_id)
        cold: dict[UUID, None] = {}
        for keys in item_keys:
            for key in keys:
                lead_id = batch.keys[key] if key in batch.keys else cached.get(key)
                if lead_id is not None:
                    if lead_id not in self._leads:
                        cold[lead_id] = None
                    break
        if cold:
            for lead in self._reconstruct_all(cold):
                batch.loaded[lead.id] = lead

    def _reconstruct_all(self, ids: Iterable[UUID]) -> list[Aggregate]:
        """The aggregates with these ids, from their stored events (missing: left out)."""
        out: list[Aggregate] = []
        stored = self.event_recorder.events_of(list(ids))
        start = 0
        for end in range(1, len(stored) + 1):
            if end == len(stored) or stored[end].originator_id != stored[start].originator_id:
                events = map(self.mapper.to_domain_event, stored[start:end])
                aggregate = project_aggregate(None, events)
                if isinstance(aggregate, Aggregate):
                    out.append(aggregate)
                start = end
        return out

    def _lookup(self, key: str, batch: _Batch | None = None) -> UUID | None:
        if batch is not None and key in batch.keys:
            return batch.keys[key]
        lead_id: UUID | None = self._keys.get_recent(key)
        if lead_id is not None:
            return lead_id
        try:
            entry: Any = self.repository.get(key_index_id(key))
        except AggregateNotFoundError:
            return None
        assert isinstance(entry, LeadKey)
        self._keys.put(key, entry.lead_id)
        return entry.lead_id

    def _resolve(
        self, keys: tuple[str, ...], batch: _Batch, *, strict: bool = True
    ) -> UUID | None:
        """The lead of the first key that has one (external id before email).

        Raises:
            IdentityConflict: ``strict``, the settings say ``reject``, and another key
                belongs to another lead.
        """
        found: UUID | None = None
        first = ""
        for key in keys:
            lead_id = self._lookup(key, batch)
            if lead_id is None:
                continue
            if found is None:
                found, first = lead_id, key
                if not strict or self.settings.identity_conflict != "reject":
                    break
            elif lead_id != found:
                raise IdentityConflict(leads={_KEY_FIELDS[first.partition(":")[0]]: found,
                                              _KEY_FIELDS[key.partition(":")[0]]: lead_id})
        return found

    def _register_keys(
        self, keys: Iterable[str], lead_id: UUID, batch: _Batch, recorded_at: datetime
    ) -> None:
        for key in keys:
            entry = LeadKey.register(key, lead_id, recorded_at=recorded_at)
            batch.aggregates[entry.id] = entry
            batch.new_keys.append(key)
            batch.keys[key] = lead_id
            self._keys.put(key, lead_id)

    def _load_lead(self, lead_id: UUID, batch: _Batch) -> Lead | None:
        lead = batch.aggregates.get(lead_id)
        if lead is None and batch.loaded:
            lead = batch.loaded.pop(lead_id, None)
            if lead is not None:
                self._leads.put(lead_id, lead)
        if lead is None:
            lead = self._leads.get_recent(lead_id)
        if lead is None:
            try:
                lead = self.repository.get(lead_id)
            except AggregateNotFoundError:
                return None
            self._leads.put(lead_id, lead)
        assert isinstance(lead, Lead)
        batch.aggregates[lead_id] = lead
        return lead

    def _forget(self, batch: _Batch) -> None:
        # Cached leads may hold events that were never saved: drop them.
        for agg_id in batch.aggregates:
            self._leads.pop(agg_id, None)
        for key in batch.new_keys:
            self._keys.pop(key, None)

    def evict(self) -> None:
        """Empties the caches (another process may have written)."""
        self._leads.clear()
        self._keys.clear()

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Stores events (see :meth:`_store`); returns their recordings."""
        events, stored, ids = self._store(processing_event)
        # As new_frozen() does, inline: this runs for every event written.
        new, set_dict = object.__new__, object.__setattr__
        recordings: list[Recording[UUID]] = []
        for e, s, n in zip(events, stored, ids or (), strict=False):
            notification = new(Notification)
            set_dict(notification, "__dict__", {
                "originator_id": s.originator_id, "originator_version": s.originator_version,
                "topic": s.topic, "state": s.state, "id": n})
            recording = new(Recording)
            set_dict(recording, "__dict__", {"domain_event": e, "notification": notification})
            recordings.append(recording)
        return recordings

    def _store(
        self, processing_event: ProcessingEvent[UUID]
    ) -> tuple[list[Any], list[StoredEvent], Sequence[int] | None]:
        """Stores events hash-chained per aggregate, personal fields encrypted.

        Keys of the leads whose personal data the events carry are committed first:
        an event is never stored without its lead's key.

        Returns:
            The domain events, their stored events, and their notification ids.
        """
        events = processing_event.events
        subjects = self.personal_data.subjects(events)
        kwargs = processing_event.saved_kwargs
        inputs: list[tuple[str, UUID, bytes]] | None = kwargs.get("inputs")
        if inputs:  # their content is sealed with their leads' keys
            subjects.update(lead_id for _, lead_id, _ in inputs)
        if subjects:
            self.subject_keys.ensure(subjects)
        if inputs:
            kwargs = {**kwargs, "inputs": self._input_rows(inputs)}
        mapper = self.fast_mapper
        prev = previous_hashes(events, mapper.heads, self.recorder)
        stored, heads = mapper.to_stored_events(events, prev)
        ids = self.recorder.insert_events(stored, tracking=processing_event.tracking, **kwargs)
        mapper.remember(heads)
        return events, stored, ids

    def _input_rows(self, inputs: Sequence[tuple[str, UUID, bytes]]) -> list[InputRow]:
        """The input index's rows: cause, lead, content sealed with the lead's key."""
        ciphers: dict[UUID, AESGCM] = {}
        nonces = os.urandom(12 * len(inputs))
        rows: list[InputRow] = []
        for n, (cause, lead_id, plain) in enumerate(inputs):
            cipher = ciphers.get(lead_id)
            if cipher is None:
                cipher = self.subject_keys.cipher(lead_id)
                if cipher is None:
                    raise LookupError(f"lead {lead_id} has no key: input {cause} cannot be "
                                      "indexed (erased leads take no input; otherwise "
                                      "lc_subject_keys lost a row)")
                ciphers[lead_id] = cipher
            rows.append((cause, lead_id, seal_content(cipher, lead_id, cause, plain,
                                                      nonces[12 * n : 12 * n + 12])))
        return rows

    # -- privacy ----------------------------------------------------------------------

    def erase(self, lead_id: UUID, *, actor: str, cause: str) -> bool:
        """Erases a lead's personal data: records ``Erased``, then deletes its key.

        Running it again for an erased lead deletes the key again (a crash may have
        come between the two).

        Returns:
            Whether the lead was erased now (False: it was erased before).

        Raises:
            LeadNotFound: no such lead.
        """
        lead = self._get_lead(lead_id)
        if lead is None:
            raise LeadNotFound(str(lead_id))
        erased_now = not lead.erased
        if erased_now:
            now = self.clock()
            lead.erase(at=now, recorded_at=now, actor=actor, cause=cause)
            self.save(lead)
        self.subject_keys.delete(lead_id)
        self.evict()  # cached leads and keys hold the plaintext
        return erased_now

    def close(self) -> None:
        self.subject_keys.close()
        super().close()

    # -- reading ----------------------------------------------------------------------

    def find_lead(self, key: str, *, erased_ok: bool = False) -> UUID:
        """The id of the lead known by ``key`` (an external id, an email or a lead id).

        Args:
            key: the key; ``external:…`` / ``email:…`` name its kind.
            erased_ok: return an erased lead found by a key of its (the key index
                finds it by the key's uuid5, without the key's text).

        Raises:
            LeadNotFound: no lead is known by that key.
            LeadErased: the lead known by that key was erased (unless ``erased_ok``);
                it is still found by its lead id.
        """
        key = key.strip()
        if key.startswith("email:"):
            candidates = [_email_key(key.removeprefix("email:"))]
        elif key.startswith("external:"):
            candidates = [_external_key(key.removeprefix("external:"))]
        else:  # an external id may look like an email: try both, email first
            candidates = [_email_key(key), _external_key(key)] if "@" in key else [
                _external_key(key)]
        for candidate in candidates:
            lead_id = self._lookup(candidate)
            if lead_id is not None:
                # Only a lead without a key can be erased: the others are not loaded
                # (audit verify looks up leads whose events may not decode).
                if not erased_ok and self.subject_keys.cipher(lead_id) is None and (
                        (lead := self._get_lead(lead_id)) is not None and lead.erased):
                    raise LeadErased(
                        f"the lead known by that key, {lead_id}, was erased: its personal "
                        "data is gone; its history is still shown by its lead id")
                return lead_id
        try:
            lead_id = UUID(key)
        except ValueError:
            raise LeadNotFound(key) from None
        if self._get_lead(lead_id) is None:
            raise LeadNotFound(key)
        return lead_id

    def get_lead(self, lead_id: UUID, *, version: int | None = None) -> Lead:
        """A copy of the lead from the event store (optionally at ``version``).

        Raises:
            LeadNotFound: no such lead.
        """
        lead = self._get_lead(lead_id, version=version)
        if lead is None:
            raise LeadNotFound(str(lead_id))
        return lead

    def _get_lead(self, lead_id: UUID, *, version: int | None = None) -> Lead | None:
        try:
            lead: Any = self.repository.get(lead_id, version=version)
        except AggregateNotFoundError:
            return None
        return lead if isinstance(lead, Lead) else None

    def lead_events(self, lead_id: UUID) -> list[Lead.Event]:
        """Every stored event of a lead, in order."""
        return [e for e in self.repository.event_store.get(lead_id) if isinstance(e, Lead.Event)]


def _email_key(address: str) -> str:
    # The form the contract records (NFC, Unicode domain, lower case): the punycode or
    # decomposed spelling of a recorded address finds its lead too.
    return f"email:{normalized_email(address) or address.lower()}"


def _external_key(external_id: str) -> str:
    # In NFC, as the contract records it: a decomposed "café" finds the lead too.
    return f"external:{unicodedata.normalize('NFC', external_id)}"


def _duration(value: timedelta) -> str:
    if value % timedelta(days=1) == timedelta(0):
        days = value // timedelta(days=1)
        return f"{days} day" + ("" if days == 1 else "s")
    return f"{value.total_seconds():g} s"


def build_application(settings: Settings | None = None, **kwargs: Any) -> LeadLifecycle:
    """The one place that wires the engine from settings."""
    return LeadLifecycle(settings or Settings(), **kwargs)
