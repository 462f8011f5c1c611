"""Names of the synthetic universe: every string once, with its typo, nickname and transliteration
variants, and Zipf-like draws (common names first, as in real registers)."""

from __future__ import annotations

import unicodedata

import numpy as np

from spine._names import GROUPS, NICKNAMES, TRANSLITERATIONS


class Vocabulary:
    """Every name string once, with per-name variant ids for typos, nicknames and transliterations."""

    def __init__(self, rng: np.random.Generator) -> None:
        strings: list[str] = []
        index: dict[str, int] = {}

        def intern(s: str) -> int:
            if s not in index:
                index[s] = len(strings)
                strings.append(s)
            return index[s]

        self.first = {}  # (group, sex) -> name ids
        self.surnames = {}
        for group, (_, female, male, surnames) in GROUPS.items():
            for sex, names in ((0, female), (1, male)):
                self.first[(group, sex)] = np.array([intern(s) for s in names])
            self.surnames[group] = np.array([intern(s) for s in surnames])
        base_count = len(strings)
        self.typos = np.zeros((base_count, 3), dtype=np.int64)
        self.translit = np.arange(base_count)
        self.translit_alt = np.arange(base_count)
        self.nickname = np.arange(base_count)
        for i in range(base_count):  # a loop over a few hundred names, not over records
            name = strings[i]
            for k in range(3):
                self.typos[i, k] = intern(_typo(name, rng))
            variants = TRANSLITERATIONS.get(name)
            if variants:
                self.translit[i] = intern(variants[0])
                self.translit_alt[i] = intern(variants[-1])
            nicks = NICKNAMES.get(name)
            if nicks:
                self.nickname[i] = intern(nicks[0])
        self.strings = np.array(strings, dtype=object)


def _typo(name: str, rng: np.random.Generator) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    if len(name) < 3:
        return name + letters[rng.integers(26)]
    i = int(rng.integers(1, len(name) - 1))
    kind = rng.integers(3)
    if kind == 0:
        return name[:i] + letters[rng.integers(26)] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i + 1:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]


def zipf_pick(rng: np.random.Generator, ids: np.ndarray, size: int) -> np.ndarray:
    """``size`` draws from a list of name ids, the first ones the most common."""
    weights = 1.0 / np.arange(1, len(ids) + 1) ** 0.8
    return rng.choice(ids, size=size, p=weights / weights.sum())


def upper_ascii(values: np.ndarray) -> np.ndarray:
    """Names as a system that knows only upper-case ASCII writes them (accents dropped: García ->
    GARCIA, Ødegård -> ODEGARD). Computed once per distinct name, not per record."""
    unique, inverse = np.unique(values.astype(str), return_inverse=True)
    folded = np.array([_fold(s) for s in unique], dtype=object)  # a loop over distinct names
    return folded[inverse]


def _fold(name: str) -> str:
    name = name.replace("Ø", "O").replace("ø", "o").replace("Æ", "AE").replace("æ", "ae").replace("ß", "ss")
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()
