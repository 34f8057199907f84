"""Quality of the editorial engine on real, hand-labelled news (tests/data/labels.jsonl and
tests/data/stories.jsonl).

`make quality` prints the same figures with the errors; the README quotes them.
"""

import pytest

from quality import classification_report, clustering_report


def test_section_classification_holds_its_figure() -> None:
    score, per_class, errors = classification_report()
    # 0.950 on 766 items, the product bar. The 332 items added last (BBC 2022 and 2025; The
    # Hill, Al Jazeera, NBC, Sky, NYT, WSJ, WaPo and Politico 2024) were labelled before the
    # rules met them: 313 were right.
    assert score >= 0.945, "\n".join(errors)
    assert per_class["none"] >= 0.98  # off-topic stories must not leak into the digest


@pytest.mark.parametrize(
    ("name", "precision", "recall"),
    [
        # Teasers, 75 pairs: 0.942 / 0.867, both over the product bar.
        ("labelled feeds (teasers of twelve outlets)", 0.90, 0.85),
        # Headlines alone, no lead: 0.899 / 0.871, both over the product bar.
        ("Google News top stories 2019 (headlines only)", 0.89, 0.85),
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
