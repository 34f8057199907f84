"""Clustering by meaning: the bundled headline model, and its vectors kept in the store."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from conftest import digest
from digest.config import load_settings
from digest.core.clustering import Doc, cluster
from digest.core.text import without_label
from digest.errors import ConfigError
from digest.semantic import BUNDLED, Encoder, encoder, model_directory, verify_bundled
from digest.store import db

REFERENCE = Path(__file__).parent / "data" / "semantic"

T0 = datetime(2024, 6, 23, 20, 0, tzinfo=UTC)
RULES = load_settings().editorial_rules().clustering
# Two outlets' reports of one strike, with few words in common.
STRIKE = (
    ("Russian drones strike Kyiv power grid overnight", "Air defences shot down most of them."),
    (
        "Overnight Russian drone attack hits energy infrastructure in Ukraine's capital",
        "Officials reported outages in several districts.",
    ),
)


def embedded(*docs: Doc) -> list[Doc]:
    """`docs` with their vectors, as ingest would have stored them."""
    vectors = encoder(BUNDLED).articles([(d.title, d.lead) for d in docs])
    return [
        replace(d, vector=v, lead_vector=lead) for d, (v, lead) in zip(docs, vectors, strict=True)
    ]


def cosine(a: str, b: str) -> float:
    va, vb = (np.frombuffer(v, dtype=np.float32) for v in encoder(BUNDLED).encode([a, b]))
    return float(va @ vb)


def test_the_bundled_model_gives_the_published_similarities() -> None:
    # The example in the sentence-transformers documentation for all-MiniLM-L6-v2.
    assert cosine("The weather is lovely today.", "It's so sunny outside!") == pytest.approx(
        0.6660, abs=1e-3
    )
    assert cosine("The weather is lovely today.", "He drove to the stadium.") == pytest.approx(
        0.1046, abs=1e-3
    )


def vectors(texts: list[str]) -> np.ndarray:
    return np.array([np.frombuffer(v, dtype=np.float32) for v in encoder(BUNDLED).encode(texts)])


def test_the_vectors_are_those_of_the_reference_implementation() -> None:
    # Made once by sentence-transformers (tests/data/semantic/README.md): feed headlines and
    # leads in four languages, and hostile, huge and odd ones.
    texts = json.loads((REFERENCE / "texts.json").read_text())
    expected = np.load(REFERENCE / "vectors.npy").astype(np.float32)
    found = vectors(texts)
    assert found.shape == expected.shape == (97, 384)
    cosines = (found * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.9999, texts[int(cosines.argmin())]
    # float16 keeps about three digits: within that, the same numbers.
    assert np.abs(found - expected).max() < 1e-3
    assert np.allclose(np.linalg.norm(found, axis=1), 1, atol=1e-6)


def test_one_event_told_in_other_words_lands_closer_than_another_event() -> None:
    (strike, _), (attack, _) = STRIKE
    closer = cosine(strike, attack)
    assert closer > 0.6
    assert closer > cosine(strike, "Central bank in Japan raises rates") + 0.4
    assert closer > cosine(attack, "Wildfires force evacuations in Greece") + 0.4


def test_a_huge_headline_costs_no_more_than_its_first_tokens() -> None:
    huge = "Drones strike Kyiv power grid again " * 50_000
    # 62 words and the two marks around them: the 64 tokens the model reads.
    opening = " ".join(huge.split()[:62])
    long_vector, short_vector = vectors([huge, opening])
    assert float(long_vector @ short_vector) > 0.99999
    assert not np.allclose(short_vector, vectors([" ".join(huge.split()[:61])])[0], atol=1e-4)


def test_a_text_met_again_gets_the_same_vector_in_each_place() -> None:
    texts = ["Fed holds rates steady", "Storm batters Florida coast", "Fed holds rates steady"]
    fed, storm, again = encoder(BUNDLED).encode(texts)
    assert fed == again != storm
    assert np.allclose(vectors(texts[1:2])[0], np.frombuffer(storm, np.float32), atol=1e-6)


def test_importing_the_encoder_imports_no_pytorch() -> None:
    code = (
        "import sys\n"
        "from digest.semantic import BUNDLED, encoder\n"
        "encoder(BUNDLED).encode(['Zelenskyy fires top general'])\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_altered_model_files_are_refused(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(model_directory(BUNDLED), tmp_path / "model"))
    verify_bundled(copy)
    with (copy / "tokenizer.json").open("a") as f:
        f.write("\n")
    with pytest.raises(ConfigError, match=r"tokenizer\.json is not the published file"):
        verify_bundled(copy)


def _model_copy(tmp_path: Path) -> Path:
    """A directory with the bundled model's files, its weights linked rather than copied."""
    copy = tmp_path / "my-model"
    copy.mkdir()
    bundled = model_directory(BUNDLED)
    (copy / "model.safetensors").symlink_to(bundled / "model.safetensors")
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(bundled / name, copy / name)
    return copy


def test_a_model_directory_is_named_by_what_it_lacks_or_holds_wrong(tmp_path: Path) -> None:
    copy = _model_copy(tmp_path)
    assert Encoder(str(copy)).encode(["Fed holds rates"]) == encoder(BUNDLED).encode(
        ["Fed holds rates"]
    )
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps(config | {"hidden_act": "relu"}))
    with pytest.raises(ConfigError, match=r"cannot be loaded: .*not BERT with GELU"):
        Encoder(str(copy))
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match=r"a BERT model \(tokenizer\.json missing\)"):
        model_directory(str(copy))


def test_a_bundled_model_gone_missing_says_how_to_get_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("digest.semantic._BUNDLED_DIRECTORY", tmp_path)
    with pytest.raises(ConfigError, match=r"is missing from .*: reinstall digest"):
        model_directory(BUNDLED)


def test_headlines_that_mean_the_same_fold_though_they_share_few_words() -> None:
    docs = [
        Doc("Nobody knows what's creating oxygen on Mars", "", T0),
        Doc("NASA's Curiosity rover makes a baffling oxygen discovery on Mars", "", T0),
        Doc("Ukrainian president dismisses army chief Zaluzhnyi", "", T0),
        Doc("Zelenskyy fires Ukraine's top general Zaluzhnyi", "", T0 + timedelta(hours=2)),
        Doc("Central bank in Japan raises rates", "The yen rallied after the decision.", T0),
    ]
    assert cluster(docs, RULES) == [[0], [1], [2], [3], [4]]
    assert cluster(embedded(*docs), RULES) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize(
    ("headline", "statement"),
    [
        ("Ukraine war: Evacuations 'extremely difficult' amid shelling", "Evacuations"),
        ("WATCH: Disposal experts defuse unexploded bomb in Ukraine", "Disposal"),
        ("Six Nations: Ireland see off brave 14-man England", "Ireland"),
        # Not labels: a quotation, a longer phrase, a time of day.
        ("'Extraordinary success': Trump lauds first year", "'Extraordinary"),
        ("Satellite images and decoy planes: Behind the US attacks on Iran", "Satellite"),
        ("Israel’s war on Gaza: List of key events, day 104", "Israel’s"),
        ("Markets at 10:30: stocks slide", "Markets"),
    ],
)
def test_a_headlines_opening_label_is_not_what_it_reports(headline: str, statement: str) -> None:
    assert without_label(headline).split()[0] == statement


def test_one_outlets_different_pieces_on_a_war_stay_apart() -> None:
    # BBC News, 10-12 March 2022: the outlet's label ("Ukraine war:") made them alike.
    docs = embedded(
        Doc("Ukraine: What are chemical weapons and could Russia use them?", "", T0),
        Doc(
            "Will Nato get involved if dirty bombs are used in Ukraine? And other questions", "", T0
        ),
        Doc("Ukraine invasion: Javid says Russia will pay for war crimes as UK sends aid", "", T0),
        Doc("What sanctions are being imposed on Russia over Ukraine invasion?", "", T0),
        Doc("WATCH: Disposal experts defuse unexploded bomb in Ukraine", "", T0),
        Doc("Ukraine war: Pictures of war intensifying in third week", "", T0),
        Doc("Ukraine maps: At-a-glance guide to the Russia war", "", T0),
    )
    assert [g for g in cluster(docs, RULES) if len(g) > 1] == []


def test_a_label_does_not_keep_two_reports_apart() -> None:
    (a, lead_a), (b, lead_b) = STRIKE
    docs = embedded(Doc(f"Ukraine war: {a}", lead_a, T0), Doc(b, lead_b, T0))
    assert cluster(docs, RULES) == [[0, 1]]


def test_alike_headlines_of_different_events_stay_apart() -> None:
    docs = embedded(
        Doc("Fed holds interest rates steady in June", "", T0),
        Doc("Fed holds interest rates steady in July", "", T0 + timedelta(hours=30)),
        Doc("Russian drones strike Kyiv power grid overnight", "", T0),
        Doc("Russian drones strike Kyiv power grid overnight", "", T0 + timedelta(days=3)),
    )
    assert [g for g in cluster(docs, RULES) if len(g) > 1] == []


def _write_day(path: Path, headlines: list[tuple[str, str]]) -> Path:
    lines = [
        json.dumps(
            {
                "title": title,
                "text": lead,
                "source": f"Outlet {n}",
                "url": f"https://example.com/{n}",
                "published": (T0 + timedelta(minutes=30 * n)).isoformat(),
            }
        )
        for n, (title, lead) in enumerate(headlines)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _stored(column: str = "vector") -> dict[int, object]:
    """Each stored vector (`vector`, `lead_vector`), or the model it came from, by article id."""
    engine = create_engine(load_settings().database.url)
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT article_id, {column} FROM article_vectors"))
        found = {
            row[0]: bytes(row[1]) if isinstance(row[1], memoryview) else row[1] for row in rows
        }
    engine.dispose()
    return found


def _floats(vector: object) -> np.ndarray:
    assert isinstance(vector, bytes)
    return np.frombuffer(vector, dtype=np.float32)


def _stories(day: str = "2024-06-24") -> list[dict]:  # type: ignore[type-arg]
    built = json.loads(digest("build", "--date", day, "--json").output)
    return [item for section in built["sections"] for item in section["items"]]


@pytest.mark.usefixtures("store_backend")
def test_ingest_embeds_each_headline_once_and_the_build_folds_by_meaning(
    tmp_path: Path,
) -> None:
    assert digest("db", "upgrade").exit_code == 0
    day = _write_day(tmp_path / "day.jsonl", list(STRIKE))
    assert digest("ingest", str(day)).exit_code == 0
    first = _stored()
    assert len(first) == 2 and all(len(v) == 384 * 4 for v in first.values())

    [story] = _stories()
    assert [d["source"] for d in story["duplicates"]] == ["Outlet 1"]

    # A new headline for the same article gets a new vector; the unchanged one keeps its own.
    _write_day(
        day,
        [STRIKE[0], ("Drone attack on Kyiv leaves thousands without heating", "Outages spread.")],
    )
    assert digest("ingest", str(day)).exit_code == 0
    second = _stored()
    assert second.keys() == first.keys()
    changed = [i for i in first if first[i] != second[i]]
    assert len(changed) == 1

    # A new lead under the same headline gets a new vector of the two together.
    leads = _stored("lead_vector")
    _write_day(
        day,
        [
            (STRIKE[0][0], "Power was cut to half the city after the strike."),
            ("Drone attack on Kyiv leaves thousands without heating", "Outages spread."),
        ],
    )
    assert digest("ingest", str(day)).exit_code == 0
    again = _stored()
    assert all(np.allclose(_floats(again[i]), _floats(second[i]), atol=1e-5) for i in second)
    relead = _stored("lead_vector")
    assert [i for i in leads if leads[i] != relead[i]] == [i for i in first if i not in changed]


@pytest.mark.usefixtures("store_backend")
def test_another_model_replaces_the_stored_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(_write_day(tmp_path / "day.jsonl", list(STRIKE)))).exit_code == 0
    assert set(_stored("model").values()) == {BUNDLED}
    # A directory holding a model, named in the settings, as an operator would point at one.
    elsewhere = shutil.copytree(model_directory(BUNDLED), tmp_path / "my-model")
    monkeypatch.setenv("DIGEST_CLUSTERING__MODEL", str(elsewhere))
    [story] = _stories()
    assert len(story["duplicates"]) == 1
    assert set(_stored("model").values()) == {str(elsewhere)}


def test_articles_stored_without_a_model_are_embedded_when_the_edition_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert digest("db", "upgrade").exit_code == 0
    monkeypatch.setenv("DIGEST_CLUSTERING__MODEL", "")
    assert digest("ingest", str(_write_day(tmp_path / "day.jsonl", list(STRIKE)))).exit_code == 0
    assert _stored() == {}
    assert len(_stories("2024-06-24")) == 2  # words alone keep the two reports apart

    monkeypatch.delenv("DIGEST_CLUSTERING__MODEL")
    [story] = json.loads(
        digest("build", "--since", "2024-06-23", "--until", "2024-06-25", "--json").output
    )["sections"][0]["items"]
    assert len(story["duplicates"]) == 1
    assert len(_stored()) == 2


def test_vectors_of_whole_headlines_are_embedded_again_after_the_upgrade(tmp_path: Path) -> None:
    labelled = (f"Ukraine war: {STRIKE[0][0]}", STRIKE[0][1])
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(_write_day(tmp_path / "day.jsonl", [labelled]))).exit_code == 0
    [(article_id, current)] = _stored().items()
    # The store as revision 0008 left it: the vector of the whole headline.
    engine = create_engine(load_settings().database.url)
    command.downgrade(db.alembic_config(engine), "0008")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO article_vectors VALUES (:id, :model, :vector)"),
            {
                "id": article_id,
                "model": BUNDLED,
                "vector": encoder(BUNDLED).encode([labelled[0]])[0],
            },
        )
    engine.dispose()

    assert digest("db", "upgrade").exit_code == 0
    assert _stored() == {}
    _stories()
    assert _stored() == {article_id: current}


def test_vectors_without_their_leads_are_embedded_again_after_the_upgrade(tmp_path: Path) -> None:
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(_write_day(tmp_path / "day.jsonl", list(STRIKE)))).exit_code == 0
    current = _stored("lead_vector")
    assert len(current) == 2 and all(current.values())
    # The store as revision 0009 left it: headline vectors only.
    engine = create_engine(load_settings().database.url)
    command.downgrade(db.alembic_config(engine), "0009")
    engine.dispose()
    assert _stored().keys() == current.keys()

    assert digest("db", "upgrade").exit_code == 0
    assert _stored() == {}
    [story] = _stories()
    assert len(story["duplicates"]) == 1
    assert _stored("lead_vector") == current


def test_a_model_that_is_not_there_is_a_one_line_error_before_anything_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert digest("db", "upgrade").exit_code == 0
    monkeypatch.setenv("DIGEST_CLUSTERING__MODEL", str(tmp_path / "no-such-model"))
    result = digest("ingest", str(_write_day(tmp_path / "day.jsonl", list(STRIKE))))
    assert result.exit_code != 0
    assert result.output.strip().count("\n") == 0
    assert "[clustering] model" in result.output and "no-such-model" in result.output
    monkeypatch.delenv("DIGEST_CLUSTERING__MODEL")
    assert digest("articles", "list", "--json").output == ""


def test_one_loose_link_does_not_chain_two_events_into_one_story() -> None:
    venice = Doc(
        "Venice flooding has city 'on its knees,' Italy to declare state of emergency", "", T0
    )
    worst = Doc(
        "Venice flooding in Italy is the worst in 50 years, and the mayor blames climate change",
        "",
        T0,
    )
    review = Doc("Flood, fire and plague: Climate change blamed for disasters", "", T0)
    docs = embedded(venice, worst, review)
    assert cluster(docs, RULES) == [[0, 1], [2]]
    # Without the guard, the review joins through its link to the second report.
    assert cluster(docs, replace(RULES, cohesion=0.0)) == [[0, 1, 2]]


def test_headlines_alike_in_meaning_stay_apart_when_their_leads_tell_different_events() -> None:
    # 18 January 2024: the Washington Post on the fighting, NBC News on a hostage's family.
    fighting = Doc(
        "Fighting in central Gaza rages on amid hostage families’ growing doubts",
        "The fierce fighting, especially in central Gaza, suggested that Israel forces were not "
        "yet fully scaling back their assault despite U.S. pressures over heavy civilian "
        "casualties.",
        T0,
    )
    ordeal = Doc(
        "‘Desperate, sad, angry’: Relative of youngest Hamas hostage on family’s ordeal",
        "Yifat Zailer, cousin of Kfir Bibas’ mother, spoke to NBC News of her disbelief that "
        "baby Kfir is still in captivity as he turns one year old, more than 100 days after he "
        "was taken.",
        T0 + timedelta(hours=4),
    )
    # The Wall Street Journal and the Washington Post on one event, told with different facts.
    airstrikes = Doc(
        "Pakistan Conducts Airstrikes in Iran",
        "Pakistan carried out airstrikes inside Iranian territory, Pakistan’s foreign ministry "
        "said, killing Pakistani militants there.",
        T0,
    )
    retaliation = Doc(
        "Pakistan fires retaliatory strikes at Iran, risking new regional conflict",
        "The strikes came amid an increasingly restive situation in the Middle East that has "
        "also strained relations between the nuclear-armed Pakistan and its neighbor.",
        T0 + timedelta(hours=4),
    )
    docs = embedded(fighting, ordeal, airstrikes, retaliation)
    assert [g for g in cluster(docs, RULES) if len(g) > 1] == [[2, 3]]
    # Judged by their headlines alone, the first two are one story.
    assert [0, 1] in cluster(docs, replace(RULES, lead_similarity=0.0))


def test_a_lead_that_repeats_the_headline_adds_nothing_to_judge() -> None:
    headline = "Pakistan said it carried out airstrikes inside Iranian territory."
    [(alone, none), (_, with_lead)] = encoder(BUNDLED).articles(
        [(headline, headline), (headline, "Officials in Islamabad confirmed the strikes.")]
    )
    assert none is None and with_lead is not None
    # The same text, though batched otherwise: equal up to float rounding.
    single = encoder(BUNDLED).headlines([headline])[0]
    assert np.frombuffer(alone, np.float32) @ np.frombuffer(single, np.float32) > 0.9999


def test_boilerplate_teasers_do_not_keep_two_reports_apart() -> None:
    docs = embedded(
        Doc("Zelenskyy fires Ukraine's top general Zaluzhnyi", "Click here for more.", T0),
        Doc(
            "Ukrainian president dismisses army chief Zaluzhnyi",
            "Watch the video and subscribe for the full story.",
            T0 + timedelta(hours=2),
        ),
    )
    assert all(d.lead_vector for d in docs)
    assert cluster(docs, RULES) == [[0, 1]]
