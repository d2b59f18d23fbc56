import dataclasses

import pytest

from fitdata.config import DEFAULT_CONFIG, RULES, ClinicalConfig, ConfigError, load_config
from tests.oracles.thresholds import is_clinical, srs_dropped, srs_item_of_concern


@pytest.mark.parametrize(
    ("group", "cutoff"), [("adult", 25.0), ("adolescent", 28.0), ("child", 32.0)]
)
def test_cutoff_by_age_group_and_both_sides_of_the_tie(group: str, cutoff: float) -> None:
    assert DEFAULT_CONFIG.ors_cutoff(group) == cutoff
    assert is_clinical(DEFAULT_CONFIG, cutoff - 0.1, group)
    assert not is_clinical(DEFAULT_CONFIG, cutoff, group)  # the cutoff itself is non-clinical
    assert not is_clinical(DEFAULT_CONFIG, cutoff + 0.1, group)


def test_score_at_cutoff_can_be_made_clinical() -> None:
    config = ClinicalConfig(score_at_cutoff_is_clinical=True)
    assert is_clinical(config, 25.0, "adult")
    assert not is_clinical(config, 25.1, "adult")


def test_unknown_age_group_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="senior"):
        DEFAULT_CONFIG.ors_cutoff("senior")


@pytest.mark.parametrize(
    ("change", "direction"),
    [
        (5.0, 1),
        (4.9, 0),
        (-5.0, -1),
        (-4.9, 0),
        (0.0, 0),
        (12.3, 1),
        (8.2 - 3.2, 1),
        (20.0 - 25.0, -1),
        (float("nan"), 0),
    ],
)
def test_reliable_change_is_inclusive_at_five_points(change: float, direction: int) -> None:
    assert DEFAULT_CONFIG.change_direction(change) == direction


def test_reliable_change_can_be_made_strict() -> None:
    config = ClinicalConfig(change_at_threshold_is_reliable=False)
    assert config.change_direction(5.0) == 0
    assert config.change_direction(20.1 - 15.1) == 0  # float noise does not tip a tie
    assert config.change_direction(5.1) == 1
    assert config.change_direction(-5.1) == -1


def test_srs_rules_on_both_sides_of_their_ties() -> None:
    assert DEFAULT_CONFIG.srs_below_cutoff(35.9)
    assert not DEFAULT_CONFIG.srs_below_cutoff(36.0)
    assert srs_item_of_concern(DEFAULT_CONFIG, 8.9)
    assert not srs_item_of_concern(DEFAULT_CONFIG, 9.0)
    assert srs_dropped(DEFAULT_CONFIG, [38.0, 38.0], 36.0)  # 2.0 below the usual level
    assert srs_dropped(DEFAULT_CONFIG, [37.3, 37.3], 35.3)  # 2.0 after float arithmetic
    assert not srs_dropped(DEFAULT_CONFIG, [38.0, 38.0], 36.1)
    assert not srs_dropped(DEFAULT_CONFIG, [40.0], 30.0)  # one earlier SRS is no usual level


def test_small_cells_are_suppressed_below_five() -> None:
    assert DEFAULT_CONFIG.cell_is_suppressed(4)
    assert not DEFAULT_CONFIG.cell_is_suppressed(5)


def test_every_threshold_is_documented_with_a_source() -> None:
    names = {f.name for f in dataclasses.fields(ClinicalConfig) if f.name != "source_notes"}
    assert names == set(RULES)
    for rule in RULES.values():
        assert rule.label and rule.source and rule.tie_rule


def test_load_config_overrides_defaults(tmp_path) -> None:
    path = tmp_path / "service.toml"
    path.write_text("[thresholds]\nors_cutoff_adult = 24\nsrs_cutoff = 35.5\n", encoding="utf-8")
    config = load_config(path)
    assert config.ors_cutoff("adult") == 24.0
    assert config.srs_cutoff == 35.5
    assert config.ors_cutoff("child") == 32.0
    assert load_config(None) is DEFAULT_CONFIG


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[thresholds]\nors_cutof_adult = 24\n", "unknown threshold 'ors_cutof_adult'"),
        ("[thresholds]\nors_cutoff_adult = 'high'\n", "ors_cutoff_adult must be a number"),
        ("[thresholds]\nmin_cell_size = 2.5\n", "min_cell_size must be a whole number"),
        ("[thresholds]\nscore_at_cutoff_is_clinical = 1\n", "must be true or false"),
        ("[thresholds\n", "cannot read"),
    ],
)
def test_bad_config_files_say_what_and_where(tmp_path, body: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value)
