"""Sources and decoding: RTSP and files in, luma frames out. Imports nothing of ours but
the shared leaf `common`."""

from common.redact import redact, url_password
from ingest.camera import (
    Backoff,
    CameraSettings,
    CameraState,
    CameraStats,
    CameraStatus,
    CameraStream,
    StreamHealth,
)
from ingest.clip import Clip, ClipError, StreamTemplate, write_clip
from ingest.errors import SourceError
from ingest.frame import Frame, luma_view
from ingest.packets import PacketRing, PacketRun, RingStats
from ingest.probe import ProbeResult, probe
from ingest.sampler import FrameSampler, sampled_frames
from ingest.source import (
    DecodeStats,
    FileSource,
    RtspSource,
    SourceOptions,
    StreamInfo,
    VideoSource,
    open_source,
)

__all__ = [
    "Backoff",
    "CameraSettings",
    "CameraState",
    "CameraStats",
    "CameraStatus",
    "CameraStream",
    "Clip",
    "ClipError",
    "DecodeStats",
    "FileSource",
    "Frame",
    "FrameSampler",
    "PacketRing",
    "PacketRun",
    "ProbeResult",
    "RingStats",
    "RtspSource",
    "SourceError",
    "SourceOptions",
    "StreamHealth",
    "StreamInfo",
    "StreamTemplate",
    "VideoSource",
    "luma_view",
    "open_source",
    "probe",
    "redact",
    "sampled_frames",
    "url_password",
    "write_clip",
]
