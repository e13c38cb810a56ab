"""narrowest_part against the exhaustive search it replaced (every substring), on
random terms and frequency tables, and its cost on the longest narrowed term."""
from __future__ import annotations

import random
import time

from service.store.trigrams import COMMON, LONGEST_NARROWED, like_trigrams, narrowest_part


def exhaustive(term: str, frequencies: dict[str, float]) -> str:
    """The former implementation: every substring, longest first from each start."""
    if len(term) > LONGEST_NARROWED:
        return term
    if not any(frequencies.get(t, 0.0) > COMMON for t in like_trigrams(term)):
        return term
    best, best_count, n = "", 0, len(term)
    for start in range(n):
        for end in range(n, start, -1):
            if end - start <= len(best):
                break
            part = term[start:end]
            found = like_trigrams(part)
            if found and not any(frequencies.get(t, 0.0) > COMMON for t in found):
                if len(found) > best_count:
                    best, best_count = part, len(found)
                break
    return best or term


def test_the_same_part_as_the_exhaustive_search():
    rng = random.Random(16)
    alphabet = "ab7 .-"
    for _ in range(3000):
        term = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        universe = sorted(like_trigrams(term) | like_trigrams(term.upper()))
        frequencies = {t: rng.choice([0.0, 0.05, 0.5, 0.9]) for t in universe if rng.random() < 0.6}
        assert narrowest_part(term, frequencies) == exhaustive(term, frequencies), (term, frequencies)


def test_the_seeded_rare_word():
    common = {t: 0.99 for t in like_trigrams("post")} | {"st ": 0.99}
    assert narrowest_part("post 777", common) == exhaustive("post 777", common) == "t 777"
    common["  7"] = 0.3
    assert narrowest_part("post 777", common) == exhaustive("post 777", common) == "777"


def test_a_long_term_costs_little():
    """A 64-character term of common and rare trigrams: the exhaustive search took about
    20 ms of event-loop time here; printed, not asserted (speed is measured, not timed)."""
    term = ("post growth " * 6)[:LONGEST_NARROWED]
    frequencies = {t: (0.5 if i % 3 else 0.001) for i, t in enumerate(sorted(like_trigrams(term)))}
    for name, fn in (("two pointers", narrowest_part), ("exhaustive", exhaustive)):
        began = time.perf_counter()
        for _ in range(5):
            result = fn(term, frequencies)
        print(f"{name}: {(time.perf_counter() - began) / 5 * 1000:.2f} ms per call")
    assert narrowest_part(term, frequencies) == exhaustive(term, frequencies) == result
