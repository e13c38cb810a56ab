"""Narrowing a search's trigram index condition to its uncommon trigrams.

pg_trgm answers `content ILIKE '%post 777%'` from the GIN index by intersecting the
posting lists of every trigram of the pattern: "pos", "ost", "st ", "  7", " 77",
"777". When some of them are in nearly every row ("Post N." ends every seeded post),
the scan decodes those whole posting trees (865 pages, 17-24 ms at 1M posts) although
"777" alone narrows it to a few thousand rows. So the index is asked for a part of
the term instead: the longest substring none of whose trigrams is held by more than
COMMON of the rows (" 777": 0.8 ms), and the whole pattern is still tested on every
candidate (sql/posts/text_matches_*.sql): a row holding the term holds any substring of
it, so the answer is exactly the ILIKE's.

How common a trigram is comes from ANALYZE (migration 0080: statistics on
show_trgm(content)), read at most every REFRESH_S seconds per process. Without them
(before the first ANALYZE) the whole term is the index condition, as before.
"""
from __future__ import annotations

import time

from service.db.registry import query
from service.store.patterns import contains

FREQUENCIES = query("posts/content_trigram_frequencies")
# A trigram in more than this fraction of the rows is left out of the index condition
# when the rest of the term still has trigrams: its posting list costs more to decode
# than the candidates it removes cost to recheck.
COMMON = 0.2
# A term one of whose trigrams is in fewer than this fraction of the rows (or is not
# among ANALYZE's most common ones at all) is rare: its cursor pages are read from the
# trigram index (sql/posts/text_keyset_*.sql), at most this fraction of 1M posts
# (10,000) candidates, rather than by walking the list, which tests ~1/fraction rows per match.
RARE = 0.01
REFRESH_S = 300.0
# Longer terms are used whole: the search below tries every substring (cubic in length).
LONGEST_NARROWED = 64


def is_word_char(ch: str) -> bool:
    """Whether pg_trgm takes the character as part of a word (ISWORDCHR: the database's
    isalnum): letters and decimal digits. Not str.isalnum, which also counts "other
    numbers" (superscripts, fractions, circled digits: ², ½, ①) and letter-like numerals
    that no PostgreSQL locale provider counts; a term made of those has no trigram there,
    and its index scan returns every row."""
    return ch.isalpha() or ch.isdecimal()


def like_trigrams(term: str) -> set[str]:
    """The trigrams pg_trgm asks the index for on ILIKE '%term%' (generate_wildcard_trgm):
    per run of word characters, lowercased, padded with two blanks in front when a
    non-word character precedes it inside the term and one behind when one follows it;
    the pattern's own leading and trailing % add no padding."""
    trigrams: set[str] = set()
    i, n = 0, len(term)
    while i < n:
        if not is_word_char(term[i]):
            i += 1
            continue
        start = i
        while i < n and is_word_char(term[i]):
            i += 1
        word = ("  " if start > 0 else "") + term[start:i].lower() + (" " if i < n else "")
        trigrams.update(word[k:k + 3] for k in range(len(word) - 2))
    return trigrams


def narrowest_part(term: str, frequencies: dict[str, float]) -> str:
    """The longest substring of `term` whose trigrams are all uncommon (the first of
    equals), or the term itself when it has no common trigram or no such substring.

    A substring's trigrams are a subset of those of any longer substring holding it (its
    words are pieces of theirs, padded only where they are), so the longest uncommon
    substring from each start ends no earlier than the one from the start before: one
    pass of two pointers, O(n) trigram sets instead of every substring's (O(n^2) of them,
    ~20 ms of the event loop for a 64-character term)."""
    if len(term) > LONGEST_NARROWED:
        return term

    def uncommon(part: str) -> bool:
        return not any(frequencies.get(t, 0.0) > COMMON for t in like_trigrams(part))

    if uncommon(term):
        return term
    best = ""
    best_count = 0
    n = len(term)
    end = 0         # term[start:end] is the longest uncommon substring from start
    for start in range(n):
        end = max(end, start)
        while end < n and uncommon(term[start:end + 1]):
            end += 1
        if end - start <= len(best):
            continue
        count = len(like_trigrams(term[start:end]))
        if count > best_count:
            best, best_count = term[start:end], count
    return best or term


class TrigramFrequencies:
    """The planner statistics' most common trigrams of posts.content, per process."""

    def __init__(self) -> None:
        self._frequencies: dict[str, float] = {}
        self._loaded_at = float("-inf")

    async def get(self, session) -> dict[str, float]:
        now = time.monotonic()
        if now - self._loaded_at >= REFRESH_S:
            self._loaded_at = now
            rows = await session.fetch(FREQUENCIES)
            self._frequencies = {row["trigram"]: row["frequency"] for row in rows}
        return self._frequencies


_FREQUENCIES = TrigramFrequencies()


async def search_index_pattern(session, filters) -> str | None:
    """The ILIKE pattern for the trigram index condition of a posts search: the search's
    own pattern narrowed to its uncommon part (None without a search)."""
    pattern = filters.get("search")
    if pattern is None:
        return None
    term = _unescaped(pattern)
    frequencies = await _FREQUENCIES.get(session)
    return contains(narrowest_part(term, frequencies)) if frequencies else pattern


def is_rare(term: str, frequencies: dict[str, float]) -> bool:
    """Whether some trigram of the term is in fewer than RARE of the rows (a trigram not
    among the most common ones counts as rare). False without trigrams or statistics."""
    trigrams = like_trigrams(term)
    return bool(frequencies) and any(frequencies.get(t, 0.0) < RARE for t in trigrams)


async def rare_search_index_pattern(session, filters) -> str | None:
    """The narrowed index pattern of a posts search whose term is rare (is_rare), else
    None: a common word's cursor pages walk the list (list_keyset_*.sql)."""
    pattern = filters.get("search")
    if pattern is None:
        return None
    frequencies = await _FREQUENCIES.get(session)
    return await search_index_pattern(session, filters) if is_rare(_unescaped(pattern), frequencies) else None


def _unescaped(pattern: str) -> str:
    """The term of a contains() pattern: '%...%' without its escapes."""
    inner, out, i = pattern[1:-1], [], 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            i += 1
        out.append(inner[i])
        i += 1
    return "".join(out)
