"""The key index: LIST pages scoped to their prefix, paging that neither skips nor repeats."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.storage.index import (
    BadToken,
    Entry,
    KeyIndex,
    Obj,
    after_prefix,
    plan_merges,
    size_class,
)

E = Entry(1, "e", 0.0)


def index_of(keys: list[str]) -> KeyIndex:
    index = KeyIndex()
    for key in keys:
        index.put(key, E)
    return index


def all_pages(index: KeyIndex, prefix: str, delimiter: str, max_keys: int) -> list[str]:
    out: list[str] = []
    token = None
    for _ in range(10_000):
        page = index.page(prefix, delimiter, token=token, max_keys=max_keys)
        # Contents and CommonPrefixes are two lists in S3's answer: order within a page
        out += sorted([key for key, _ in page.contents] + page.common_prefixes)
        if not page.truncated:
            return out
        token = page.next_token
    raise AssertionError("paging never ended")


def test_a_prefix_lists_only_its_keys_even_with_neighbours_that_sort_around_it() -> None:
    index = index_of(["p/0/a", "p/0/b", "p/0", "p/00/x", "p/1/a", "p/0/c/d", "o/0/a"])
    assert [k for k, _ in index.page("p/0/").contents] == ["p/0/a", "p/0/b", "p/0/c/d"]
    assert [k for k, _ in index.page("p/1/").contents] == ["p/1/a"]
    assert index.page("p/2/").contents == []


def test_delimiter_rolls_up_common_prefixes() -> None:
    index = index_of(["a/1", "a/b/1", "a/b/2", "a/c", "ab", "b/1"])
    page = index.page("a/", "/")
    assert [k for k, _ in page.contents] == ["a/1", "a/c"]
    assert page.common_prefixes == ["a/b/"]
    top = index.page("", "/")
    assert [k for k, _ in top.contents] == ["ab"]
    assert top.common_prefixes == ["a/", "b/"]


def test_start_after_is_exclusive_and_may_lie_outside_the_prefix() -> None:
    index = index_of(["k/1", "k/2", "k/3"])
    assert [k for k, _ in index.page("k/", start_after="k/1").contents] == ["k/2", "k/3"]
    assert [k for k, _ in index.page("k/", start_after="a").contents] == ["k/1", "k/2", "k/3"]
    assert index.page("k/", start_after="z").contents == []


def test_a_bad_token_is_refused() -> None:
    with pytest.raises(BadToken):
        index_of(["a"]).page(token="%%%")


keys_strategy = st.lists(
    st.text(alphabet="ab/", min_size=1, max_size=6).filter(
        lambda k: "//" not in k and not k.startswith("/")
    ),
    unique=True,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    keys=keys_strategy,
    prefix=st.sampled_from(["", "a", "a/", "b/", "ab"]),
    delimiter=st.sampled_from(["", "/"]),
    max_keys=st.integers(1, 5),
)
def test_paging_returns_what_one_big_page_returns(
    keys: list[str], prefix: str, delimiter: str, max_keys: int
) -> None:
    index = index_of(keys)
    expected = [k for k in sorted(keys) if k.startswith(prefix)]
    if delimiter:
        rolled: list[str] = []
        for key in expected:
            cut = key.find(delimiter, len(prefix))
            item = key if cut < 0 else key[: cut + 1]
            if item not in rolled:
                rolled.append(item)
        expected = rolled
    assert all_pages(index, prefix, delimiter, max_keys) == expected


def test_after_prefix_bounds_every_key_with_the_prefix() -> None:
    assert after_prefix("a/") == "a0"
    assert "a/zzz" < after_prefix("a/") <= "a0"


def test_floor_and_remove() -> None:
    index = index_of(["a", "c"])
    assert index.floor("b") == "a"
    assert index.floor("0") is None
    index.remove("a")
    assert index.floor("b") is None
    assert "a" not in index and len(index) == 1


# -- which batches to merge -------------------------------------------------------------------


def converge(objects: list[Obj], **options: int) -> list[Obj]:
    """Apply merge plans until there is nothing left to merge."""
    for _ in range(1000):
        groups = plan_merges(objects, **options)  # type: ignore[arg-type]
        if not groups:
            return objects
        merged = {g[0].offset: Obj(g[0].offset, sum(o.size for o in g)) for g in groups}
        absorbed = {o.offset for g in groups for o in g[1:]}
        objects = [merged.get(o.offset, o) for o in objects if o.offset not in absorbed]
    raise AssertionError("merging never settled")


OPTIONS = {"keep_tail": 16, "fanout": 16, "segment_bytes": 1 << 20}


def test_groups_are_runs_of_neighbours_within_the_segment_size_and_spare_the_tail() -> None:
    objects = [Obj(i, 300) for i in range(1000)]
    groups = plan_merges(objects, **OPTIONS)  # type: ignore[arg-type]
    assert groups
    position = {o.offset: n for n, o in enumerate(objects)}
    for group in groups:
        assert len(group) >= 2
        assert [position[o.offset] for o in group] == list(
            range(position[group[0].offset], position[group[0].offset] + len(group))
        )
        assert sum(o.size for o in group) <= OPTIONS["segment_bytes"]
    touched = {o.offset for g in groups for o in g}
    assert touched.isdisjoint(o.offset for o in objects[-16:])


def test_the_object_count_stays_near_history_over_segment_size() -> None:
    objects = [Obj(i, 300) for i in range(100_000)]  # 30 MB of one-record batches
    final = converge(objects, **OPTIONS)
    total = sum(o.size for o in final)
    assert total == 300 * 100_000
    # Full segments, plus fewer than `fanout` stragglers per size class, plus the tail.
    assert len(final) <= total // (OPTIONS["segment_bytes"] // 2) + 3 * 16 + 16
    assert len(final) < 150


def test_an_unmergeable_batch_breaks_a_run_but_not_the_rest() -> None:
    objects = [Obj(i, 300) for i in range(100)]
    groups = plan_merges(objects, skip=frozenset({40}), **OPTIONS)  # type: ignore[arg-type]
    assert all(40 not in {o.offset for o in g} for g in groups)
    assert any(g[0].offset > 40 for g in groups)


def test_big_objects_are_left_alone() -> None:
    objects = [Obj(i, 600 << 10) for i in range(40)]
    assert plan_merges(objects, **OPTIONS) == []  # type: ignore[arg-type]


def test_size_classes() -> None:
    assert size_class(100, 16, 1024) == 0
    assert size_class(16 * 1024, 16, 1024) == 1
    assert size_class(300 * 1024, 16, 1024) == 2
