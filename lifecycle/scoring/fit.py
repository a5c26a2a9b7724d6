"""Fit against the ideal customer profile, and the screens that judge a lead invalid on
positive evidence (education or free-mail domains under a B2B template, test or spam
patterns); a lead without contact details is not invalid, only not contactable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lifecycle.scoring.profile_config import FitConfig, ScreenConfig

# Its public names are listed once, in the package's __all__ (lifecycle.scoring).


def fit_score(profile: dict[str, object], config: FitConfig) -> tuple[float, dict[str, float]]:
    """Scores a profile against the ideal customer profile.

    Industry, title and country are compared as tokens, through the configuration's
    aliases (:class:`~lifecycle.scoring.matching.FitMatcher`): "Financial Services"
    scores like ``financial_services``.

    Returns:
        The fit score (0-100, rounded to 0.01) and its parts by dimension.
    """
    match = config.matcher
    industry, title, country = profile.get("industry"), profile.get("title"), \
        profile.get("country")
    parts: dict[str, float] = {}
    ind = match.industry(industry) if isinstance(industry, str) else None
    parts["industry"] = round((ind or 0.0) * config.industry.weight, 2)

    employees = profile.get("employees")
    size = 0.0
    if isinstance(employees, int):
        for band in config.company_size.bands:
            if employees >= band.min and (band.max is None or employees <= band.max):
                size = band.score
                break
    parts["company_size"] = round(size * config.company_size.weight, 2)

    seniority = match.seniority(title) if isinstance(title, str) else None
    parts["seniority"] = round((seniority or 0.0) * config.seniority.weight, 2)

    ctry = match.country(country) if isinstance(country, str) else None
    parts["country"] = round((ctry or 0.0) * config.country.weight, 2)
    return round(sum(parts.values()), 2), parts


def unmatched(profile: Mapping[str, object], config: FitConfig) -> tuple[str, ...]:
    """The dimensions among industry, title and country whose given value matched
    nothing the configuration knows (after normalisation and aliases).

    A known value that scores nothing (an industry of ``others``, a country that is no
    target, a title of a level worth 0) is matched; a missing one is not given; nothing
    is unmatched in a dimension of weight 0 (it does not count).
    """
    match = config.matcher
    found: list[str] = []
    for name, weight, ask in (("industry", config.industry.weight, match.industry),
                              ("title", config.seniority.weight, match.seniority),
                              ("country", config.country.weight, match.country)):
        value = profile.get(name)
        if weight and isinstance(value, str) and ask(value) is None:
            found.append(name)
    return tuple(found)


def screen(
    emails: Sequence[str], profile: Mapping[str, object], *, b2b: bool, config: ScreenConfig
) -> str | None:
    """Judges a lead by what it holds: its emails, and its profile's name and company.

    A name or company that matches a test pattern fails the lead. Its emails fail it
    only when none passes (a business address outweighs a free-mail one given too): an
    email fails on a test pattern, and under a B2B template on a free-mail or education
    domain. No email at all is no evidence: the lead passes.

    Returns:
        Why the lead is invalid (for the newest failing email), or None when it passes.
    """
    for field in ("name", "company"):
        value = profile.get(field)
        if isinstance(value, str):
            pattern = config.test_pattern(value)
            if pattern is not None:
                return f"{field} matches the test pattern {pattern!r}"
    why: str | None = None
    for email in emails:
        why = _email_screen(email, b2b, config)
        if why is None:
            return None
    return why


def _email_screen(email: str, b2b: bool, config: ScreenConfig) -> str | None:
    pattern = config.test_pattern(email)
    if pattern is not None:
        return f"email matches the test pattern {pattern!r}"
    if b2b:
        domain = email.rpartition("@")[2]
        if domain in config.free_mail_domains:
            return f"free-mail address ({domain}) under a B2B template"
        for suffix in config.education_suffixes:
            if domain.endswith(suffix) or (suffix.endswith("-") and suffix[1:] in domain):
                return f"education domain ({domain}) under a B2B template"
    return None
