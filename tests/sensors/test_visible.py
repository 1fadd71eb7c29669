from __future__ import annotations

from wattprint.sensors.visible import (
    VisibleSpec,
    match_id,
    parse_visible_devices,
    select_visible,
    select_visible_chain,
)

GPU_A = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
GPU_B = "GPU-8932aa00-0000-0000-0000-000000000001"
GPU_C = "GPU-1f00b2c3-0000-0000-0000-000000000002"
THREE = [[GPU_A], [GPU_B], [GPU_C]]


def test_unset_means_every_device() -> None:
    assert select_visible(None, THREE) is None


def test_empty_string_means_no_device() -> None:
    assert select_visible("", THREE) == []


def test_indices_in_the_order_given() -> None:
    assert select_visible("2,0", THREE) == [2, 0]


def test_whitespace_around_entries_is_ignored() -> None:
    assert select_visible(" 0 , 1 ", THREE) == [0, 1]


def test_negative_index_stops_the_list() -> None:
    assert select_visible("0,2,-1,1", THREE) == [0, 2]


def test_non_numeric_entry_stops_the_list() -> None:
    assert select_visible("1,abc,0", THREE) == [1]


def test_index_reads_leading_digits_like_strtoul() -> None:
    assert select_visible("1gpu,0x", THREE) == [1, 0]


def test_index_past_the_last_device_stops_the_list() -> None:
    assert select_visible("0,5,1", THREE) == [0]


def test_repeated_index_makes_no_device_visible() -> None:
    assert select_visible("0,1,0", THREE) == []


def test_full_uuids() -> None:
    assert select_visible(f"{GPU_C},{GPU_A}", THREE) == [2, 0]


def test_uuid_prefix_naming_one_device() -> None:
    assert select_visible("GPU-1f00", THREE) == [2]


def test_ambiguous_uuid_prefix_stops_the_list() -> None:
    # "GPU-8932" starts both GPU_A and GPU_B
    assert select_visible("GPU-1f00,GPU-8932,GPU-8932f937", THREE) == [2]


def test_unknown_uuid_stops_the_list() -> None:
    assert select_visible(f"{GPU_B},GPU-ffff,{GPU_A}", THREE) == [1]


def test_uuid_match_ignores_case() -> None:
    assert select_visible(GPU_A.upper(), THREE) == [0]


def test_two_prefixes_of_one_device_make_no_device_visible() -> None:
    assert select_visible("GPU-1f00,GPU-1f00b2", THREE) == []


def test_list_kind_is_decided_by_the_first_entry() -> None:
    assert select_visible(f"{GPU_B},0", THREE) == [1]
    assert select_visible(f"0,{GPU_B}", THREE) == [0]


def test_gpu_and_mig_uuids_are_not_mixed() -> None:
    mig = "MIG-0a1b2c3d-1111-5e6f-8a9b-0c1d2e3f4a5b"
    candidates = [[GPU_A], [mig]]
    assert select_visible(f"{mig},{GPU_A}", candidates) == [1]


def test_mig_uuid_and_legacy_mig_name_match_the_instance() -> None:
    mig = "MIG-0a1b2c3d-1111-5e6f-8a9b-0c1d2e3f4a5b"
    legacy = f"MIG-{GPU_A}/1/0"
    candidates = [[GPU_A], [mig, legacy]]
    assert select_visible(mig, candidates, index_count=1) == [1]
    assert select_visible(legacy, candidates, index_count=1) == [1]


def test_indices_address_only_the_first_index_count_candidates() -> None:
    candidates = [[GPU_A], ["MIG-x"], ["MIG-y"]]
    assert select_visible("0,1", candidates, index_count=1) == [0]


def test_parse_reports_the_kind_of_list() -> None:
    assert parse_visible_devices("3,1") == VisibleSpec(indices=(3, 1))
    assert parse_visible_devices("GPU-ab,GPU-cd") == VisibleSpec(ids=("GPU-ab", "GPU-cd"))
    assert parse_visible_devices("1,1") == VisibleSpec(duplicate=True)


def test_match_id_returns_none_when_nothing_matches() -> None:
    assert match_id("GPU-0000", THREE) is None
    assert match_id("GPU-8932f", THREE) == 0


def test_chain_hip_indices_count_within_rocr_selection() -> None:
    four = [["GPU-aa"], ["GPU-bb"], ["GPU-cc"], ["GPU-dd"]]
    assert select_visible_chain(["1,2,3", "0"], four) == [1]
    assert select_visible_chain(["3,1", "1"], four) == [1]


def test_chain_with_only_the_second_variable_set() -> None:
    four = [["GPU-aa"], ["GPU-bb"], ["GPU-cc"], ["GPU-dd"]]
    assert select_visible_chain([None, "2"], four) == [2]


def test_chain_all_unset_means_every_device() -> None:
    assert select_visible_chain([None, None], THREE) is None


def test_chain_empty_first_variable_leaves_nothing() -> None:
    assert select_visible_chain(["", "0"], THREE) == []


def test_chain_uuid_in_second_variable_matches_within_first_selection() -> None:
    assert select_visible_chain(["0,2", GPU_C], THREE) == [2]
    assert select_visible_chain(["0,1", GPU_C], THREE) == []
