"""Classification: one primary section (or none) and optional secondary sections per article.

A section's score adds, for each of its weighted terms, the mentions in the text (at most
three count), a bonus when the term is in the lead (the first paragraphs) and a larger one when
it is in the headline. The primary section must also have evidence in the headline or the
lead: a story that names a place only deep in its body is about something else.
"""

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from digest.core.text import paragraphs

# Mentions of one term that count: a long article that repeats a word is not more on-topic.
MAX_HITS_PER_TERM = 3
LEAD_CHARS = 400


def _word_pattern(word: str) -> str:
    # Outlets write "Peru's" and "Peru’s"; a term names both whichever it is written with.
    return "['’]".join(re.escape(part) for part in re.split("['’]", word))


def _alias_pattern(spec: str) -> str:
    aliases = [a.strip() for a in spec.split("|") if a.strip()]
    if not aliases:
        raise ValueError(f"a term with at least one word, not {spec!r}")
    return "|".join(r"\s+".join(_word_pattern(w) for w in alias.split()) for alias in aliases)


# A term matches each part of a compound ("Iran-Israel war", "Russia-Ukraine talks"), but not
# after a stance prefix or before an origin: a "pro-Palestinian" rally, an "anti-Israel" slogan
# or an "Israeli-born" chef in Brooklyn is about somewhere else.
_WORD_START = r"(?<!\w)(?<!\bpro-)(?<!\banti-)"
_WORD_END = r"(?!\w)(?!-(?:born|based|americans?)\b)"


def _whole_words(alternatives: Iterable[str]) -> re.Pattern[str]:
    return re.compile(_WORD_START + "(?:" + "|".join(alternatives) + ")" + _WORD_END, re.IGNORECASE)


def compile_term(spec: str) -> re.Pattern[str]:
    """Compile `"kyiv|kiev"` or `"house of representatives"` into a whole-word, case-blind regex."""
    return _whole_words([_alias_pattern(spec)])


@dataclass(frozen=True, slots=True)
class Term:
    spec: str
    weight: float


@dataclass(frozen=True, slots=True)
class SectionRule:
    """A section and the rules that decide which articles belong in it."""

    key: str
    title: str
    terms: tuple[Term, ...]
    exclude: tuple[str, ...] = ()
    title_weight: float = 3.0
    lead_weight: float = 1.0
    min_score: float = 5.0
    quota: int | None = None
    # One alternation for all terms, a named group per term: a single pass finds every term.
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    exclude_pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    # The terms heavy enough to place an article on their own (in its headline, lead and
    # text); the lighter ones ("democrats", "kremlin") only add to what those found.
    decisive: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = [f"(?P<t{i}>{_alias_pattern(t.spec)})" for i, t in enumerate(self.terms)]
        object.__setattr__(self, "pattern", _whole_words(groups))
        alone = self.title_weight + self.lead_weight + 1
        decisive = {i for i, t in enumerate(self.terms) if t.weight * alone >= self.min_score}
        object.__setattr__(self, "decisive", frozenset(decisive))
        excluded = [_alias_pattern(s) for s in self.exclude]
        object.__setattr__(self, "exclude_pattern", _whole_words(excluded) if excluded else None)

    @classmethod
    def build(
        cls, key: str, title: str, terms: Mapping[str, float], **options: object
    ) -> "SectionRule":
        return cls(key, title, tuple(Term(s, w) for s, w in terms.items()), **options)  # type: ignore[arg-type]

    def hits(self, text: str) -> "Hits":
        """How often each term (by index) occurs in `text`, and the words that matched."""
        found = Hits()
        for m in self.pattern.finditer(text):
            if m.lastgroup:
                index = int(m.lastgroup[1:])
                found[index] += 1
                found.words.setdefault(index, " ".join(m.group(0).casefold().split()))
        return found

    def decided(self, in_headline: "Hits", in_lead: "Hits") -> bool:
        """Whether a decisive term is in the headline or the lead: only then may the section
        be the article's."""
        return not self.decisive.isdisjoint(in_headline.keys() | in_lead.keys())


class Hits(Counter[int]):
    """Mentions per term index; `words` keeps the first wording each term matched, so a reason
    names the word in the article ("kursk"), not the first alias of its term ("kharkiv")."""

    def __init__(self) -> None:
        super().__init__()
        self.words: dict[int, str] = {}


@dataclass(frozen=True, slots=True)
class Zones:
    """The parts of an article that weigh differently: headline, lead, and the whole text."""

    headline: str
    lead: str
    text: str

    @classmethod
    def of(cls, title: str, text: str, summary: str = "") -> "Zones":
        # The lead is the first paragraph: later ones of a teaser often start other stories.
        lead = (paragraphs(summary) or paragraphs(text) or [""])[0]
        return cls(title, lead[:LEAD_CHARS], text if summary in text else f"{summary}\n\n{text}")


@dataclass(frozen=True, slots=True)
class SectionScore:
    score: float
    reasons: tuple[str, ...]
    prominent: bool  # a decisive term in the headline or the lead


def score_section(
    rule: SectionRule, zones: Zones, in_headline: Hits, in_lead: Hits
) -> SectionScore:
    """The section's score from its hits in the headline and lead, and in the whole text."""
    if rule.exclude_pattern is not None:
        found = rule.exclude_pattern.search(zones.headline) or rule.exclude_pattern.search(
            zones.lead
        )
        if found:
            return SectionScore(0.0, (f"excluded: '{found.group(0)}' in headline or lead",), False)
    in_text = rule.hits(zones.text)
    score, reasons = 0.0, []
    for index, term in enumerate(rule.terms):
        mentions = min(in_text[index], MAX_HITS_PER_TERM)
        gained = term.weight * (
            mentions
            + (rule.title_weight if in_headline[index] else 0.0)
            + (rule.lead_weight if in_lead[index] else 0.0)
        )
        if gained:
            score += gained
            where = [w for w, hit in (("headline", in_headline), ("lead", in_lead)) if hit[index]]
            if in_text[index]:
                where.append(f"{in_text[index]}× in text")
            word = next(z.words[index] for z in (in_headline, in_lead, in_text) if z[index])
            reasons.append(f"'{word}' in {', '.join(where)} (+{gained:g})")
    return SectionScore(round(score, 3), tuple(reasons), rule.decided(in_headline, in_lead))


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


def classify(
    title: str,
    text: str,
    rules: Sequence[SectionRule],
    summary: str = "",
    off_topic: re.Pattern[str] | None = None,
) -> Classification:
    """Pick the best-scoring section that reaches its minimum with a decisive term in the
    headline or lead; other sections that reach their minimum are secondary. `off_topic`
    (sport, culture) in the headline or lead keeps the article out of every section. Ties go
    to the section listed first."""
    zones = Zones.of(title, text, summary)
    if off_topic is not None and (
        found := off_topic.search(zones.headline) or off_topic.search(zones.lead)
    ):
        return _nowhere(rules, f"off-topic: '{found.group(0)}' in headline or lead")
    up_front = {rule.key: (rule.hits(zones.headline), rule.hits(zones.lead)) for rule in rules}
    if not any(rule.decided(*up_front[rule.key]) for rule in rules):
        # No section can be the article's, so its text is not read: most of a busy day's
        # articles end here, and this spares most of the time classifying takes.
        return _nowhere(rules, "no decisive term of any section in the headline or lead")
    results = {rule.key: score_section(rule, zones, *up_front[rule.key]) for rule in rules}
    ranked = sorted(
        (-result.score, order, rule.key)
        for order, (rule, result) in enumerate(zip(rules, results.values(), strict=True))
        if result.score >= rule.min_score
    )
    keys = [key for _, _, key in ranked]
    primary = next((key for key in keys if results[key].prominent), None)
    return Classification(
        primary=primary,
        secondary=tuple(key for key in keys if key != primary),
        scores={key: result.score for key, result in results.items()},
        reasons={key: result.reasons for key, result in results.items()},
    )


def _nowhere(rules: Sequence[SectionRule], reason: str) -> Classification:
    """No section, for one reason that holds for every section."""
    return Classification(None, (), {r.key: 0.0 for r in rules}, {r.key: (reason,) for r in rules})


def terms_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    """One whole-word, case-blind pattern matching any of `terms`; None when there are none."""
    return _whole_words([_alias_pattern(t) for t in terms]) if terms else None
