"""Waveform previews mark the window the speech model centres its input on."""

from __future__ import annotations

import numpy as np

from flywheel.reports.media import loudest_span, waveform_image


def test_waveform_shades_the_loudest_window() -> None:
    rate = 16000
    clip = np.zeros(rate, np.float32)  # 1 s; a tone from 0.7 to 0.8 s
    clip[11200:12800] = 0.5 * np.sin(np.arange(1600, dtype=np.float32) * 0.3)
    start, end = loudest_span(clip, rate)
    assert (start, end) == (0.5, 1.0)  # the 0.5 s window centred on 0.75 s, clipped
    img = np.asarray(waveform_image(clip, (200, 40), (start, end)))  # (H, W, 3)
    shade = np.array([0xFF, 0xF3, 0xBF])
    assert (img[2, 110] == shade).all() and (img[2, 190] == shade).all()
    assert (img[2, 90] == 255).all()  # outside the window: white
    plain = np.asarray(waveform_image(clip, (200, 40)))
    assert not (plain == shade).all(axis=2).any()
