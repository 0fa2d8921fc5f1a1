"""The fault injectors of the video-quality evaluation do what they say: covers cover the
asked share, moves move by the asked amount, frozen repeats frames, colour survives the
encoder, and cases are drawn reproducibly within their documented ranges."""

from __future__ import annotations

import json
import math

import av
import cv2
import numpy as np
import pytest

from tools.faults import (
    COVER_SHAPES,
    KINDS,
    MOVE_MODES,
    Renderer,
    case_key,
    chroma_offset,
    cover_mask,
    draw_case,
    draw_fault,
    encode,
    luma,
    move_matrix,
    view,
)

W, H = 320, 240
STREET = {"type": "street", "width": W, "height": H}


def case(kind: str, seed: int = 5, **fault) -> dict:
    """A small, still, noiseless street with the fault from 1.0 s to 2.0 s."""
    c = draw_case("test", kind, seed, STREET, 0)
    c["scene"] = {}  # no walkers, drift, noise or clock: frames differ only by the fault
    c["seconds"] = 3.0
    c["fault"].update({"onset": 1.0, "end": 2.0, **fault})
    return c


def frames(c: dict) -> list[np.ndarray]:
    return list(Renderer(c).frames())


@pytest.mark.parametrize("shape", COVER_SHAPES)
@pytest.mark.parametrize("share", [0.66, 0.8, 0.95])
def test_cover_mask_covers_the_asked_share(shape, share):
    p = {"side": "right", "cx": 0.42, "cy": 0.58, "aspect": 1.3, "angle": 20.0, "seed": 3}
    mask = cover_mask(W, H, share, shape, p)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.mean() - share) < 0.01, (shape, share, mask.mean())


def test_rect_edge_leaves_the_strip_on_its_side():
    mask = cover_mask(W, H, 0.75, "rect_edge", {"side": "left"})
    assert mask[:, :70].max() == 0 and mask[:, 90:].min() == 1
    mask = cover_mask(W, H, 0.75, "rect_edge", {"side": "bottom"})
    assert mask[-50:].max() == 0 and mask[:170].min() == 1


def test_rendered_flat_cover_covers_the_asked_share_of_the_view():
    rgb = [250.0, 20.0, 240.0]  # a colour the street does not hold
    c = case("cover", shape="ellipse", share=0.8, texture="flat", rgb=rgb, shade=0.0,
             edge_px=0.0)
    out = frames(c)
    before, during, after = out[5], out[15], out[25]
    covered = np.all(np.abs(during.astype(int) - np.array(rgb, int)) <= 2, axis=2)
    assert abs(covered.mean() - 0.8) < 0.01
    assert np.array_equal(before, after)  # the cover went with the fault
    assert not np.all(np.abs(before.astype(int) - np.array(rgb, int)) <= 2, axis=2).any()


@pytest.mark.parametrize("texture", ["cloth", "smear"])
def test_textured_covers_change_only_the_covered_part(texture):
    c = case("cover", seed=11, shape="rect_edge", side="top", share=0.7, texture=texture,
             edge_px=0.0, weave_px=4.0, weave_amp=6.0, weave_angle=30.0, folds=0.05,
             blur_px=20.0, haze=0.4, haze_lift=20.0)
    out = frames(c)
    diff = np.abs(out[15].astype(int) - out[5].astype(int)).max(axis=2)
    strip = round(0.3 * H)
    assert diff[:strip - 2].max() == 0  # the open strip at the top is the scene itself
    assert (diff[strip + 2:] > 8).mean() > 0.3


@pytest.mark.parametrize(("dx", "dy"), [(0.08, 0.0), (-0.05, 0.04), (0.0, -0.1)])
def test_move_shifts_the_view_by_the_asked_share_of_its_width(dx, dy):
    c = case("move", shift=math.hypot(dx, dy), shift_x=dx, shift_y=dy, angle=0.0, zoom=1.0,
             ramp_s=0.0)
    out = frames(c)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in out]
    window = cv2.createHanningWindow((W, H), cv2.CV_32F)
    (mx, my), response = cv2.phaseCorrelate(grey[5], grey[15], window)
    # the camera turned by +shift: the picture's content moved the other way
    assert abs(mx + dx * W) < 0.5 and abs(my + dy * W) < 0.5, (mx, my)
    assert response > 0.3
    assert np.array_equal(out[5], out[25])  # back where it was after the fault


def test_move_borders_come_from_the_canvas_not_black():
    c = case("move", shift=0.12, shift_x=0.12, shift_y=0.0, angle=5.0, zoom=1 / 1.25,
             ramp_s=0.0)
    during = frames(c)[15]
    assert (during.max(axis=2) < 8).mean() < 0.01


@pytest.mark.parametrize(("angle", "zoom"), [(3.0, 1.0), (-1.5, 1.0), (0.0, 1.2),
                                             (4.0, 1 / 1.15)])
def test_move_matrix_rolls_and_zooms_about_the_centre(angle, zoom):
    canvas = np.zeros((H, W, 3), np.uint8)
    px, py = 230, 70  # a dot in the view
    cv2.circle(canvas, (px, py), 2, (255, 255, 255), -1)
    out = view(canvas, W, H, (0, 0), move_matrix(W, H, (0, 0), (0.0, 0.0), angle, zoom))
    ys, xs = np.nonzero(out[..., 0] > 60)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    a = math.radians(angle)
    # the inverse map takes output to canvas through R(angle)/zoom: forward is its inverse
    vx, vy = px - cx, py - cy
    ex = cx + zoom * (math.cos(a) * vx + math.sin(a) * vy)
    ey = cy + zoom * (-math.sin(a) * vx + math.cos(a) * vy)
    assert abs(xs.mean() - ex) < 1.0 and abs(ys.mean() - ey) < 1.0


def test_frozen_repeats_one_frame_for_the_whole_fault():
    c = case("frozen", osd_live=False)
    c["scene"] = {"noise": 2.0}  # a live sensor: every healthy frame differs
    out = frames(c)
    assert not np.array_equal(out[5], out[6])
    assert all(np.array_equal(out[10], f) for f in out[11:20])
    assert not np.array_equal(out[19], out[20])


def test_frozen_with_a_live_clock_changes_only_the_clock():
    c = case("frozen", osd_live=True, end=2.9)
    c["scene"] = {"noise": 2.0, "osd": {"label": "CAM-01", "clock": 59}}
    out = frames(c)
    assert np.array_equal(out[10], out[19])
    changed = np.abs(out[25].astype(int) - out[10].astype(int)).max(axis=2) > 0
    assert changed.any()  # 00:01:00 -> 00:01:01
    ys, xs = np.nonzero(changed)
    assert ys.max() < 40 and xs.max() < W * 0.75


def test_exposure_and_colour_faults_move_luma_and_chroma():
    base = frames(case("clean"))[5]
    dark = frames(case("dark", gain=0.1, noise=0.0, ramp_s=0.0))[15]
    bright = frames(case("bright", mode="glare", veil=0.85))[15]
    cast = frames(case("color_cast", gains=[1.6, 0.7, 1.5]))[15]
    assert luma(dark).mean() < 0.25 * luma(base).mean()
    assert luma(bright).mean() > 200
    assert chroma_offset(cast) > chroma_offset(base) + 15


def test_encoded_clip_keeps_size_length_and_colour(tmp_path):
    c = case("color_cast", gains=[1.6, 0.7, 1.5])
    r = Renderer(c)
    clip = encode(tmp_path / "cast.mp4", r.frames(), W, H, 10, crf=20)
    with av.open(str(clip)) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == 30
    assert decoded[0].format.name == "yuv420p" and (decoded[0].width, decoded[0].height) == (W, H)
    u = [float(np.mean(f.to_ndarray()[H:H + H // 4])) for f in decoded]  # the U plane
    assert abs(np.mean(u[15:19]) - np.mean(u[3:7])) > 10


def test_low_bitrate_is_encoded_at_about_the_asked_rate(tmp_path):
    c = case("clean")
    c["scene"] = {"noise": 3.0}
    c["seconds"] = 4.0
    clip = encode(tmp_path / "low.mp4", Renderer(c).frames(), W, H, 10, kbps=100)
    kbit_s = clip.stat().st_size * 8 / 1000 / 4.0
    assert kbit_s < 160, kbit_s


def test_cases_are_reproducible_and_json():
    a = draw_case("holdout", "cover", 10007, STREET, 3)
    b = draw_case("holdout", "cover", 10007, STREET, 3)
    assert a == b and case_key(a) == case_key(b)
    assert json.loads(json.dumps(a)) == a
    c = draw_case("holdout", "cover", 10008, STREET, 3)
    assert c["fault"] != a["fault"] and case_key(c) != case_key(a)


def test_drawn_parameters_stay_in_their_documented_ranges():
    for seed in range(10000, 10060):
        rng = np.random.default_rng(seed)
        cover = draw_fault("cover", rng, seed, seed)
        assert 0.66 <= cover["share"] <= 0.95
        move = draw_fault("move", rng, seed, seed)
        assert move["mode"] in MOVE_MODES
        if "shift" in move["mode"]:
            assert 0.04 <= move["shift"] <= 0.12
            assert abs(math.hypot(move["shift_x"], move["shift_y"]) - move["shift"]) < 1e-3
        if "rotate" in move["mode"]:
            assert 1.5 <= abs(move["angle"]) <= 5.0
        if "zoom" in move["mode"]:
            assert 1.10 <= max(move["zoom"], 1 / move["zoom"]) <= 1.25 + 1e-3
    kinds = {k: draw_case("x", k, 10000 + i, STREET, i) for i, k in enumerate(KINDS)}
    for k in ("cover", "smear", "move"):
        f = kinds[k]["fault"]
        assert 12.0 <= f["end"] - f["onset"] <= 20.0 and f["onset"] >= 20.0
    for k in ("dark", "bright", "blur", "noise", "color_cast", "frozen"):
        f = kinds[k]["fault"]
        assert f["end"] - f["onset"] == pytest.approx(30.0)
