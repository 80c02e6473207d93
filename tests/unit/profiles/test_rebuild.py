"""How a rebuild shares the log's partitions out among its worker processes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.profiles.rebuild import share_out


def test_the_largest_partitions_are_spread_and_the_small_fill_in() -> None:
    sizes = {("p", 0): 250, ("p", 1): 260, ("p", 2): 255, ("c", 0): 60, ("c", 1): 70}
    sizes |= {("c", 2): 65, ("j", 0): 20, ("j", 1): 15, ("e", 0): 0}
    shares = share_out(sizes, 2)
    loads = sorted(sum(sizes[tp] for tp in share) for share in shares)
    assert loads == [490, 505]


def test_no_more_workers_than_partitions_with_records() -> None:
    assert share_out({("a", 0): 5, ("a", 1): 0}, 4) == [[("a", 0), ("a", 1)]]
    assert share_out({("a", 0): 0}, 4) == [[("a", 0)]]


@given(
    st.dictionaries(
        st.tuples(st.sampled_from("abc"), st.integers(0, 5)), st.integers(0, 10**6), max_size=15
    ),
    st.integers(1, 8),
)
def test_every_partition_goes_to_exactly_one_worker(
    sizes: dict[tuple[str, int], int], workers: int
) -> None:
    shares = share_out(sizes, workers)
    assigned = [tp for share in shares for tp in share]
    assert sorted(assigned) == sorted(sizes)
    assert 1 <= len(shares) <= max(1, min(workers, sum(1 for n in sizes.values() if n)))
    if len(shares) > 1:
        loads = [sum(sizes[tp] for tp in share) for share in shares]
        # Largest-first: no worker carries more than the fair share plus one partition.
        assert max(loads) <= sum(loads) / len(shares) + max(sizes.values())
