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
        # Product bar (0.85) on precision; recall guarded at today's figure: on these short
        # teasers lexical similarity cannot yet tell many "same event" pairs from "same topic".
        ("fixture feeds (NYT+BBC, Guardian, CNN teasers)", 0.85, 0.45),
        # Headlines alone, no lead: both guarded at today's figures, below the bar.
        ("Google News top stories 2019 (headlines only)", 0.72, 0.60),
        # Many outlets' headlines on one company's news: both hold the product bar.
        ("Google News search 2026 (one company's news)", 0.85, 0.85),
    ],
)
def test_story_clustering_folds_the_same_story_and_only_it(
    name: str, precision: float, recall: float
) -> None:
    scores = clustering_report(name)
    assert scores.precision >= precision, "\n".join(map(str, scores.false_pairs))
    assert scores.recall >= recall, "\n".join(map(str, scores.missed_pairs))
