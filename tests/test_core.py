"""The editorial core with explicit data: classification, the day window, building, summaries."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.core.articles import Article
from digest.core.edition import Edition, build_edition, day_window
from digest.core.links import link_token, verify_token
from digest.core.sections import SectionRule, classify, compile_term
from digest.core.text import summarize
from digest.ingest.textdump import parse_text_dump

SEED = Path(__file__).parent / "data" / "2024-06-24-ukraine-peace-talks.txt"
RULES = load_settings().section_rules()


def _article(article_id: int, title: str, text: str, hour: int = 12, **kw: object) -> Article:
    published = datetime(2024, 6, 24, hour, 0, tzinfo=UTC)
    return Article(article_id, title, text, kw.pop("source", "Wire"), None, published, **kw)  # type: ignore[arg-type]


def test_seed_is_ukraine_also_congress_and_middle_east() -> None:
    seed = parse_text_dump(SEED.read_text(), "seed", "UTC", "seed")
    verdict = classify(seed.title, seed.text, RULES)
    assert verdict.primary == "ukraine"
    assert set(verdict.secondary) == {"congress", "middle_east"}
    assert any("'ukraine' in headline" in r for r in verdict.reasons["ukraine"])


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Senate passes spending bill", "The Senate voted 68-30. Senators said...", "congress"),
        ("Strikes hit Gaza", "Israeli strikes in Gaza killed...", "middle_east"),
        ("Recipe: summer salads", "Tomatoes, basil and olive oil.", None),
        ("Kyiv hit by drones", "Air raid sirens sounded across Kyiv overnight.", "ukraine"),
    ],
)
def test_classify_picks_the_section_of_the_story(
    title: str, text: str, expected: str | None
) -> None:
    assert classify(title, text, RULES).primary == expected


def test_terms_match_whole_words_aliases_and_phrases() -> None:
    pattern = compile_term("kyiv|kiev|house of representatives")
    assert pattern.search("in Kiev today")
    assert pattern.search("the House  of\nRepresentatives voted")
    assert not pattern.search("Kievan Rus")
    assert not pattern.search("housekeeping")


def test_exclusion_rules_out_a_section() -> None:
    rule = SectionRule.build("ukraine", "Ukraine", {"ukraine": 3}, exclude=["eurovision"])
    verdict = classify("Ukraine wins Eurovision", "Ukraine Ukraine", [rule])
    assert verdict.primary is None
    assert verdict.reasons["ukraine"] == ("excluded by 'eurovision'",)


def test_day_window_follows_the_edition_timezone_and_dst() -> None:
    start, end = day_window(date(2024, 3, 10), "America/New_York")  # DST starts that day
    assert start == datetime(2024, 3, 10, 5, 0, tzinfo=UTC)
    assert end == datetime(2024, 3, 11, 4, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 23 * 3600


def test_build_ranks_trims_and_explains_what_it_left_out() -> None:
    articles = [
        _article(1, "Kyiv talks", "Ukraine " * 3 + "Kyiv"),
        _article(2, "Ukraine and Kyiv and Zelensky", "Ukraine Kyiv Zelensky " * 3),
        _article(3, "Ukraine aid", "Ukraine " * 2),
        _article(4, "Garden show opens", "Flowers."),
        _article(5, "UKRAINE AID!", "Ukraine " * 2, source="Other"),
        _article(6, "Kyiv late", "Kyiv Ukraine", hour=23),
    ]
    edition = build_edition(
        articles,
        RULES,
        name="daily",
        day=date(2024, 6, 24),
        timezone="UTC",
        max_items_per_section=2,
    )
    (section,) = edition.sections
    assert section.key == "ukraine"
    assert [i.article_id for i in section.items] == [2, 1]
    reasons = {d.article_id: d.reason for d in edition.dropped}
    assert reasons[4] == "matches no section"
    assert reasons[5] == "same headline as an earlier article from Wire"
    assert reasons[3] == reasons[6] == "over the Ukraine quota of 2"


def test_articles_outside_the_day_are_left_out() -> None:
    edition = build_edition(
        [_article(1, "Kyiv talks", "Ukraine Kyiv", hour=2)],
        RULES,
        name="daily",
        day=date(2024, 6, 24),
        timezone="America/New_York",
        max_items_per_section=5,
    )
    assert edition.item_count == 0
    assert edition.dropped[0].reason == "published outside the day"


def test_frozen_edition_survives_a_round_trip() -> None:
    edition = build_edition(
        [_article(1, "Kyiv talks", "Ukraine Kyiv Ukraine")],
        RULES,
        name="daily",
        day=date(2024, 6, 24),
        timezone="UTC",
        max_items_per_section=5,
    )
    assert Edition.from_dict(edition.to_dict()) == edition


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short one.", 50, "Short one."),
        (
            "First sentence here. Second sentence is longer than the limit.",
            40,
            "First sentence here.",
        ),
        ("word " * 30, 40, "word word word word word word word word…"),
        ("Para one.\n\nPara two.", 100, "Para one. Para two."),
    ],
)
def test_summaries_end_at_a_sentence_or_a_word(text: str, limit: int, expected: str) -> None:
    summary = summarize(text, limit)
    assert summary == expected
    assert len(summary) <= limit


def test_link_tokens_are_bound_to_subscriber_and_purpose() -> None:
    token = link_token("secret-a", "unsubscribe", 7)
    assert verify_token("secret-a", "unsubscribe", token)
    assert not verify_token("secret-b", "unsubscribe", token)
    assert not verify_token("secret-a", "preferences", token)
    assert not verify_token("secret-a", "unsubscribe", token.replace("7.", "8.", 1))
    assert not verify_token("secret-a", "unsubscribe", "garbage")
