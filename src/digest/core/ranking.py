"""Ranking: an explainable score per story from relevance, source weight, recency and coverage."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RankingRules:
    """Points for each part of a story's score; see `config.example.toml` [ranking]."""

    relevance_weight: float = 1.0
    recency_weight: float = 4.0
    coverage_weight: float = 3.0
    source_weights: Mapping[str, float] = field(default_factory=dict)

    def source_weight(self, source: str) -> float:
        """The configured weight of an outlet (matched case-blind), 1.0 when not listed."""
        folded = {name.casefold(): weight for name, weight in self.source_weights.items()}
        return folded.get(source.casefold(), 1.0)


@dataclass(frozen=True, slots=True)
class Ranked:
    score: float
    reasons: tuple[str, ...]


def rank_story(
    relevance: float,
    source: str,
    published_at: datetime,
    window: tuple[datetime, datetime],
    outlets: int,
    rules: RankingRules,
) -> Ranked:
    """Score = relevance × relevance weight × source weight + recency + coverage.

    Recency gives the full `recency_weight` to a story published at the end of the window and
    nothing at its start; coverage gives `coverage_weight` per doubling of the outlets that
    reported the story.
    """
    start, end = window
    source_weight = rules.source_weight(source)
    relevance_part = relevance * rules.relevance_weight * source_weight
    span = (end - start).total_seconds() or 1.0
    freshness = min(max((published_at - start).total_seconds() / span, 0.0), 1.0)
    recency_part = rules.recency_weight * freshness
    coverage_part = rules.coverage_weight * math.log2(max(outlets, 1))
    reasons = [
        f"relevance {relevance:g}"
        + (f" × source weight {source_weight:g}" if source_weight != 1 else "")
    ]
    reasons.append(f"recency +{recency_part:.2f} ({freshness:.0%} through the window)")
    if outlets > 1:
        reasons.append(f"coverage +{coverage_part:.2f} ({outlets} outlets)")
    total = round(relevance_part + recency_part + coverage_part, 3)
    return Ranked(total, tuple(reasons))
