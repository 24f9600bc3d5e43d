"""Processing purposes as a controlled vocabulary: the DPV 2.3 purpose taxonomy plus our ML terms.

Free-text purposes let a consent record silently miss the training purpose (`Research` vs `research`, a
false BLOCK) or, worse, let a misspelt exclusion never match the release purpose (a false PASS). So every
purpose a person enters (CLI, catalog, Python API, policy file) is checked here and stored as its canonical
term: the DPV concept name in kebab case (dpv:AcademicResearch -> `academic-research`), which keeps the
spellings the project has always used (`model-training`, `marketing`) canonical.

Matching follows the taxonomy's skos:broader links (see docs/policy.md, "Purposes"): a purpose *covers*
itself and every narrower purpose, so consent to research covers academic research, and an excluded
marketing purpose excludes direct marketing. Never the other way round.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from atlas_mlplugin.errors import AtlasMlError

DPV_VERSION = "2.3"
DPV_NAMESPACE = "https://w3id.org/dpv#"
# Prefixes people paste from DPV documents or RDF; `dpv:AcademicResearch` is the same as `academic-research`.
_PREFIXES = ("https://w3id.org/dpv/2.3#", DPV_NAMESPACE, "dpv:")

# Spellings in use before purposes were checked (examples, catalogs, tests, the demo) and common words for
# a DPV concept; each maps to its canonical term. Keys are compared after normalisation (see _key).
ALIASES: dict[str, str] = {
    "research": "research-and-development",
    "r-and-d": "research-and-development",
    "rnd": "research-and-development",
    "training": "model-training",
    "ml-training": "model-training",
    "ai-training": "model-training",
    "machine-learning": "model-training",
    "fine-tuning": "model-fine-tuning",
    "evaluation": "model-evaluation",
    "release": "model-release",
    "publication": "model-publication",
    "public-release": "model-publication",
    "service-improvement": "improve-existing-products-and-services",
    "product-improvement": "improve-existing-products-and-services",
    "commercial": "commercial-purpose",
    "commercial-use": "commercial-purpose",
    "commercial-product": "commercial-purpose",
    "non-commercial": "non-commercial-purpose",
    "non-commercial-use": "non-commercial-purpose",
    "ads": "advertising",
    "security": "enforce-security",
    "fraud-detection": "fraud-prevention-and-detection",
    "statistics": "provide-official-statistics",
    "customer-support": "customer-care",
}


class UnknownPurposeError(AtlasMlError, ValueError):
    """A purpose that is not in the vocabulary. A ValueError too, so pydantic validators report it as an
    ordinary validation error (with the catalog's FILE:LINE)."""

    def __init__(self, value: str, suggestions: list[str]) -> None:
        self.value = value
        self.suggestions = suggestions
        hint = (f"did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions
                else "list the known purposes with `atlas-ml consent purposes`")
        super().__init__(f"unknown purpose {value!r}: {hint} (purposes follow the DPV {DPV_VERSION} purpose "
                         "taxonomy; see docs/policy.md, 'Purposes')")


@dataclass(frozen=True)
class Purpose:
    term: str  # canonical, e.g. academic-research
    concept: str  # the DPV (or our) concept name, e.g. AcademicResearch
    label: str
    broader: tuple[str, ...]  # canonical terms of the directly broader purposes
    source: str  # dpv-2.3 or atlas-mlplugin
    definition: str

    @property
    def iri(self) -> str | None:
        return DPV_NAMESPACE + self.concept if self.source.startswith("dpv") else None


def kebab(concept: str) -> str:
    """DPV concept name -> canonical term: ImproveInternalCRMProcesses -> improve-internal-crm-processes."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", concept).lower()


def _key(value: str) -> str:
    """What two spellings of one purpose share: no prefix, case, separators, or British/US -isation."""
    text = value.strip()
    for prefix in _PREFIXES:
        if text.lower().startswith(prefix.lower()):
            text = text[len(prefix):]
            break
    text = re.sub(r"[\s_\-.]+", "", text.casefold().replace("&", "and"))
    return text.replace("ization", "isation").replace("izing", "ising").replace("ized", "ised")


class Vocabulary:
    """The purposes, their aliases and the broader-than relation between them."""

    def __init__(self, purposes: Iterable[Purpose], aliases: dict[str, str]) -> None:
        self.purposes: dict[str, Purpose] = {p.term: p for p in purposes}
        self._by_key: dict[str, str] = {}
        for term in self.purposes:
            if (other := self._by_key.setdefault(_key(term), term)) != term:
                raise ValueError(f"purposes {other!r} and {term!r} are spelt alike; one could not be entered")
        for alias, term in aliases.items():
            if term not in self.purposes:
                raise ValueError(f"alias {alias!r} names no purpose {term!r}")
            if self._by_key.setdefault(_key(alias), term) != term:
                raise ValueError(f"alias {alias!r} is spelt like the purpose {self._by_key[_key(alias)]!r}")
        for p in self.purposes.values():
            if unknown := [b for b in p.broader if b not in self.purposes]:
                raise ValueError(f"purpose {p.term!r}: broader {unknown} not in the vocabulary")

    def canonical(self, value: str) -> str:
        """The canonical term for `value` (any case, `_`/`-`/space, dpv: prefix, alias); raises
        UnknownPurposeError naming the closest terms."""
        term = self._by_key.get(_key(value))
        if term is None:
            raise UnknownPurposeError(value, self.suggest(value))
        return term

    def lenient(self, value: str) -> str:
        """The canonical term if known, else the value unchanged: for values stored before purposes were
        checked, which must still load (and then match only themselves)."""
        return self._by_key.get(_key(value), value)

    def suggest(self, value: str, n: int = 3) -> list[str]:
        close = difflib.get_close_matches(_key(value), list(self._by_key), n=n * 2, cutoff=0.75)
        return list(dict.fromkeys(self._by_key[k] for k in close))[:n]

    @lru_cache(maxsize=4096)  # noqa: B019 - one Vocabulary per process; the cache is the point
    def ancestors(self, term: str) -> frozenset[str]:
        """Every purpose broader than `term`, transitively (DPV allows several broader concepts)."""
        purpose = self.purposes.get(term)
        if purpose is None:
            return frozenset()
        found: set[str] = set()
        for parent in purpose.broader:
            found |= {parent} | self.ancestors(parent)
        return frozenset(found)

    def covers(self, broader: str, narrower: str) -> bool:
        """Is `narrower` the same purpose as `broader` or one of its sub-purposes? Unknown values (stored
        before checking) match only themselves."""
        b, n = self.lenient(broader), self.lenient(narrower)
        return b == n or b in self.ancestors(n)

    def any_covers(self, broader: Iterable[str], narrower: str) -> bool:
        return any(self.covers(b, narrower) for b in broader)

    def overlaps(self, a: str, b: str) -> bool:
        """One covers the other: an exclusion of a narrower purpose still concerns a broader one."""
        return self.covers(a, b) or self.covers(b, a)


def _load() -> Vocabulary:
    text = resources.files("atlas_mlplugin").joinpath("purposes.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO("".join(line for line in text.splitlines(keepends=True)
                                              if not line.startswith("#"))))
    purposes = [Purpose(term=kebab(r["term"]), concept=r["term"], label=r["label"],
                        broader=tuple(kebab(b) for b in r["broader"].split(";") if b), source=r["source"],
                        definition=r["definition"]) for r in rows]
    return Vocabulary(purposes, ALIASES)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    return _load()


def canonical_purpose(value: str) -> str:
    """`value` as its canonical term; UnknownPurposeError (a ValueError) with suggestions otherwise."""
    return vocabulary().canonical(value)


def canonical_purposes(values: Iterable[str]) -> list[str]:
    """Each value canonical, duplicates (e.g. `research` and `R&D`) dropped, order kept."""
    return list(dict.fromkeys(canonical_purpose(v) for v in values))


def common_purposes(records: list[list[str]]) -> list[str]:
    """The purposes every list allows, through the hierarchy: [research-and-development, model-training] and
    [academic-research, model-training] both allow academic-research and model-training. A plain set
    intersection would drop academic-research and warn about a release every record consented to."""
    if not records:
        return []
    vocab = vocabulary()
    candidates = {vocab.lenient(p) for purposes in records for p in purposes}
    allowed = {c for c in candidates if all(vocab.any_covers(purposes, c) for purposes in records)}
    # A purpose under another allowed one says nothing more.
    return sorted(c for c in allowed if not any(o != c and vocab.covers(o, c) for o in allowed))


def lenient_purposes(values: Iterable[str]) -> list[str]:
    """Known values canonical, unknown ones kept: for data read back from Atlas or the spool."""
    return list(dict.fromkeys(vocabulary().lenient(v) for v in values))
