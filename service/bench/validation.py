"""Microbenchmark of request validation on the write path (issue 11): µs per body.

    python -m service.bench.validation [--rounds N]

Measures the validation the service runs (pydantic v2 TypeAdapters of
service/schemas, through validate_body and validate_items) on one typical post and
on a 1000-post bulk body, and, when msgspec is installed, an equivalent msgspec
Struct (convert from the parsed JSON, as our handlers hold it after orjson). The
best of N rounds is printed per engine; the choice and the figures are in README
"Request validation".
"""
# No `from __future__ import annotations`: msgspec reads the local Struct's annotations at run time.

import argparse
import time
import uuid
from collections.abc import Callable
from typing import Any

POST = {"project_id": str(uuid.uuid4()), "run_id": str(uuid.uuid4()),
        "content": "Five ways to brew better coffee at home. " * 8, "template_id": "t-12",
        "template_name": "Listicle", "variant": 2, "word_count": 64, "readability_score": 71.5,
        "has_cta": True, "status": "approved", "flags": [], "target_platform": "linkedin"}


def _best(run: Callable[[], Any], repeat: int, rounds: int) -> float:
    """Best µs per call over `rounds` rounds of `repeat` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            run()
        best = min(best, (time.perf_counter() - start) / repeat * 1e6)
    return best


def _pydantic() -> tuple[Callable, Callable]:
    from service.schemas import posts
    from service.schemas.validate import validate_body, validate_items
    return (lambda body: validate_body(body, posts.POST)), (lambda items: validate_items(items, posts.POST))


def _msgspec() -> tuple[Callable, Callable] | None:
    try:
        import msgspec
    except ImportError:
        return None
    from typing import Annotated, Literal

    from msgspec import UNSET, Meta, Struct, UnsetType

    Text200 = Annotated[str, Meta(max_length=200)]

    class Post(Struct, forbid_unknown_fields=True, omit_defaults=True):
        project_id: str
        content: Annotated[str, Meta(min_length=1, max_length=100000)]
        run_id: str | None | UnsetType = UNSET
        template_id: Text200 | None | UnsetType = UNSET
        template_name: Text200 | None | UnsetType = UNSET
        variant: Annotated[int, Meta(ge=0, le=1_000_000)] | None | UnsetType = UNSET
        word_count: Annotated[int, Meta(ge=0, le=1_000_000)] | None | UnsetType = UNSET
        readability_score: Annotated[float, Meta(ge=0, le=100)] | None | UnsetType = UNSET
        has_cta: bool | UnsetType = UNSET
        status: Literal["approved", "flagged"] | UnsetType = UNSET
        flags: Annotated[list[Text200], Meta(max_length=50)] | None | UnsetType = UNSET
        target_platform: Literal["linkedin", "twitter", "facebook", "blog"] | None | UnsetType = UNSET

    def one(body: dict) -> dict:
        return msgspec.structs.asdict(msgspec.convert(body, Post))

    def many(items: list) -> list:
        return [msgspec.structs.asdict(post) for post in msgspec.convert(items, list[Post])]
    return one, many


BAD = {"project_id": "p", "content": "", "variant": -1, "status": "shipped", "colour": "red"}   # 4 problems


def _problems(one: Callable) -> int:
    """How many problems an engine reports for BAD (the API lists every one, error.errors)."""
    try:
        one(dict(BAD))
    except Exception as exc:
        return len(getattr(exc, "errors", None) or [exc])
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.bench.validation", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure, the best is shown (default 5)")
    args = parser.parse_args(argv)
    bulk = [dict(POST, variant=i) for i in range(1000)]
    engines = {"pydantic v2 (service/schemas)": _pydantic(), "msgspec (equivalent Struct)": _msgspec()}
    print(f"{'engine':34} {'one post µs':>12} {'1000-post bulk µs':>18} {'problems of 4 reported':>23}")
    for name, pair in engines.items():
        if pair is None:
            print(f"{name:34} {'not installed':>12}")
            continue
        one, many = pair
        assert one(dict(POST))["content"] == POST["content"] and len(many(bulk)) == 1000
        one_us = _best(lambda one=one: one(POST), 2000, args.rounds)
        bulk_us = _best(lambda many=many: many(bulk), 5, args.rounds)
        print(f"{name:34} {one_us:12.1f} {bulk_us:18,.0f} {_problems(one):>23}")


if __name__ == "__main__":
    main()
