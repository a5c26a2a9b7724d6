"""Fit against the ideal customer profile, and the screens that judge a lead invalid on
positive evidence (education or free-mail domains under a B2B template, test or spam
patterns); a lead without contact details is not invalid, only not contactable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lifecycle.scoring.config import FitConfig, ScreenConfig

# Its public names are listed once, in the package's __all__ (lifecycle.scoring).


def fit_score(profile: dict[str, object], config: FitConfig) -> tuple[float, dict[str, float]]:
    """Scores a profile against the ideal customer profile.

    Returns:
        The fit score (0-100, rounded to 0.01) and its parts by dimension.
    """
    parts: dict[str, float] = {}
    ind = _tier(profile.get("industry"), config.industry.targets, config.industry.adjacent)
    parts["industry"] = round(ind * config.industry.weight, 2)

    employees = profile.get("employees")
    size = 0.0
    if isinstance(employees, int):
        for band in config.company_size.bands:
            if employees >= band.min and (band.max is None or employees <= band.max):
                size = band.score
                break
    parts["company_size"] = round(size * config.company_size.weight, 2)

    title = profile.get("title")
    seniority = 0.0
    if isinstance(title, str):
        words = title.lower()
        for level in config.seniority.levels:
            if any(_has_word(words, k) for k in level.keywords):
                seniority = level.score
                break
    parts["seniority"] = round(seniority * config.seniority.weight, 2)

    ctry = _tier(profile.get("country"), config.country.targets, config.country.secondary)
    parts["country"] = round(ctry * config.country.weight, 2)
    return round(sum(parts.values()), 2), parts


def _tier(value: object, targets: tuple[str, ...], second: tuple[str, ...]) -> float:
    """1 for a target value, 0.5 for one of the second tier, else (or not text) 0."""
    if isinstance(value, str):
        if value in targets:
            return 1.0
        if value in second:
            return 0.5
    return 0.0


def _has_word(text: str, keyword: str) -> bool:
    start = text.find(keyword)
    while start >= 0:
        end = start + len(keyword)
        before_ok = start == 0 or not text[start - 1].isalnum()
        after_ok = end == len(text) or not text[end].isalnum()
        if before_ok and after_ok:
            return True
        start = text.find(keyword, start + 1)
    return False


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
