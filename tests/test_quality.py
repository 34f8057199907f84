"""Quality of the editorial engine on real, hand-labelled news (tests/data/labels.jsonl and
tests/data/stories.jsonl).

`make quality` prints the same figures with the errors; the README quotes them.
"""

import pytest

from quality import classification_report, clustering_report


def test_section_classification_holds_its_figure() -> None:
    score, per_class, errors = classification_report()
    # 0.936: the product bar (0.95) holds on the test feeds the rules were written against,
    # not with the Yahoo items labelled afterwards (Congress named only through a member).
    assert score >= 0.93, "\n".join(errors)
    assert per_class["none"] >= 0.98  # off-topic stories must not leak into the digest


@pytest.mark.parametrize(
    ("name", "precision", "recall"),
    [
        # One-sentence teasers, 15 pairs (one pair moves a figure by 0.07): 0.750 / 0.800,
        # under the product bar; one subject's different events fold together.
        ("fixture feeds (NYT+BBC, Guardian, CNN, Yahoo teasers)", 0.75, 0.80),
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
