"""Report section comparing the territory estimators (English and French)."""

import pandas as pd
import pytest

from nonrecours.report.section_territorial_comparison import TEXT, render


def _summary():
    return pd.DataFrame(
        {
            "right": ["cmuc", "cmuc"],
            "estimator": ["eblup", "eblup"],
            "subset": ["sampled", "unsampled"],
            "n": [1234, 66],
            "bias": [0.0123, -0.004],
            "rmse": [0.0617, 0.09],
            "coverage": [0.617, 0.95],
            "mean_ci_width": [0.3, 0.35],
        }
    )


def _validation():
    return pd.DataFrame(
        {
            "level": ["territory"] * 2,
            "estimator": ["unit-ebp/sampled", "fay-herriot-amrl-yl/unsampled"],
            "ci": ["normal", "normal"],
            "estimands": [800, 800],
            "coverage": [0.951, 0.94],
            "coverage_mcse": [0.002, 0.003],
            "rmse": [0.07, 0.09],
            "mean_width": [0.3, 0.4],
        }
    )


def test_french_numbers_and_labels():
    html = render(_summary(), "fr", validation=_validation())
    assert "61,7\u202f%" in html and "1\u202f234" in html and "échantillonnés" in html
    assert "REML ajusté, Yoshimori–Lahiri" in html and "95\u202f%" in html


def test_english_and_same_keys():
    html = render(_summary(), "en", validation=_validation())
    assert "61.7 %" in html and "1,234" in html and "unit-level EBP" in html and "unsampled" in html
    assert set(TEXT["en"]) == set(TEXT["fr"])


def test_without_truth_and_bad_language():
    assert TEXT["fr"]["empty"] in render(None, "fr")
    with pytest.raises(ValueError, match="lang"):
        render(None, "de")
