"""How the application writes a batch's events: hash-chained per lead, personal fields
encrypted with the lead's key, the input index's rows sealed, in one transaction.

:class:`ChainedWriting` is the part of :class:`~lifecycle.application.LeadLifecycle`
that eventsourcing's ``save()`` ends in (``_record``): it makes sure every lead whose
personal data the events carry has a key (:mod:`lifecycle.privacy`), links each event to
its lead's previous one (:mod:`lifecycle.chain`), and hands the stored events, the
tracking record and the sealed input rows to the adapter's recorder in one call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import Notification, Recording, StoredEvent

from lifecycle.adapters.protocol import InputRow
from lifecycle.chain import previous_hashes
from lifecycle.inputs import seal_content

if TYPE_CHECKING:
    from lifecycle.adapters.protocol import EventRecorder
    from lifecycle.persistence import FastMapper
    from lifecycle.privacy import PersonalData, SubjectKeys

__all__ = ["ChainedWriting"]


class ChainedWriting:
    """Writing events hash-chained, encrypted and indexed (a part of the application)."""

    fast_mapper: FastMapper
    personal_data: PersonalData
    subject_keys: SubjectKeys

    if TYPE_CHECKING:
        @property
        def event_recorder(self) -> EventRecorder: ...

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
        prev = previous_hashes(events, mapper.heads, self.event_recorder)
        stored, heads = mapper.to_stored_events(events, prev)
        ids = self.event_recorder.insert_events(stored, tracking=processing_event.tracking,
                                                **kwargs)
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

