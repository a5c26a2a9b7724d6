"""Learned scoring: a model of conversion learned from the engine's own closed leads.

Hand-set points cannot know which behaviour predicts buying in a given business; a model
fitted on the leads that closed can, and an event-sourced store can train on each lead
exactly as it was known before its outcome, then replay any past grade under any model.

- :mod:`.facts` (pure Python): :class:`~.facts.LeadFacts`, what a lead's *inputs* (its
  touchpoints, and with ``sales`` its sales actions) said before a moment, folded from its
  events. The Lead aggregate keeps one (``lead.facts``) folded by the same code, so live
  scoring and training read the same facts.
- :mod:`.features`: :class:`~.features.FeatureSpec` (which columns: kinds, categories,
  numeric properties; discovered from the training leads, capped) and
  :func:`~.features.matrix` (facts at moments → a float matrix, NaN for missing),
  computed by :mod:`._columns` (all leads at once with numpy, or one lead in plain
  Python, bitwise equal) from the values :mod:`._values` reads.
- :mod:`.artifact`: :class:`~.artifact.Artifact`, a trained model as data (JSON: the
  spec, LightGBM's model text, the calibration, the logistic baseline, the metrics),
  its content hash, and :func:`~.artifact.decode`, which refuses bytes whose hash differs.
- :mod:`.model`: :class:`~.model.Model`, a verified artifact loaded for prediction:
  ``predict`` (calibrated probabilities of the blend of the trees and the logistic
  baseline, batched), ``factors`` (per-lead contributions, grouped by source field),
  ``grade_of`` (a probability → hot / warm / cold); :mod:`.predicted`: a batch of
  leads' ``predicted`` for the views (``lead show``, ``leads export``).
- :mod:`.outcomes`: the closed leads as examples (facts as of just before each
  outcome); :mod:`.training`: cross-validated training of the gradient-boosted model
  and the baseline, their blend, the calibration, the refusal below a minimum of
  outcomes per class; :mod:`.metrics`: AUC, PR-AUC, calibration and lift by decile.
- :mod:`.registry`: models stored in the event store's database (``lifecycle_models``),
  listed, shown, activated, exported and imported; loading verifies the hash.
- :mod:`.replay`: checks that every model-made grade in the store is reproduced by
  recomputing its features from the history before it and predicting again.

scikit-learn and LightGBM are imported only here (an import-linter contract), and this
package is imported only where a model is used, so commands that use none stay quick.
"""
