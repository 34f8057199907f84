"""Building editions from explicit articles: windows, stories, ranking, quotas, editors, budget."""

import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from digest.config import load_settings
from digest.core.articles import Article
from digest.core.building import (
    EditorialRules,
    Override,
    build_edition,
    edition_window,
    trim_to_budget,
)
from digest.core.edition import Edition
from digest.core.links import link_token, token_subscriber, verify_token
from digest.core.ranking import RankingRules
from digest.core.text import summarize

RULES = load_settings().editorial_rules()
DAY = date(2024, 6, 24)
WINDOW = edition_window(DAY, "UTC", time(7, 0), 24)
NOON = datetime(2024, 6, 23, 12, 0, tzinfo=UTC)


def article(
    article_id: int,
    title: str,
    lead: str,
    *,
    source: str = "Wire",
    hours: float = 0,
    text: str = "",
) -> Article:
    return Article(
        article_id,
        title,
        text or lead,
        source,
        f"https://example.com/{article_id}",
        NOON + timedelta(hours=hours),
        lead,
    )


def build(articles: list[Article], rules: EditorialRules = RULES, **kw: object) -> Edition:
    return build_edition(
        articles,
        rules,
        name="daily",
        day=DAY,
        timezone="UTC",
        window=WINDOW,
        **kw,  # type: ignore[arg-type]
    )


def accounted(edition: Edition) -> list[int]:
    """Every article id the edition mentions: items, folded duplicates, dropped."""
    ids = [i.article_id for s in edition.sections for i in s.items]
    ids += [d.article_id for s in edition.sections for i in s.items for d in i.duplicates]
    return sorted(ids + [d.article_id for d in edition.dropped])


KURSK = [
    article(
        1,
        "Ukraine launches surprise incursion into Russia's Kursk region",
        "Ukrainian troops crossed into the Kursk region of Russia on Tuesday, officials said.",
        source="Wire A",
        hours=1,
    ),
    article(
        2,
        "Ukraine launches surprise incursion into Kursk region of Russia",
        "Ukrainian troops crossed into Russia's Kursk region on Tuesday, officials said.",
        source="Wire B",
        hours=2,
        text="Longer text. " * 50,
    ),
    article(
        3,
        "Drones strike Kyiv overnight",
        "Russia launched drones at Kyiv, Ukrainian officials said.",
        hours=3,
    ),
    article(
        4,
        "Hamas names new leader",
        "Hamas named a new political leader in Gaza on Tuesday.",
        hours=4,
    ),
    article(
        5, "Chip makers report record quarter", "Demand for AI servers pushed revenue up.", hours=5
    ),
]


def test_every_article_is_accounted_for_exactly_once() -> None:
    edition = build(KURSK)
    assert accounted(edition) == [1, 2, 3, 4, 5]
    assert {d.article_id: d.reason for d in edition.dropped} == {5: "no-section"}


def test_an_article_left_out_of_every_section_says_what_it_lacked() -> None:
    war = "\n\n".join(["Visitors admired the boats."] * 5 + ["Ukraine, Kyiv and Ukraine's ports."])
    light = article(6, "Kremlin comments on shipping", "Freight costs rose.", hours=1)
    short = article(7, "Lawmakers tour the harbour", "Visitors admired the boats.", hours=2)
    buried = article(8, "Lawmakers tour the harbour", "Visitors admired the boats.", text=war)
    details = {d.article_id: d.detail for d in build([light, short, buried]).dropped}
    assert details == {
        6: "no decisive term of any section in the headline or lead",
        7: "best section congress scored 4.5, below its minimum of 5",
        8: "best section ukraine scored 6, but not on a decisive term in the headline or lead",
    }


def test_one_story_from_two_outlets_becomes_one_item_with_the_other_folded_in() -> None:
    edition = build(KURSK)
    ukraine = next(s for s in edition.sections if s.key == "ukraine")
    (story,) = [i for i in ukraine.items if i.duplicates]
    assert story.article_id == 1  # earliest wins when source weights are equal
    assert [d.source for d in story.duplicates] == ["Wire B"]
    assert any("coverage" in r and "2 outlets" in r for r in story.reasons)


def test_a_column_filed_under_opinion_is_an_item_of_its_own() -> None:
    column = replace(
        KURSK[1], article_id=9, source="Op-Ed", url="https://example.com/opinion/kursk-gamble"
    )
    ukraine = next(s for s in build([*KURSK, column]).sections if s.key == "ukraine")
    assert [
        [d.article_id for d in i.duplicates] for i in ukraine.items if i.article_id in (1, 9)
    ] == [[2], []]


def test_a_trusted_source_is_preferred_as_the_representative() -> None:
    rules = EditorialRules(
        RULES.sections,
        RULES.off_topic,
        RULES.clustering,
        RankingRules(source_weights={"wire b": 1.5}),
        RULES.prefer,
    )
    ukraine = next(s for s in build(KURSK, rules).sections if s.key == "ukraine")
    assert ukraine.items[0].article_id == 2
    assert ukraine.items[0].duplicates[0].article_id == 1


def test_the_same_inputs_in_any_order_give_the_same_edition() -> None:
    shuffled = KURSK[:]
    random.Random(7).shuffle(shuffled)
    assert build(shuffled) == build(KURSK)


def test_quota_keeps_the_best_and_says_why_the_rest_left() -> None:
    stories = [
        article(
            10 + n,
            f"Kyiv hit by strike number {n}",
            f"Russia struck Kyiv on day {n}. " * (1 + n % 3),
            hours=n,
        )
        for n in range(8)
    ]
    rules = EditorialRules(RULES.sections, max_items_per_section=3)
    edition = build(stories, rules)
    (ukraine,) = edition.sections
    assert len(ukraine.items) == 3
    scores = [i.score for i in ukraine.items]
    assert scores == sorted(scores, reverse=True)
    quota = [d for d in edition.dropped if d.reason == "quota"]
    assert len(quota) == 5
    assert all(d.detail == "below the 3 best stories of Ukraine" for d in quota)
    untrimmed = {i.article_id: i.score for i in build(stories, rules, trim=False).sections[0].items}
    assert min(scores) >= max(untrimmed[d.article_id] for d in quota)


def test_editor_pins_and_drops_win_over_the_rules() -> None:
    rules = EditorialRules(RULES.sections, max_items_per_section=1)
    edition = build(
        KURSK,
        rules,
        overrides=[
            Override(3, "pin", note="front page"),
            Override(4, "drop", note="already covered yesterday"),
            Override(5, "pin", section="congress"),
        ],
    )
    items = {i.article_id: s.key for s in edition.sections for i in s.items}
    assert items[3] == "ukraine" and items[5] == "congress"
    assert {d.article_id: (d.reason, d.detail) for d in edition.dropped}[4] == (
        "editor",
        "already covered yesterday",
    )
    pinned = next(i for s in edition.sections for i in s.items if i.article_id == 3)
    assert pinned.pinned and pinned.reasons[0] == "pinned by an editor"
    assert accounted(edition) == [1, 2, 3, 4, 5]


def test_budget_trimming_drops_the_lowest_ranked_first() -> None:
    edition = build(KURSK)
    trimmed = trim_to_budget(edition, lambda e: 1000 * e.item_count, 2000)
    assert trimmed.item_count == 2
    all_items = sorted((i for s in edition.sections for i in s.items), key=lambda i: -i.score)
    kept = {i.article_id for s in trimmed.sections for i in s.items}
    assert kept == {i.article_id for i in all_items[:2]}
    assert {d.reason for d in trimmed.dropped} >= {"size-budget"}
    assert accounted(trimmed) == accounted(edition)


def test_articles_outside_the_window_are_left_out_with_a_reason() -> None:
    early = article(9, "Kyiv talks", "Ukraine and Kyiv officials met.", hours=-30)
    (dropped,) = build([early]).dropped
    assert dropped.reason == "outside-window"


def test_window_is_the_hours_before_the_send_time_across_dst() -> None:
    start, end = edition_window(date(2024, 3, 10), "America/New_York", time(7, 0), 24)
    assert end == datetime(2024, 3, 10, 11, 0, tzinfo=UTC)  # 07:00 EDT
    assert start == datetime(2024, 3, 9, 11, 0, tzinfo=UTC)


def test_edition_survives_a_json_round_trip() -> None:
    edition = build(KURSK)
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


def test_link_tokens_are_bound_to_subscriber_purpose_and_site() -> None:
    token = link_token("secret-a", "unsubscribe", 7, site_secret="site")
    assert verify_token("secret-a", "unsubscribe", token, site_secret="site")
    assert not verify_token("secret-b", "unsubscribe", token, site_secret="site")
    assert not verify_token("secret-a", "preferences", token, site_secret="site")
    altered = token.replace("7.", "8.", 1)
    assert not verify_token("secret-a", "unsubscribe", altered, site_secret="site")
    assert not verify_token("secret-a", "unsubscribe", "garbage", site_secret="site")
    # The database's secret alone (a leaked copy) forges nothing; a new site secret retires
    # every link sent under the old one.
    assert not verify_token("secret-a", "unsubscribe", token, site_secret="")
    assert not verify_token("secret-a", "unsubscribe", token, site_secret="rotated")


@pytest.mark.parametrize("digit", ["\u0667", "\uff17", "\u2077"], ids=["arabic", "wide", "super"])
def test_a_token_names_its_subscriber_in_ascii_digits_only(digit: str) -> None:
    """int() reads "٧" and "７" as 7: a token with them is not one we issued, and is refused
    without an error that would tell it from any other bad token."""
    token = link_token("secret-a", "unsubscribe", 7, site_secret="site")
    assert token_subscriber(token) == 7
    other = token.replace("7.", f"{digit}.", 1)
    assert token_subscriber(other) is None
    assert not verify_token("secret-a", "unsubscribe", other, site_secret="site")
