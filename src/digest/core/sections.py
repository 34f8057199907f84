"""Classification of an article into one primary section and optional secondary ones."""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# A term matches this many times at most: a long article that repeats a word is not more on-topic.
_MAX_HITS_PER_TERM = 3


def compile_term(spec: str) -> re.Pattern[str]:
    """Compile `"kyiv|kiev"` or `"house of representatives"` into a whole-word, case-blind regex."""
    aliases = [a.strip() for a in spec.split("|") if a.strip()]
    if not aliases:
        raise ValueError(f"empty term {spec!r}")
    parts = [r"\s+".join(re.escape(word) for word in alias.split()) for alias in aliases]
    return re.compile(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Term:
    spec: str
    weight: float
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class SectionRule:
    """A section and the rules that decide which articles belong in it."""

    key: str
    title: str
    terms: tuple[Term, ...]
    exclude: tuple[Term, ...] = ()
    title_weight: float = 2.0
    min_score: float = 3.0

    @classmethod
    def build(
        cls,
        key: str,
        title: str,
        terms: Mapping[str, float],
        exclude: Sequence[str] = (),
        title_weight: float = 2.0,
        min_score: float = 3.0,
    ) -> "SectionRule":
        return cls(
            key=key,
            title=title,
            terms=tuple(Term(s, w, compile_term(s)) for s, w in terms.items()),
            exclude=tuple(Term(s, 0.0, compile_term(s)) for s in exclude),
            title_weight=title_weight,
            min_score=min_score,
        )


@dataclass(frozen=True, slots=True)
class Classification:
    """Where an article belongs, with the per-section scores and the reasons behind them."""

    primary: str | None
    secondary: tuple[str, ...] = ()
    scores: Mapping[str, float] = field(default_factory=dict)
    reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def sections(self) -> tuple[str, ...]:
        return ((self.primary,) if self.primary else ()) + self.secondary


def score_section(rule: SectionRule, title: str, text: str) -> tuple[float, tuple[str, ...]]:
    """Score one section for an article: weighted term hits, with hits in the headline boosted."""
    for term in rule.exclude:
        if term.pattern.search(title) or term.pattern.search(text):
            return 0.0, (f"excluded by '{term.spec}'",)
    score = 0.0
    reasons: list[str] = []
    for term in rule.terms:
        body_hits = min(len(term.pattern.findall(text)), _MAX_HITS_PER_TERM)
        in_title = term.pattern.search(title) is not None
        gained = term.weight * body_hits + (term.weight * rule.title_weight if in_title else 0.0)
        if gained:
            score += gained
            where = (
                "headline + body" if in_title and body_hits else "headline" if in_title else "body"
            )
            reasons.append(f"'{term.spec.split('|')[0]}' in {where} (+{gained:g})")
    return score, tuple(reasons)


def classify(title: str, text: str, rules: Iterable[SectionRule]) -> Classification:
    """Pick the best-scoring section that reaches its minimum; the others that reach theirs are
    secondary. Ties go to the section listed first in the configuration."""
    scores: dict[str, float] = {}
    reasons: dict[str, tuple[str, ...]] = {}
    qualified: list[tuple[float, int, str]] = []
    for order, rule in enumerate(rules):
        score, why = score_section(rule, title, text)
        scores[rule.key], reasons[rule.key] = score, why
        if score >= rule.min_score and score > 0:
            qualified.append((-score, order, rule.key))
    qualified.sort()
    keys = [key for _, _, key in qualified]
    return Classification(
        primary=keys[0] if keys else None,
        secondary=tuple(keys[1:]),
        scores=scores,
        reasons=reasons,
    )
