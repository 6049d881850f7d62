"""The WCAG contrast arithmetic the screen checks rely on (tests/support/screen_fit.py), against known values."""

from __future__ import annotations

import pytest

from tests.support.screen_fit import AA_TEXT_CONTRAST, contrast_ratio, relative_luminance

pytestmark = pytest.mark.unit

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def test_black_on_white_is_the_largest_contrast_and_a_colour_on_itself_none() -> None:
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21.0)
    assert contrast_ratio((13, 20, 27), (13, 20, 27)) == pytest.approx(1.0)


def test_the_ratio_does_not_depend_on_which_colour_is_the_text() -> None:
    assert contrast_ratio((0, 114, 178), WHITE) == contrast_ratio(WHITE, (0, 114, 178))


@pytest.mark.parametrize(
    ("grey", "passes"),
    [
        # #767676 is the lightest grey that reads on white at AA (4.54:1); #777777 is just under (4.48:1).
        ((0x76, 0x76, 0x76), True),
        ((0x77, 0x77, 0x77), False),
    ],
)
def test_the_aa_threshold_falls_between_the_known_greys_on_white(
    grey: tuple[int, int, int], passes: bool
) -> None:
    assert (contrast_ratio(grey, WHITE) >= AA_TEXT_CONTRAST) is passes


def test_luminance_follows_the_srgb_curve_below_and_above_its_knee() -> None:
    assert relative_luminance(BLACK) == 0.0
    assert relative_luminance(WHITE) == pytest.approx(1.0)
    assert relative_luminance((10, 10, 10)) == pytest.approx(10 / 255 / 12.92)
    assert relative_luminance((128, 128, 128)) == pytest.approx(0.2158605)
