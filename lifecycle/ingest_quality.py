"""What an ingest run's accepted inputs say about the data's fit with the configuration.

Real exports use their own words: kinds the scoring file does not list (recorded with 0
points), industries, titles and countries that match nothing in it (scored 0), leads
known only by an id. None of this rejects an input, so a run can accept everything and
still score nothing. :class:`QualityTally` counts it while the run goes, from the
accepted touchpoints and the configuration their lead is scored by
(:meth:`~lifecycle.scoring.ScoringConfig.for_template`), and judges the run's new leads
by what their inputs did (:attr:`~lifecycle.handling.Result.flags`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from uuid import UUID

from lifecycle.aggregates.rules import touch_points
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.errors import InputRejected
from lifecycle.handling import Result
from lifecycle.scoring import ScoringConfig, fit_score, unmatched

__all__ = ["OTHER_VALUES", "TRACKED_VALUES", "NewLeads", "QualityTally"]

TRACKED_VALUES = 1000
"""Distinct values counted one by one per dimension (and unknown kinds); a hostile or
free-text column could hold a new value on every line."""
OTHER_VALUES = "(other values)"
"""The key that counts the values beyond :data:`TRACKED_VALUES`."""

_DISQUALIFIED, _UNSCORED, _NOT_CONTACTABLE = 1, 2, 4


@dataclass(frozen=True, slots=True)
class NewLeads:
    """The leads a run created, and how many of them it left disqualified, unscored
    (fit 0 and no behaviour points) or not contactable (``troubled``: any of these)."""

    created: int = 0
    disqualified: int = 0
    unscored: int = 0
    not_contactable: int = 0
    troubled: int = 0

    @property
    def warning(self) -> str | None:
        """One line when most new leads are troubled; None otherwise."""
        if not self.created or self.troubled * 2 <= self.created:
            return None
        return (f"{self.troubled:,} of {self.created:,} new leads were disqualified "
                f"({self.disqualified:,}), unscored ({self.unscored:,}: fit 0 and no "
                f"behaviour points) or not contactable ({self.not_contactable:,}); check "
                "the mapping of keys and profile fields, and the scoring file's kinds and "
                "aliases")


class QualityTally:
    """Counts, over one run's accepted inputs, unknown kinds, unmatched values and the
    state the run left its new leads in."""

    def __init__(self, scoring: ScoringConfig, default_template: str) -> None:
        self._scoring = scoring
        self._default = default_template
        self.unknown_kinds: Counter[str] = Counter()
        self.unmatched: dict[str, Counter[str]] = {}
        self._created = 0
        # New leads of this run with a problem, by lead: bits of _DISQUALIFIED, ...
        self._troubled: dict[UUID, int] = {}
        # The template of each new lead of this run that is not the default one: later
        # touchpoints need not name it.
        self._templates: dict[UUID, str] = {}

    def note(self, item: Touchpoint | SalesAction, result: Result) -> None:
        """Counts an accepted input."""
        lead_id, flags = result.lead_id, result.flags
        if lead_id is None:
            return
        created = "created" in flags
        touch = item if isinstance(item, Touchpoint) else None
        template = self._default
        if touch is not None:
            # A new lead's template is its first touchpoint's; an older lead's is not
            # known here, and the touchpoint's own (or the default) stands for it.
            template = self._templates.get(lead_id) or touch.template or self._default
            if created and template != self._default:
                self._templates[lead_id] = template
            self._count_touchpoint(touch, self._scoring.for_template(template))
        if created:
            self._created += 1
            bits = (_DISQUALIFIED if "disqualified" in flags else 0) \
                | (_NOT_CONTACTABLE if "not_contactable" in flags else 0)
            if touch is not None and not self._scores(touch, template):
                bits |= _UNSCORED
            if bits:
                self._troubled[lead_id] = bits
            return
        if lead_id not in self._troubled:  # not new, or new and fine
            return
        bits = self._troubled[lead_id]
        if "disqualified" in flags:
            bits |= _DISQUALIFIED
        if "reinstated" in flags:
            bits &= ~_DISQUALIFIED
        if touch is not None:
            if touch.email or (touch.profile is not None and touch.profile.phone):
                bits &= ~_NOT_CONTACTABLE
            if bits & _UNSCORED and self._scores(touch, template):
                bits &= ~_UNSCORED
        self._troubled[lead_id] = bits

    def new_leads(self) -> NewLeads:
        bits = list(self._troubled.values())
        return NewLeads(
            created=self._created,
            disqualified=sum(1 for b in bits if b & _DISQUALIFIED),
            unscored=sum(1 for b in bits if b & _UNSCORED),
            not_contactable=sum(1 for b in bits if b & _NOT_CONTACTABLE),
            troubled=sum(1 for b in bits if b))

    def _count_touchpoint(self, item: Touchpoint, config: ScoringConfig) -> None:
        if item.kind not in config.behaviour.weights:
            _count(self.unknown_kinds, item.kind)
        if item.profile is None:
            return
        profile = item.profile.__dict__
        for dimension in unmatched(profile, config.fit):
            _count(self.unmatched.setdefault(dimension, Counter()), profile[dimension])

    def _scores(self, item: Touchpoint, template: str) -> bool:
        """Whether the touch gives its lead behaviour points or fit (a lead's fit is a
        sum over dimensions, so the touch's own profile tells whether it adds any)."""
        config = self._scoring.for_template(template)
        try:
            if touch_points(config, item.kind, item.properties) > 0:
                return True
        except InputRejected:  # an unknown kind under another template's rules
            pass
        if item.profile is None:
            return False
        profile = {k: v for k, v in item.profile.__dict__.items() if v is not None}
        return fit_score(profile, config.fit)[0] > 0


def _count(counter: Counter[str], value: str) -> None:
    if value in counter or len(counter) < TRACKED_VALUES:
        counter[value] += 1
    else:
        counter[OTHER_VALUES] += 1
