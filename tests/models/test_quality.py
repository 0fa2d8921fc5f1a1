"""Tamper detection in the analysis core: covers over most of the view and small moves are
seen frame by frame, and normal life is not, with the shipped thresholds. Cases from the
tuning scenes (``tools/scenes.py``, seeds under 1000); the hold-out and real-footage
evaluation is ``benchmarks/quality_eval.py``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.move import fit_similarity
from models.quality import QualityMeter, QualityThresholds, diagnose
from tools.scenes import VTEST, Case, Cover, Move

FPS = 5.0
ONSET, END, SECONDS = 6.0, 12.0, 14.0


def conditions(case: Case) -> list[tuple[float, set[str]]]:
    """Each analysed frame's fault conditions; the baselines learn while none holds, as the
    pipeline does."""
    meter, t = QualityMeter(), QualityThresholds()
    out = []
    for time, y, u, v in case.frames():
        found = diagnose(meter.measure(y, (u, v)), t)
        if not found:
            meter.learn()
        out.append((time, set(found)))
    return out


def share_during(found: list[tuple[float, set[str]]], kind: str) -> float:
    """The share of frames from 1 s after onset to the fault's end where ``kind`` holds."""
    during = [k for t, k in found if ONSET + 1.0 <= t < END]
    return sum(kind in k for k in during) / len(during)


def longest_run(found: list[tuple[float, set[str]]]) -> float:
    """Seconds of the longest run of frames with any fault condition."""
    best = run = 0
    for _, kinds in found:
        run = run + 1 if kinds else 0
        best = max(best, run)
    return best / FPS


def case(**kw: object) -> Case:
    return Case(seconds=SECONDS, fps=FPS, fault_from=ONSET, fault_to=END, **kw)  # type: ignore[arg-type]


COVERS = {
    "dark band from the left, 70 %, a textured strip left": Cover(0.7, "band", "left", 20),
    "grey ellipse, 80 %": Cover(0.8, "ellipse", "top", 120),
    "bright band from the top, 75 %": Cover(0.75, "band", "top", 230),
    "skin-coloured hand, 70 %, shaded and trembling": Cover(
        0.7, "blob", "right", 150, (110, 150), shading=40, wobble=0.01, edge=0.03),
    "cloth with a weave, 85 %": Cover(0.85, "blob", "bottom", 90, texture=2.5, edge=0.02),
    "smeared lens, 90 %": Cover(0.9, "blob", "left", 120, smear=0.04, edge=0.05),
}


@pytest.mark.parametrize("cover", COVERS.values(), ids=COVERS.keys())
def test_a_cover_over_most_of_the_view_is_occluded_not_blurred(cover):
    found = conditions(case(source="street", seed=11, cover=cover, noise=3.0, walkers=2))
    assert share_during(found, "video_occluded") >= 0.9
    assert not any("video_blurred" in k for t, k in found if ONSET + 1.0 <= t < END)
    assert not any(k for t, k in found if 2.0 <= t < ONSET)  # nothing before


def test_a_cover_over_less_than_the_share_is_no_alert():
    found = conditions(case(source="street", seed=12, cover=Cover(0.4, "band", "left", 20)))
    assert longest_run(found) < 3.0


MOVES = {
    "shift 4 % of the width": Move(dx=0.04),
    "shift 4 % downwards": Move(dy=0.04 * 16 / 9),
    "roll 1.5 degrees": Move(angle=1.5),
    "zoom in x1.10": Move(zoom=1.10),
    "zoom out x1/1.10": Move(zoom=1 / 1.10),
    "knocked 6 % and 1.5 degrees": Move(dx=0.06, angle=-1.5),
    "looks elsewhere": Move(elsewhere=True),
}


@pytest.mark.parametrize("move", MOVES.values(), ids=MOVES.keys())
@pytest.mark.parametrize("source", ["street", "vtest"])
def test_the_smallest_promised_moves_change_the_scene(move, source):
    src = {"source": str(VTEST), "width": 576, "height": 432} if source == "vtest" else {
        "source": source}
    found = conditions(case(**src, seed=13, move=move, noise=3.0, walkers=2))
    assert share_during(found, "scene_changed") >= 0.9
    assert not any(k for t, k in found if 2.0 <= t < ONSET)


LIFE = {
    "IR switch (colour gone, levels change)": {"ir_at": 7.0},
    "lights switched on": {"light_step": (7.0, 60.0)},
    "auto-exposure swinging 30 %": {"exposure": 0.3},
    "headlights at dusk": {"dusk": True, "headlights": True},
    "rain": {"weather": "rain", "walkers": 3},
    "a person right past the lens": {"close_pass": 7.0, "walkers": 3},
    "low-bitrate H.264": {"crf": 42, "walkers": 4},
}


@pytest.mark.parametrize("life", LIFE.values(), ids=LIFE.keys())
def test_normal_life_holds_no_fault_for_the_tamper_hold(life):
    found = conditions(Case(seconds=SECONDS, fps=FPS, source="street", seed=14, noise=2.0,
                            **life))
    assert longest_run(found) < 3.0, [(t, k) for t, k in found if k]


def test_similarity_fit_recovers_shift_rotation_and_zoom():
    import math

    import numpy as np

    centres = np.array([(-40.0, -20.0), (40.0, -20.0), (-40.0, 20.0), (40.0, 20.0)])
    angle, zoom, shift = math.radians(2.0), 1.1, np.array([3.0, -1.0])
    rot = zoom * np.array([[math.cos(angle), -math.sin(angle)],
                           [math.sin(angle), math.cos(angle)]])
    moved = centres @ rot.T + shift - centres
    f = fit_similarity(centres, moved, np.ones(4))
    assert f.agree
    assert (f.dx, f.dy) == pytest.approx((3.0, -1.0), abs=1e-6)
    assert f.angle == pytest.approx(2.0, abs=1e-6) and f.zoom == pytest.approx(1.1)
    moved[0] += (6.0, 6.0)  # one tile fooled: they no longer agree on one motion
    assert not fit_similarity(centres, moved, np.ones(4)).agree


@pytest.mark.parametrize(("health", "kind"), [("blurred", "video_blurred"),
                                              ("noisy", "video_noisy")])
def test_a_defocus_or_a_noisy_sensor_is_camera_health_never_a_cover(health, kind):
    found = conditions(case(source="street", seed=15, health=health, noise=2.0, walkers=2))
    assert share_during(found, kind) > 0.9
    assert not any("video_occluded" in k for _, k in found)


def test_noise_is_what_changes_between_frames_not_the_scene_texture():
    import numpy as np

    from models.quality import temporal_noise

    rng = np.random.default_rng(3)
    texture = np.tile(np.linspace(60, 160, 320), (180, 1))  # a wall, and on half the view
    texture[:, :200] = rng.uniform(40, 215, (180, 200))  # as busy as a scene gets

    def frame(gain: float = 1.0, sigma: float = 0.0, shake: int = 0) -> np.ndarray:
        img = np.roll(texture, shake, axis=1) * gain + rng.normal(0, sigma, texture.shape)
        return np.clip(img, 0, 255).astype(np.uint8)

    assert temporal_noise(frame(sigma=4.0), frame(sigma=4.0)) == pytest.approx(4.0, rel=0.15)
    assert temporal_noise(frame(), frame()) < 0.5
    # an exposure step changes every pixel in proportion; a camera shaking on its pole
    # changes the busy part of the view, not the plain
    assert temporal_noise(frame(), frame(gain=1.05)) < 1.0
    assert temporal_noise(frame(), frame(shake=1)) < 1.0


def test_a_cast_the_camera_never_had_is_a_cast_and_an_ir_switch_is_not():
    import numpy as np

    meter, t = QualityMeter(), QualityThresholds()
    rng = np.random.default_rng(4)
    texture = rng.uniform(60, 200, (180, 320))

    def found(u: float, v: float) -> set[str]:
        y = np.clip(texture + rng.normal(0, 2.0, texture.shape), 0, 255).astype(np.uint8)
        planes = (np.full((23, 40), u, np.uint8), np.full((23, 40), v, np.uint8))
        kinds = set(diagnose(meter.measure(y, planes), t))
        if not kinds:
            meter.learn()
        return kinds

    for _ in range(20):  # a scene with a colour of its own: 15 toward blue-green
        assert found(113, 128) == set()
    assert "color_cast" in found(130, 142)  # 14 from neutral, but 22 from its own colour
    assert "color_cast" not in found(128, 128)  # IR: the colour gone


def test_a_smear_veils_and_spreads_a_defocus_keeps_the_veil_a_dimmer_view_loses_alike():
    from dataclasses import replace

    import numpy as np

    meter, t = QualityMeter(), QualityThresholds()
    rng = np.random.default_rng(5)
    texture = rng.uniform(60, 200, (180, 320))

    def frame() -> np.ndarray:  # a live sensor: new noise in every frame
        return np.clip(texture + rng.normal(0, 2.0, texture.shape), 0, 255).astype(np.uint8)

    for _ in range(t.warmup_frames + 2):
        meter.measure(frame())
        meter.learn()
    healthy = meter.measure(frame())
    assert (healthy.veil, healthy.mid) == (1.0, 1.0)  # nothing lost, nothing judged
    lost = replace(healthy, sharpness=0.3 * healthy.sharpness_base)
    assert set(diagnose(replace(lost, veil=0.8, mid=0.4), t)) == {"video_occluded"}
    assert set(diagnose(replace(lost, veil=0.97, mid=0.5), t)) == {"video_blurred"}  # defocus
    assert set(diagnose(replace(lost, veil=0.8, mid=0.75), t)) == {"video_blurred"}  # dimmer
    assert set(diagnose(replace(lost, veil=0.3, mid=0.3), t)) == {"video_occluded"}  # thick


def test_a_defocus_stays_a_blur_when_its_scene_changes_later():
    import cv2
    import numpy as np

    rng = np.random.default_rng(8)
    scene = cv2.resize(rng.uniform(40, 220, (45, 80)), (320, 180), interpolation=cv2.INTER_CUBIC)
    meter, t = QualityMeter(), QualityThresholds()
    kinds: list[set[str]] = []
    for i in range(t.warmup_frames + 60):
        img = scene
        if i > t.warmup_frames + 2:
            img = cv2.GaussianBlur(scene, (0, 0), 2.0)
        if i > t.warmup_frames + 30:  # 6 s into the blur, the light falls: a veil-like fade
            img = 0.6 * img + 0.4 * scene.mean()
        y = np.clip(img + rng.normal(0, 1.0, scene.shape), 0, 255).astype(np.uint8)
        kinds.append(set(diagnose(sample := meter.measure(y), t)))
        if not kinds[-1]:
            meter.learn()
    assert sample.veil > t.hazed_below  # judged on the loss's first seconds
    assert all(k == {"video_blurred"} for k in kinds[t.warmup_frames + 3:]), kinds


def test_a_smear_with_little_haze_is_told_from_a_defocus_by_how_far_the_light_spread():
    import cv2
    import numpy as np

    rng = np.random.default_rng(6)
    # a view with detail at every scale, as scenes have
    scene = sum(cv2.resize(rng.uniform(-1, 1, (180 // k + 1, 320 // k + 1)), (320, 180),
                           interpolation=cv2.INTER_CUBIC) * k ** 0.5 for k in (2, 4, 8, 16, 32, 64))
    scene = 60 + 140 * (scene - scene.min()) / np.ptp(scene)

    def last_found(fault) -> set[str]:
        meter, t = QualityMeter(), QualityThresholds()
        kinds: set[str] = set()
        for i in range(t.warmup_frames + 10):
            img = fault(scene) if i > t.warmup_frames + 2 else scene
            y = np.clip(img + rng.normal(0, 1.0, scene.shape), 0, 255).astype(np.uint8)
            kinds = set(diagnose(meter.measure(y), t))
            if not kinds:
                meter.learn()
        return kinds

    def defocus(img):  # a strong defocus: sharpness to ~30 % of the camera's
        return cv2.GaussianBlur(img, (0, 0), 2.5)

    def smear(img):  # light spread further, under a veil too thin to take the coarse contrast
        return 0.97 * cv2.GaussianBlur(img, (0, 0), 6.0) + 0.03 * (img.mean() + 20)

    assert last_found(defocus) == {"video_blurred"}
    assert last_found(smear) == {"video_occluded"}


def test_an_overexposure_that_blows_out_the_highlights_is_too_bright_a_brighter_view_is_not():
    import cv2
    import numpy as np

    rng = np.random.default_rng(7)
    scene = cv2.resize(rng.uniform(20, 180, (23, 40)), (320, 180),
                       interpolation=cv2.INTER_CUBIC)  # mean ~100, bright parts ~180

    def last_found(gain: float, offset: float) -> set[str]:
        meter, t = QualityMeter(), QualityThresholds()
        kinds: set[str] = set()
        for i in range(t.warmup_frames + 10):
            img = scene * gain + offset if i > t.warmup_frames + 2 else scene
            y = np.clip(img + rng.normal(0, 1.5, scene.shape), 0, 235).astype(np.uint8)
            kinds = set(diagnose(meter.measure(y), t))
            if not kinds:
                meter.learn()
        return kinds

    # a mean near 190, under bright_above, with a third of the view blown out to white and
    # the rest keeping (raising) its contrast
    assert last_found(2.0, -10.0) == {"video_too_bright"}
    assert last_found(1.3, 0.0) == set()  # an IR switch or a light: brighter, nothing blown


def _stills(frames) -> float:
    meter = QualityMeter()
    sample = None
    for y in frames:
        sample = meter.measure(y)
    assert sample is not None
    return sample.still


def test_a_frozen_picture_whose_clock_ticks_is_still_and_a_walker_is_not():
    """A clock burned into a frozen picture changes a few pixels once a second between
    frames that change nowhere; a walker on a still street changes a few pixels every
    frame. Both change the view's mean by under ``frozen_below``; only the first is still."""
    rng = np.random.default_rng(5)
    street = cv2.GaussianBlur(rng.integers(0, 255, (180, 320), dtype=np.uint8), (0, 0), 3)

    def ticking(i: int) -> np.ndarray:
        y = street.copy()
        y[8:16, 10:40] = 255 if (i // 5) % 2 else 0  # the seconds digit, once a second
        if i % 5 == 0:  # the encoder spreads the tick over two frames
            y[8:16, 10:20] = 128
        return y

    def walking(i: int) -> np.ndarray:
        y = street.copy()
        y[100:112, 20 + 3 * i:26 + 3 * i] = 30  # a distant walker, 3 px a frame
        return y

    assert _stills(ticking(i) for i in range(30)) >= QualityThresholds().frozen_share
    assert _stills(walking(i) for i in range(30)) == 0.0
