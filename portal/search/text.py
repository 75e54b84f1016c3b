"""The one analysis of text for search: accent and case folding, Spanish stemming, safe queries.

Documents and queries go through the same functions, so a word typed with or without accents,
in any case, singular or plural, meets the same stem ("Computadoras" and "computadora" both
become ``comput``; "construccion" and "Construcción" both become ``construccion``). Every
engine receives only the tokens made here: lowercase ASCII letters and digits. Nothing a person
types reaches an engine's query syntax, so quotes, ``*``, ``-``, ``NEAR(``, ``OR``, parentheses,
emoji or 10,000 characters are all ordinary text, never an error.

Folding (NFKD, combining marks dropped, a few letters that do not decompose spelt out) comes
before stemming, so the Snowball stemmer sees the same word whether it was typed with accents
or not. Letters of other scripts have no ASCII spelling and are left out: they never match.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import Stemmer

__all__ = [
    "MAX_QUERY_TERMS",
    "MAX_TOKEN",
    "MIN_KEY_PREFIX",
    "Query",
    "analyse",
    "compact",
    "fold",
    "parse_query",
]

#: Distinct words of a query that are matched; the rest of a very long query is ignored (a
#: person searches with a few words; thousands of terms would only make the engines slow).
MAX_QUERY_TERMS = 16

#: Longest token kept, in characters (longer runs are cut, the same way in documents and
#: queries): no real word or identifier is longer, and PostgreSQL refuses lexemes of 2 KB.
MAX_TOKEN = 64

#: Shortest identifier prefix searched: "2024" narrows to a few RUCs or order numbers, while
#: "20" would be every RUC.
MIN_KEY_PREFIX = 4

#: Longest identifier kept, in characters (an ocid may have up to 255).
MAX_KEY = 255

# Letters that NFKD does not decompose into an ASCII letter and a mark.
_SPELT = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h"}
)

_WORD = re.compile(r"[a-z0-9]+")

#: Spanish function words (the common part of Snowball's Spanish stop list): they carry no
#: meaning in a title or name, and leaving them out of queries lets "computadoras para oficina"
#: find "computadora de oficina".
STOPWORDS = frozenset(
    """
a al algo algunas algunos ante antes como con contra cual cuando de del desde donde durante e
el ella ellas ellos en entre era es esa esas ese eso esos esta estas este esto estos fue ha hay
la las le les lo los mas me mi mis muy ni no nos o os otra otras otro otros para pero poco por
porque que quien quienes se sea ser si sin sobre son su sus tambien tanto te todo todos tu tus
u un una uno unos y ya yo
""".split()
)


@functools.cache
def _stemmer() -> Stemmer.Stemmer:
    # One per process (PyStemmer stemmers are not shareable across processes), with its cache.
    return Stemmer.Stemmer("spanish")


# Combining marks (accents, tildes, cedillas) as NFKD separates them from their letters.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold(text: str) -> str:
    """``text`` in lowercase ASCII: accents and other marks removed, a few letters spelt out
    (ß → ss), any other character that is not ASCII turned into ``?`` (so it still separates
    words). The common case, ASCII already, costs one ``lower()``."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = _MARKS.sub("", unicodedata.normalize("NFKD", text.translate(_SPELT)))
    return decomposed.encode("ascii", "replace").decode("ascii")


def _words(text: str) -> list[str]:
    return [w[:MAX_TOKEN] for w in _WORD.findall(fold(text))]


def analyse(text: str) -> list[str]:
    """The stems of ``text``'s words, in order, without Spanish function words."""
    return _stemmer().stemWords([w for w in _words(text) if w not in STOPWORDS])


def compact(text: str) -> str:
    """An identifier as searched: folded, only its letters and digits ("OC-2024-000123" →
    ``oc2024000123``, "PE-RUC-20123456789" → ``peruc20123456789``), at most MAX_KEY long."""
    return "".join(_WORD.findall(fold(text)))[:MAX_KEY]


@dataclass(frozen=True)
class Query:
    """What a search box's text asks for, in engine-safe tokens.

    ``terms``: stems that must all be in a document's text (title, items, buyer, suppliers).
    ``key``: an identifier prefix (order number, ocid, RUC) when the text holds a digit and at
    least MIN_KEY_PREFIX letters and digits, else None. A document matches when it has every
    term, or an identifier that starts with ``key``.
    """

    terms: tuple[str, ...]
    key: str | None

    @property
    def empty(self) -> bool:
        """Nothing to look for (only punctuation, function words or other scripts)."""
        return not self.terms and self.key is None


def parse_query(text: str) -> Query:
    """The :class:`Query` of any text a person can type (never raises)."""
    terms = tuple(dict.fromkeys(analyse(text)))[:MAX_QUERY_TERMS]
    key = compact(text)
    usable = len(key) >= MIN_KEY_PREFIX and any(c.isdigit() for c in key)
    return Query(terms, key if usable else None)
