"""Story clustering on explicit articles: what folds together and what must stay apart."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from digest.config import load_settings
from digest.core.clustering import ClusterRules, Doc, cluster

T0 = datetime(2024, 8, 8, 9, 0, tzinfo=UTC)
RULES = load_settings().editorial_rules().clustering

BACKGROUND = [
    Doc("Chip makers report record quarter on AI demand", "Revenue rose 40 percent.", T0),
    Doc("Storm batters Florida coast", "Hurricane winds cut power to a million homes.", T0),
    Doc("Central bank in Japan raises rates", "The yen rallied after the decision.", T0),
    Doc("Wildfires force evacuations in Greece", "Firefighters battled blazes near Athens.", T0),
]


def groups(docs: list[Doc], rules: ClusterRules = RULES) -> list[list[int]]:
    return [g for g in cluster(docs + BACKGROUND, rules) if len(g) > 1]


def test_lightly_edited_wire_copy_folds_together() -> None:
    wire = Doc(
        "Ukraine launches surprise incursion into Russia's Kursk region",
        "Ukrainian troops crossed the border into Russia's Kursk region on Tuesday in the "
        "largest cross-border assault of the war, Russian officials said.",
        T0,
    )
    edited = Doc(
        "Ukrainian forces launch surprise incursion into Kursk region of Russia",
        "Ukrainian troops crossed into Russia's Kursk region on Tuesday in the biggest "
        "cross-border assault of the war, according to Russian officials.",
        T0 + timedelta(hours=3),
    )
    assert groups([wire, edited]) == [[0, 1]]


def test_near_identical_headlines_fold_even_with_different_teasers() -> None:
    a = Doc("Hamas names Yahya Sinwar as its new political leader", "Read more on our site.", T0)
    b = Doc("Hamas names Sinwar as new political leader", "Live updates follow.", T0)
    assert groups([a, b]) == [[0, 1]]


def test_two_meetings_on_the_same_topic_stay_apart() -> None:
    june = Doc(
        "Fed holds interest rates steady in June",
        "The Federal Reserve left its benchmark rate unchanged and signalled patience.",
        T0,
    )
    july = Doc(
        "Fed holds interest rates steady in July",
        "The Federal Reserve left its benchmark rate unchanged and signalled patience.",
        T0 + timedelta(hours=30),
    )
    assert groups([june, july]) == []


def test_two_votes_in_the_same_chamber_stay_apart() -> None:
    defense = Doc(
        "Senate passes defense policy bill",
        "The annual defense authorization funds troop pay raises and new submarines.",
        T0,
    )
    farm = Doc(
        "Senate passes farm bill",
        "The measure extends crop insurance and food assistance programs for five years.",
        T0,
    )
    assert groups([defense, farm]) == []


def test_the_same_headline_days_apart_is_a_different_story() -> None:
    a = Doc("Drones strike Kyiv overnight", "Air defences shot down most of them.", T0)
    b = Doc(
        "Drones strike Kyiv overnight",
        "Air defences shot down most of them.",
        T0 + timedelta(days=3),
    )
    assert groups([a, b]) == []


def test_clusters_are_deterministic_and_cover_every_article() -> None:
    docs = [
        Doc(f"Story {n} about topic {n % 3}", f"Lead text {n} on topic {n % 3}.", T0)
        for n in range(30)
    ]
    first = cluster(docs, RULES)
    assert first == cluster(docs, RULES)
    assert sorted(i for g in first for i in g) == list(range(30))


def test_a_newsletter_leading_on_a_story_stays_its_own_item() -> None:
    report = Doc(
        "Antiracism protesters gather across Britain after riots",
        "Thousands of counterprotesters gathered in Britain on Wednesday after a week of "
        "anti-immigrant riots.",
        T0,
    )
    briefing = Doc(
        "Thursday Briefing: Antiracism protesters gather across Britain",
        "Thousands of counterprotesters gathered in Britain after anti-immigrant riots. Plus, "
        "China's quest for Olympic gold.",
        T0 + timedelta(hours=2),
    )
    live = Doc(
        "Antiracism protesters gather across Britain – live",
        "Thousands of counterprotesters gathered in Britain after anti-immigrant riots.",
        T0 + timedelta(hours=3),
    )
    second_report = Doc(
        "Counterprotesters gather across Britain after anti-immigrant riots",
        "Thousands of antiracism protesters gathered across Britain on Wednesday.",
        T0 + timedelta(hours=4),
    )
    assert groups([report, briefing, live, second_report]) == [[0, 3]]


def test_a_listing_of_offers_stays_apart_from_the_sale_it_lists() -> None:
    """A deals page shares the sale's words but lists many shops' offers."""
    report = Doc(
        "Walmart starts its Black Friday sale early with deals on TVs and laptops",
        "Walmart began its Black Friday sale on Wednesday, a week early.",
        T0,
    )
    second_report = Doc(
        "Walmart kicks off early Black Friday sale with TV and laptop deals",
        "The retailer opened its Black Friday sale a week early on Wednesday.",
        T0 + timedelta(hours=1),
    )
    listing = Doc(
        "Early Black Friday sale deals on TVs, laptops, phones and more",
        "Walmart began its Black Friday sale early; Amazon and Target have deals too.",
        T0 + timedelta(hours=2),
    )
    updated = Doc(
        "Early Black Friday deals on TVs and laptops at Walmart (Frequent Updates)",
        "Walmart began its Black Friday sale early, and we keep adding deals.",
        T0 + timedelta(hours=3),
    )
    assert groups([report, second_report, listing, updated]) == [[0, 1]]


def test_a_short_headline_inside_a_longer_one_is_no_match() -> None:
    """'Market Wrap' is contained word for word in 'Market Wrap: Oil prices surge ...'."""
    a = Doc("Market Wrap", "Shares ended the session little changed.", T0)
    b = Doc(
        "Market Wrap: Oil prices surge after OPEC cut",
        "Crude jumped six percent as producers announced lower quotas.",
        T0 + timedelta(hours=1),
    )
    assert groups([a, b]) == []


def test_one_sum_in_different_currencies_is_the_same_story() -> None:
    rupees = Doc(
        "TCS HyperVault to invest ₹70,000 crore in AI data centre campus in Hyderabad",
        "The campus will have up to 1 GW of capacity.",
        T0,
    )
    dollars = Doc(
        "TCS unit to invest up to $7.4 billion in AI data centre campus in Hyderabad",
        "The data centre campus will be built over several years.",
        T0 + timedelta(hours=2),
    )
    assert groups([rupees, dollars]) == [[0, 1]]


def test_different_distances_are_different_races() -> None:
    short = Doc("Lyles wins 100m gold in photo finish", "Noah Lyles won by five thousandths.", T0)
    longer = Doc("Lyles takes 200m bronze after photo finish", "Noah Lyles had Covid.", T0)
    assert groups([short, longer]) == []


def test_a_toll_given_as_a_bound_is_not_a_different_figure() -> None:
    # Tolls rise through a day; "at least 9" and "at least 10" are one attack.
    early = Doc(
        "Suspected Jordanian air strike in Syria kills at least 9",
        "The strike hit homes in Sweida province, a monitoring group said.",
        T0,
    )
    later = Doc(
        "At least 10 civilians dead in suspected Jordanian air raids in Syria",
        "Air strikes hit Sweida province near the border with Jordan.",
        T0 + timedelta(hours=2),
    )
    assert groups([early, later]) == [[0, 1]]


def test_comment_and_background_stay_apart_from_the_reports_they_discuss() -> None:
    """Outlets file features and columns under their own part of the site: such a piece
    shares the event's names and words, and reports no event."""
    report = Doc(
        "US launches new strikes on Houthi targets in Yemen",
        "On fourth day of strikes, US military says it targeted 14 Houthi missiles that were "
        "'loaded to be fired' from Yemen.",
        T0,
        url="https://www.aljazeera.com/news/2024/1/18/us-launches-new-strikes-on-houthi-targets",
    )
    second_report = Doc(
        "America strikes 14 Houthi missile sites after attack on US-owned ship",
        "US ships and submarines have fired at Houthi positions in Yemen after another "
        "American-owned vessel was attacked near the Red Sea.",
        T0 - timedelta(hours=4),
        url="https://news.sky.com/story/america-strikes-14-missile-sites-in-yemen-13050638",
    )
    feature = Doc(
        "Beyond the Red Sea: Who are the Houthis up against inside Yemen?",
        "Their attacks on Red Sea ships have brought them global attention. But within Yemen, "
        "the Houthis aren't the force.",
        T0 + timedelta(hours=5),
        url="https://www.aljazeera.com/Features/2024/1/18/beyond-the-red-sea?traffic_source=rss",
    )
    column = Doc(
        "The US strikes on the Houthis in Yemen will not stop the attacks on ships",
        "America's missile strikes on Houthi sites in Yemen miss what drives the attacks.",
        T0 + timedelta(hours=6),
        url="https://www.theguardian.com/us-news/commentisfree/2024/jan/18/houthi-strikes",
    )
    assert groups([report, second_report, feature, column]) == [[0, 1]]
    # Their words alone do not tell them apart.
    unfiled = replace(RULES, apart_paths=())
    assert groups([report, second_report, feature, column], unfiled) == [[0, 1, 2, 3]]
