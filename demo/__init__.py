"""A deterministic, realistic synthetic B2B history, and the ``lifecycle demo`` command.

:func:`generate` returns inbound objects (touchpoints and sales actions, as plain
JSON-ready dicts that :func:`lifecycle.contracts.parse_inbound` accepts) in delivery
order: mostly business-time order, with ~2 % of touchpoints delivered late (after later
events of the same lead), ~1 % exact redeliveries of earlier inputs, and a few sales
actions that the engine must reject on purpose (illegal transitions and actions for
leads nobody captured). :func:`generate_with_stats` also says what went in.

What a sales or marketing leader should recognise:

* channels of different quality: referral, event and partner leads fit the ideal
  customer profile and close well; paid search and social bring volume and poor fit;
  SEO and content sit in between; webinars produce MQLs through engagement;
* three funnels: SaaS (most leads), industrial equipment (bigger companies, longer
  cycles, larger amounts in EUR) and generic B2B; each lead's first touchpoint names its
  template and carries a profile; a few free-mail and university addresses are screened
  out by the engine; some event and partner leads arrive with only an external id and
  give their email later;
* behaviour (page views, downloads, webinars, email, pricing pages, demo requests, trial
  starts) and sales interactions (meetings, replies, quotes and revised quotes);
* named SDRs and AEs who accept MQLs after a realistic delay (some MQLs are never
  worked: the MQL→SQL leak), assess BANT, advance deals through the template's stages
  (some stall, a few skip a stage with a reason), win with an amount, lose with a
  reason from the taxonomy, disqualify, recycle to nurturing, reopen and write notes.

Sales actions must fit the engine's state machine, which grades leads itself (MQL by
thresholds or instant kinds, automatic SQL by the template's rule). So every lead's
inputs are fed, in delivery order, to a real Lead aggregate in memory
(:mod:`demo.engine`), and a salesperson only acts on what the engine shows them; an
action the aggregate refuses is a generator bug, except the deliberate ones.

The package sits beside the engine, not in it: it imports :mod:`lifecycle`, never the
other way round; ``lifecycle demo`` finds :func:`demo.cli.demo` through the
``lifecycle.commands`` entry point.

Modules: :mod:`~demo.catalogue` (channels, people, companies, the sales team: data),
:mod:`~demo.people` (drawing leads), :mod:`~demo.timeline` (one lead's inputs and
their delivery), :mod:`~demo.journeys` (marketing), :mod:`~demo.stories` (sales
outcomes), :mod:`~demo.hostile` (bad input on purpose), :mod:`~demo.engine` (the real
aggregate), :mod:`~demo.stats`, :mod:`~demo.generator`, :mod:`~demo.cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from demo.generator import generate, generate_with_stats
    from demo.stats import GeneratedStats

__all__ = ["GeneratedStats", "generate", "generate_with_stats"]


def __getattr__(name: str) -> object:
    # Loaded on first use: every `lifecycle` start imports demo.cli (to list the
    # command), and importing the generator there cost 170 ms of each start (measured
    # with -X importtime on a busy machine); the command itself imports it when it runs.
    if name in ("generate", "generate_with_stats"):
        from demo import generator

        return getattr(generator, name)
    if name == "GeneratedStats":
        from demo.stats import GeneratedStats

        return GeneratedStats
    raise AttributeError(f"module 'demo' has no attribute {name!r}")
