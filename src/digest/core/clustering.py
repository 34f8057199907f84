"""Story clustering: the same event reported by several outlets becomes one story.

Articles are compared on their headline and lead as TF-IDF vectors. Candidate pairs come from
an inverted index of each article's most distinctive words, so a day of thousands of articles
needs only a few comparisons per article. A pair is the same story when the texts are close
(cosine similarity) and one lead shares a word with the other article, or the headlines nearly
match (rapidfuzz); or, when articles carry sentence embeddings of their headlines, the
headlines mean nearly the same ("NASA's rover makes a baffling oxygen discovery on Mars" and
"Nobody knows what's creating oxygen on Mars" share two words but one event) and, read with
their leads, still say much the same. In every case the two were published close in time, and
their headlines do not name different dates or figures (sums of money aside: outlets convert
and round them). Roundups (newsletters, live blogs, galleries) carry many stories at once, and
comment and background (filed under /opinion/, /features/) report no event, so neither ever
folds into one. Groups grow from the closest pairs, and two groups join only when their
headlines are alike on average.
"""

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import numpy as np
import snowballstemmer
from rapidfuzz import fuzz, utils

from digest.core.sections import terms_pattern
from digest.core.text import paragraphs

_WORD = re.compile(r"[^\W\d_][\w'’]*|\d[\d,.]*\d|\d", re.UNICODE)
_STOPWORDS = frozenset(
    "a about after again against all also am an and any are as at be because been before being"
    " between both but by can could did do does doing down during each few for from further had"
    " has have having he her here hers him his how i if in into is it its itself just me more"
    " most my no nor not now of off on once only or other our out over own same she should so"
    " some such than that the their them then there these they this those through to too under"
    " until up very was we were what when where which while who whom why will with would you"
    " your says said say saying new news live latest update updates report reports year years"
    " day days week weeks one two first last amid after over new us".split()
)
_DISTINCT = frozenset(
    "january february march april may june july august september october november december"
    " jan feb mar apr jun jul aug sep sept oct nov dec"
    " monday tuesday wednesday thursday friday saturday sunday".split()
)
_SCALE = r"(?:\s*(?:k|m|bn|b|tn|cr|million|billion|trillion|crore|lakh)\b)?"
_ROUNDED = re.compile(
    rf"(?:[$€£¥₹]|\b(?:rs|inr|usd|eur|gbp)\.?)\s*\d[\d,.]*{_SCALE}"
    rf"|\d[\d,.]*{_SCALE}\s*(?:dollars|euros|pounds|rupees|yen|yuan)\b"
    r"|\d[\d,.]*\s*(?:bn|tn|million|billion|trillion|crore|lakh)\b",
    re.IGNORECASE,
)
# Counts given as bounds or approximations: tolls rise through a day, so "kills at least 9" and
# "at least 10 dead" report one attack.
_APPROXIMATE = re.compile(
    r"\b(?:at least|more than|over|nearly|almost|about|around|up to)\s+\d[\d,.]*", re.IGNORECASE
)
_STEMMER = snowballstemmer.stemmer("english")
# Words per article kept in the candidate index, and the most articles one word may index.
_INDEX_WORDS = 10
_MAX_POSTING = 200
_LEAD_WORDS = 60
# A fuzzy headline match needs this many words in the shorter headline: "Market Wrap" is
# contained in "Market Wrap: Oil Prices Surge", and says nothing of the event.
_MATCHING_TITLE_WORDS = 4
# Headline embeddings are compared this many at a time, so a day of thousands never holds the
# whole similarity matrix at once.
_BLOCK = 1024


@dataclass(frozen=True, slots=True)
class ClusterRules:
    similarity: float = 0.3
    title_similarity: float = 88.0
    max_hours_apart: float = 36.0
    # Cosine of two headlines' embeddings from which they report the same story.
    semantic_similarity: float = 0.6
    # The average cosine two groups' headlines need to become one story.
    cohesion: float = 0.44
    # Cosine that headlines alike in meaning need with their leads too; 0 turns the check off.
    lead_similarity: float = 0.58
    # Headline phrases marking a roundup of many stories, e.g. "briefing", "in pictures".
    roundups: tuple[str, ...] = ()
    # Segments of an article's address that file it as something other than a report of an
    # event, e.g. "opinion", "features"; lower case.
    apart_paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Doc:
    """What clustering needs to know of an article."""

    title: str
    lead: str
    published_at: datetime
    # The headline's unit-length embedding (float32 bytes), when a model is in use, and that of
    # the headline with its lead's opening (None when the lead only repeats the headline).
    vector: bytes | None = None
    lead_vector: bytes | None = None
    # Where the outlet filed it: "/opinion/" in its path marks a column, not a report.
    url: str = ""


def _words(text: str) -> list[str]:
    return [
        w
        for w in (m.group(0).casefold().replace("’", "'") for m in _WORD.finditer(text))
        if w not in _STOPWORDS and (len(w) > 2 or w.isdigit())
    ]


def _markers(title: str) -> frozenset[str]:
    """Dates and figures named in a headline: two headlines naming different ones differ.
    Sums of money and counts in millions are left out, as outlets convert and round them
    ("$7.4B", "₹70,000 crore" and "700 billion rupees" are one sum), and so are bounds and
    approximations."""
    title = _APPROXIMATE.sub(" ", _ROUNDED.sub(" ", title))
    return frozenset(w for w in _words(title) if w in _DISTINCT or w[0].isdigit())


@dataclass(frozen=True, slots=True)
class _Profile:
    vector: dict[str, float]
    title: frozenset[str]
    lead: frozenset[str]
    title_words: int
    markers: frozenset[str]


def _profiles(docs: Sequence[Doc]) -> list[_Profile]:
    stems = []
    for doc in docs:
        lead = " ".join(" ".join(paragraphs(doc.lead)).split()[:_LEAD_WORDS])
        # Stems let "returns" meet "return" and "protesters" meet "protest".
        stems.append((_STEMMER.stemWords(_words(doc.title)), _STEMMER.stemWords(_words(lead))))
    # The headline counts twice: it states the event; the lead adds the facts.
    counts = [Counter(title * 2 + lead) for title, lead in stems]
    df = Counter(word for c in counts for word in c)
    n = len(docs)
    profiles = []
    for doc, c, (title, lead) in zip(docs, counts, stems, strict=True):
        weights = {w: tf * (math.log((n + 1) / (df[w] + 1)) + 1.0) for w, tf in c.items()}
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        vector = {w: v / norm for w, v in weights.items()}
        markers = _markers(doc.title)
        profiles.append(_Profile(vector, frozenset(title), frozenset(lead), len(title), markers))
    return profiles


def _facts_meet(a: _Profile, b: _Profile) -> bool:
    """Whether either lead shares a word with the other article: two similar headlines can
    share the action ("Senate passes ... bill") while their leads report different facts."""
    if not a.lead or not b.lead:
        return True
    return bool(a.lead & (b.title | b.lead) or b.lead & (a.title | a.lead))


def _candidates(profiles: Sequence[_Profile]) -> set[tuple[int, int]]:
    postings: dict[str, list[int]] = defaultdict(list)
    for i, profile in enumerate(profiles):
        vector = profile.vector
        for word in sorted(vector, key=lambda w: (-vector[w], w))[:_INDEX_WORDS]:
            postings[word].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for members in postings.values():
        if len(members) > _MAX_POSTING:
            continue
        for a_index, a in enumerate(members):
            for b in members[a_index + 1 :]:
                shared[(a, b)] += 1
    return {pair for pair, count in shared.items() if count >= 2}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(w, 0.0) for w, v in a.items())


class _Meanings:
    """The headline embeddings of the articles that have one."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.row = {i: n for n, i in enumerate(i for i, d in enumerate(docs) if d.vector)}
        vectors = [np.frombuffer(d.vector, dtype=np.float32) for d in docs if d.vector]
        self.matrix = np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)

    def pairs(self, threshold: float) -> dict[tuple[int, int], float]:
        """Pairs of articles whose headlines are at least `threshold` alike, with their cosine."""
        index = list(self.row)
        found = {}
        for start in range(0, len(index), _BLOCK):
            scores = self.matrix[start : start + _BLOCK] @ self.matrix.T
            for row, column in zip(*np.nonzero(scores >= threshold), strict=True):
                a, b = index[start + int(row)], index[int(column)]
                if a < b:
                    found[(a, b)] = float(scores[row, column])
        return found

    def sum(self, i: int) -> tuple[np.ndarray, int]:
        """Article `i`'s embedding, and 1; or nothing, and 0: a group's running total."""
        if i in self.row:
            return self.matrix[self.row[i]].copy(), 1
        return np.zeros(self.matrix.shape[1], dtype=np.float32), 0


def _may_match(a: Doc, b: Doc, pa: _Profile, pb: _Profile, rules: ClusterRules) -> bool:
    """Whether time and headline figures allow two articles to be one story at all."""
    hours = abs((a.published_at - b.published_at).total_seconds()) / 3600
    if hours > rules.max_hours_apart:
        return False
    return not (pa.markers and pb.markers and not pa.markers & pb.markers)


def _leads_differ(a: Doc, b: Doc, rules: ClusterRules) -> bool:
    """Whether two headlines alike in meaning say different things once their leads are read:
    on a day of war, "Fighting in central Gaza rages on amid hostage families' doubts" and a
    hostage's relative on her family's ordeal are close as headlines, while their leads report
    different facts."""
    if not (rules.lead_similarity and a.lead_vector and b.lead_vector):
        return False
    together = np.frombuffer(a.lead_vector, dtype=np.float32) @ np.frombuffer(
        b.lead_vector, dtype=np.float32
    )
    return float(together) < rules.lead_similarity


def _same_words(a: Doc, b: Doc, pa: _Profile, pb: _Profile, rules: ClusterRules) -> bool:
    if _cosine(pa.vector, pb.vector) >= rules.similarity and _facts_meet(pa, pb):
        return True
    if min(pa.title_words, pb.title_words) < _MATCHING_TITLE_WORDS:
        return False
    # Case and punctuation aside: "Wrap:" and "wrap" are one word.
    ratio = fuzz.token_set_ratio(a.title, b.title, processor=utils.default_process)
    return ratio >= rules.title_similarity


def _alone(docs: Sequence[Doc], rules: ClusterRules) -> set[int]:
    """The articles that are no single report, so fold with none: roundups, by their headline,
    and comment and background, by where their outlet files them ("/commentisfree/")."""
    roundup = terms_pattern(rules.roundups)
    apart = frozenset(rules.apart_paths)
    return {
        i
        for i, doc in enumerate(docs)
        if (roundup and roundup.search(doc.title))
        or not apart.isdisjoint(urlsplit(doc.url).path.lower().split("/"))
    }


def cluster(docs: Sequence[Doc], rules: ClusterRules) -> list[list[int]]:
    """Groups of indexes into `docs` that report the same story, each sorted, in order of
    their first member; an article alike to no other forms a group of one."""
    profiles = _profiles(docs)
    alone = _alone(docs, rules)
    meanings = _Meanings(docs)
    meant_alike = meanings.pairs(rules.semantic_similarity)
    links = []
    for a, b in sorted(_candidates(profiles) | meant_alike.keys()):
        if a in alone or b in alone:
            continue
        pa, pb = profiles[a], profiles[b]
        if not _may_match(docs[a], docs[b], pa, pb, rules):
            continue
        if (a, b) in meant_alike:
            if not _leads_differ(docs[a], docs[b], rules):
                links.append((meant_alike[(a, b)], a, b))
        elif _same_words(docs[a], docs[b], pa, pb, rules):
            links.append((_cosine(pa.vector, pb.vector), a, b))
    # The closest pairs join first. A looser pair then joins two groups only if their
    # headlines are alike on average: one shared name or angle ("Trump courts a tyrant" /
    # "court rules on Trump's taxes") does not chain two events into one story. The average
    # cosine over all cross pairs is the dot product of the groups' sums over their sizes.
    owner = list(range(len(docs)))
    members = {i: [i] for i in range(len(docs))}
    sums = {i: meanings.sum(i) for i in range(len(docs))}
    for _, a, b in sorted(links, key=lambda link: (-link[0], link[1], link[2])):
        keep, gone = sorted((owner[a], owner[b]))
        if keep == gone:
            continue
        (total, count), (other, others) = sums[keep], sums[gone]
        if count and others and float(total @ other) < rules.cohesion * count * others:
            continue
        for i in members[gone]:
            owner[i] = keep
        members[keep] += members.pop(gone)
        sums[keep] = (total + sums.pop(gone)[0], count + others)
    return sorted(sorted(group) for group in members.values())
