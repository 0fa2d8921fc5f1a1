"""Clips for the camera-health patrol's tests and benchmark: real footage (OpenCV's
vtest.avi, people on a plaza) at 640x360, healthy and with one fault each, made by ffmpeg
and cached. Each clip is H.264 Annex-B, 25 fps, a keyframe every 2 s (what
tools/rtsp_server.py serves).

    clips = patrol_clips(Path(".cache/clips/patrol"), Path(".cache/data/vtest.avi"))
"""

from __future__ import annotations

from pathlib import Path

from tools.camera import make_clip

_VIEW = "crop=iw*0.8:ih*0.8:{x}:0,scale=640:360,fps=25"
# name -> the ffmpeg filters after the view; "panned" looks 12 % of the width further right
FAULTS = {
    "healthy": "",
    "dark": "lutyuv=y=val*0.12",
    "bright": "lutyuv=y=235-(235-val)*0.05",
    "covered": "drawbox=x=0:y=0:w=iw:h=ih*0.92:color=0x707070:t=fill",
    "blurred": "gblur=sigma=6",
    "cast": "lutyuv=u=val+45",
    "noisy": "noise=alls=60:allf=t",
    "frozen": "trim=end_frame=1,loop=loop=400:size=1:start=0,setpts=N/25/TB",
}
EXPECTED = {  # the check each clip's fault should raise
    "healthy": None, "dark": "video_too_dark", "bright": "video_too_bright",
    "covered": "video_occluded", "blurred": "video_blurred", "cast": "color_cast",
    "noisy": "video_noisy", "frozen": "video_frozen",
}


def patrol_clips(folder: Path, vtest: Path, seconds: float = 8.0) -> dict[str, Path]:
    made = {}
    for name, fault in FAULTS.items():
        view = _VIEW.format(x=0)
        chain = f"{fault},{view}" if name == "frozen" else ",".join(f for f in (view, fault)
                                                                    if f)
        made[name] = make_clip(folder / f"{name}.h264", seconds=seconds, gop=50,
                               source=["-nostdin", "-i", str(vtest), "-vf", chain])
    made["panned"] = make_clip(folder / "panned.h264", seconds=seconds, gop=50,
                               source=["-nostdin", "-i", str(vtest), "-vf",
                                       _VIEW.format(x="iw*0.12")])
    return made
