"""LeadLifecycle: the application service that turns inputs into lead events.

It resolves each input's lead by key (:mod:`lifecycle.identity`), applies the input
by the Lead's named command (:mod:`lifecycle.handling`), and saves the resulting
events. It is idempotent by ``touchpoint_id`` / ``action_id``, which are
global (:mod:`lifecycle.inputs`): a redelivery reports ``duplicate`` and writes nothing;
the same id with other content, or for another lead, is rejected (``id_conflict``); an
input whose keys name two different leads is rejected (``identity_conflict``) unless
``identity_conflict = "first_key"`` is configured. It keeps hot leads in a bounded cache, and
saves a whole batch of inputs in one transaction — optionally together with the
upstream position (a Kafka offset) that produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.application import (
    Application,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    Mapper,
    PersistenceError,
    ProcessRecorder,
    Tracking,
)

from lifecycle.adapters import adapter_for, driver_errors
from lifecycle.adapters.protocol import EventRecorder
from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.lead_key import LeadKey
from lifecycle.aggregates.values import key_index_id
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.errors import LeadNotFound
from lifecycle.handling import (
    INTERNAL_ERROR,
    UNSTORABLE,
    Outcome,
    Result,
    handle,
    keys_of,
    run_policy,
    template_of,
)
from lifecycle.handling import Batch as _Batch
from lifecycle.identity import LRU as _LRU
from lifecycle.identity import KeyIndex, LeadFinding
from lifecycle.inputs import Recorded, cause_of
from lifecycle.persistence import FastMapper
from lifecycle.privacy import PersonalData, PersonalProperties, SubjectKeys
from lifecycle.scoring import ScoringConfig, load_scoring
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry, load_templates
from lifecycle.writing import ChainedWriting

if TYPE_CHECKING:
    from lifecycle.scoring.learned.model import Model
    from lifecycle.scoring.learned.registry import ModelRegistry

# An input's outcome (Outcome, Result and the two internal outcome codes) is defined with
# the handling of inputs (lifecycle.handling) and is part of what the application returns.
__all__ = [
    "INTERNAL_ERROR",
    "UNSTORABLE",
    "LeadLifecycle",
    "Outcome",
    "Result",
    "build_application",
]

Inbound = Touchpoint | SalesAction


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


class LeadLifecycle(LeadFinding, ChainedWriting, Application[UUID]):
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
        self.identity = KeyIndex(self.repository, self._keys, self.settings.identity_conflict)

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
                    result = failed.get(index) or handle(self, item, batch, recorded_at,
                                                         _STORE_ERRORS)
                    if result.code == INTERNAL_ERROR and index not in failed:
                        # The failing command may have changed its lead before raising:
                        # apply the batch again from the store, without this input.
                        failed[index] = result
                        raise _Redo
                    outcomes.append(result)
                if self._grades_by_model():
                    # The active model grades the leads that took new inputs, one call
                    # for the batch (lifecycle.policies.model_grading).
                    from lifecycle.policies.model_grading import grade_batch

                    grade_batch(self, batch.aggregates.values(), recorded_at)
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
        """Policy: re-evaluates leads' grades with behaviour decayed to ``at``; the
        leads a model graded are predicted again at ``at``, in one call.

        Returns:
            How many leads changed (their events are saved in one transaction; the
            model's grades in a second one).
        """
        by_model: list[Lead] = []

        def regrade(lead: Lead, now: datetime) -> bool:
            if lead.graded_by_model is not None:
                by_model.append(lead)
            return lead.regrade(at, template=template_of(self, lead.template),
                                config=self.scoring.for_template(lead.template),
                                recorded_at=now, cause=cause)

        changed = run_policy(self, lead_ids, regrade)
        if by_model and self._grades_by_model():
            from lifecycle.policies.model_grading import regrade_by_model

            changed += regrade_by_model(self, by_model, at, cause=cause)
        return changed

    def _grades_by_model(self) -> bool:
        """Whether any template grades by model (``[grading] by = "model"``): checked
        once per batch, so that without it the learned package is never even imported
        (nor the policies package, ~50 ms on the CLI's start)."""
        scoring = self.scoring
        return scoring.grading.by == "model" or any(
            t.grading.by == "model" for t in scoring.templates.values())

    def send_due_nurture(self, lead_ids: Iterable[UUID], at: datetime, *, cause: str) -> int:
        """Policy: sends each nurturing lead's next step if it is due at ``at``."""
        return run_policy(self, lead_ids, lambda lead, now: lead.send_due_nurture(
            at, config=self.scoring.for_template(lead.template), recorded_at=now, cause=cause))

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

    # -- learned models ---------------------------------------------------------------

    @property
    def models(self) -> ModelRegistry:
        """The stored models (imported on first use: numpy and LightGBM load only then)."""
        registry = self.__dict__.get("_models")
        if registry is None:
            from lifecycle.scoring.learned.registry import ModelRegistry

            registry = self.__dict__["_models"] = ModelRegistry(self)
        return registry

    @property
    def active_model(self) -> Model | None:
        """The active model, loaded once per application (``reload_model`` after
        ``lifecycle model activate`` in another process); None when no model is active."""
        if "_active_model" not in self.__dict__:
            self.__dict__["_active_model"] = self.models.active()
        model: Model | None = self.__dict__["_active_model"]
        return model

    def reload_model(self) -> None:
        self.__dict__.pop("_active_model", None)

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


def build_application(settings: Settings | None = None, **kwargs: Any) -> LeadLifecycle:
    """The one place that wires the engine from settings."""
    return LeadLifecycle(settings or Settings(), **kwargs)
