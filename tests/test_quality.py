"""Quality of the editorial engine on real, hand-labelled news (tests/data/labels.jsonl and
tests/data/stories.jsonl).

`make quality` prints the same figures with the errors; the README quotes them.
"""

import pytest

from quality import classification_report, clustering_report


def test_section_classification_reaches_the_bar() -> None:
    score, per_class, errors = classification_report()
    assert score >= 0.95, "\n".join(errors)
    assert per_class["none"] >= 0.98  # off-topic stories must not leak into the digest


@pytest.mark.parametrize(
    ("name", "precision", "recall"),
    [
        # Two outlets' one-sentence teasers: 11 of 13 pairs on both counts (0.846), where one
        # pair moves a figure by 0.08: a hair under the product bar.
        ("fixture feeds (NYT+BBC, Guardian, CNN teasers)", 0.80, 0.80),
        # Headlines alone, no lead: recall holds the bar; precision is guarded at today's
        # figure, below it (deal pages of different retailers fold together).
        ("Google News top stories 2019 (headlines only)", 0.80, 0.85),
        # Many outlets' headlines on one company's news: both hold the product bar.
        ("Google News search 2026 (one company's news)", 0.95, 0.95),
    ],
)
def test_story_clustering_folds_the_same_story_and_only_it(
    name: str, precision: float, recall: float
) -> None:
    scores = clustering_report(name)
    assert scores.precision >= precision, "\n".join(map(str, scores.false_pairs))
    assert scores.recall >= recall, "\n".join(map(str, scores.missed_pairs))
