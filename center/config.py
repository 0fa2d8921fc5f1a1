"""The command center's config: strict, like the edge's (unknown keys are errors, every error
names its key path, ``${VAR}`` comes from the environment)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from center.plans import Plan, default_plans
from common.config import Strict, read_yaml, validate
from common.mqtt import BrokerConfig


class CenterMqttConfig(BrokerConfig):
    """The county broker the edges publish to."""

    instance: str = Field("center-1", pattern=r"^[A-Za-z0-9_-]+$", description="This "
                          "instance's MQTT client id; unique per instance")
    group: str = Field("center", pattern=r"^[A-Za-z0-9_-]+$", description="Instances of one "
                       "group split the alerts between them (an MQTT 5 shared subscription)")
    max_message_bytes: int = Field(65_536, ge=1024, le=16_000_000, description="Larger alert "
                                   "messages are refused and counted")
    max_snapshot_bytes: int = Field(2_000_000, ge=1024, le=64_000_000)
    max_patrol_snapshot_bytes: int = Field(262_144, ge=1024, le=16_000_000, description=
                                           "Larger patrol snapshots (a camera's newest "
                                           "picture, at most 640 px wide) are refused and "
                                           "counted")
    max_clip_bytes: int = Field(16_000_000, ge=65_536, le=256_000_000, description="Larger "
                                "alert clips (MP4) are refused and counted")
    max_clock_skew_s: float = Field(86_400.0, ge=60.0, le=366 * 86_400.0, description="An "
                                    "alert's times further than this from the center's clock "
                                    "are stored as the time it arrived (the message is kept "
                                    "as sent), and counted: a box with a wrong clock must not "
                                    "sort its alerts above every other for ever")


DEFAULT_CLIPS_DIR = "/var/lib/edge-center/clips"


class StorageConfig(Strict):
    url: str = Field("sqlite:////var/lib/edge-center/center.db", pattern=r"^(sqlite:///|"
                     r"postgres(ql)?://)", description="sqlite:///PATH or postgresql://...")
    clips_dir: str | None = Field(None, min_length=1, max_length=4096, description="Where "
                                  "alert clips are kept, one MP4 file each. Default: 'clips' "
                                  "beside the SQLite file; with PostgreSQL "
                                  f"{DEFAULT_CLIPS_DIR}. Instances that share a PostgreSQL "
                                  "store must share this folder too (one volume): any of "
                                  "them may store a clip, any may serve it")

    def clips_path(self) -> Path:
        if self.clips_dir is not None:
            return Path(self.clips_dir)
        if self.url.startswith("sqlite:///"):  # the file open_store opens: "//x" is "/x"
            return Path("/" + self.url.removeprefix("sqlite://").lstrip("/")).parent / "clips"
        return Path(DEFAULT_CLIPS_DIR)


class RetentionConfig(Strict):
    """What the store keeps. The oldest goes first; what was purged is counted
    (``center_purged_total``)."""

    alerts_days: float = Field(90.0, gt=0.0, le=3650.0, description="Alerts (with their "
                               "messages, snapshots and clips) older than this are deleted")
    max_alerts: int = Field(2_000_000, ge=1000, le=1_000_000_000, description="Beyond this "
                            "many alerts, the oldest are deleted")
    max_messages: int = Field(20_000_000, ge=10_000, le=10_000_000_000, description="Beyond "
                              "this many alert messages, the oldest alerts are deleted")
    snapshots_days: float = Field(30.0, gt=0.0, le=3650.0)
    max_snapshots_mb: int = Field(20_000, ge=10, le=100_000_000, description="Snapshots' "
                                  "total size; beyond it the oldest are deleted")
    clips_days: float = Field(30.0, gt=0.0, le=3650.0, description="Alert clips older "
                              "than this are deleted (files and rows)")
    max_clips_mb: int = Field(100_000, ge=10, le=100_000_000, description="Clips' total "
                              "size; beyond it the oldest are deleted")
    audit_days: float = Field(400.0, gt=0.0, le=36500.0, description="Audit entries older "
                              "than this are deleted")
    patrol_days: float = Field(90.0, gt=0.0, le=3650.0, description="Patrol checks (the "
                               "history), cameras not heard from, their pictures and the "
                               "health trend's days older than this are deleted")
    interval_s: float = Field(600.0, ge=1.0, le=86_400.0, description="How often to purge")


class CenterHttpConfig(Strict):
    listen: str = Field("127.0.0.1:8080", pattern=r"^[^\s:]*:\d{1,5}$")
    secure_cookies: bool = Field(True, description="Session cookies only over HTTPS; off "
                                 "only behind no proxy on a trusted network (or in tests)")
    session_hours: float = Field(12.0, gt=0.0, le=24 * 30)
    # failed logins (in memory, per instance: instances behind one address count apart)
    login_max_failures_per_name: int = Field(5, ge=1, le=1000, description="This many "
                                             "failed logins for one user name within "
                                             "login_window_s lock the name (whichever "
                                             "client tries it) for login_lockout_s")
    login_max_failures_per_client: int = Field(20, ge=1, le=1000, description="This many "
                                               "failed logins from one client address "
                                               "within login_window_s lock the client (for "
                                               "every name) for login_lockout_s")
    login_window_s: float = Field(900.0, ge=1.0, le=7 * 86_400.0, description="The window "
                                  "in which failed logins are counted")
    login_lockout_s: float = Field(900.0, ge=1.0, le=7 * 86_400.0, description="How long "
                                   "a locked name or client waits; logins are answered 429 "
                                   "with Retry-After meanwhile")
    login_table_size: int = Field(10_000, ge=100, le=10_000_000, description="Names and "
                                  "clients remembered, each; beyond it the least recently "
                                  "tried are forgotten (memory stays bounded)")
    trusted_proxies: list[str] = Field(default_factory=list, description="Addresses or "
                                       "networks (CIDR) of the reverse proxies in front: a "
                                       "request from one of them is from the client its "
                                       "X-Forwarded-For names. Empty: the peer's address")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not an address or a network") from None
        return value


class LookConfig(Strict):
    """The live look: an operator asks for a camera's picture, its edge answers about once
    a second over MQTT while the console renews the view."""

    renew_s: float = Field(20.0, ge=1.0, le=300.0, description="An open live look is "
                           "renewed this often by the console; keep it well under the "
                           "edges' alerts.look.renew_s (60 s by default), or a view lapses "
                           "between renewals")
    stale_s: float = Field(5.0, ge=1.0, le=60.0, description="A live picture older than "
                           "this is not shown: the camera, its edge or the link has stopped")
    max_cameras: int = Field(1024, ge=1, le=100_000, description="Cameras whose newest "
                             "live picture is kept in memory (each up to "
                             "mqtt.max_snapshot_bytes); pictures of more are refused and "
                             "counted")


class HealthConfig(Strict):
    """The camera-health board: online and intact rates from patrol results and the live
    cameras' health summaries."""

    stale_s: float = Field(7200.0, ge=60.0, le=30 * 86_400.0, description="A camera whose "
                           "newest patrol result is older than this counts as offline "
                           "(stale): a round that stopped must not keep it online")
    live_stale_s: float = Field(300.0, ge=30.0, le=86_400.0, description="A live camera "
                                "whose newest health summary is older than this counts as "
                                "offline (stale); the summaries come every 30 s")
    sample_s: float = Field(300.0, ge=1.0, le=86_400.0, description="How often the rates "
                            "are sampled for the daily trend (a day's rate is the mean of "
                            "its samples)")
    timezone: str = Field("UTC", min_length=1, max_length=64, description="The trend's days "
                          "are days in this IANA time zone, e.g. Asia/Shanghai")
    history: int = Field(50, ge=1, le=1000, description="A camera's last checks shown")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone") from None
        return value


class QueueConfig(Strict):
    """The operators' queue: open alerts by severity, then age, related ones grouped."""

    group_s: float = Field(300.0, ge=0.0, le=86_400.0, description="Alerts of one camera "
                           "and one type that start within this many seconds of the "
                           "previous one are one incident (a row, with a count); 0: no "
                           "grouping")
    check_s: float = Field(2.0, ge=0.1, le=60.0, description="How often the pick-up "
                           "timers are checked: an escalation fires at most this late")
    max_open: int = Field(100_000, ge=100, le=10_000_000, description="Open alerts the "
                          "queue orders and groups at most (the oldest beyond it are "
                          "left out, and the queue says so)")


Severity = Literal["info", "warning", "critical"]


class CenterConfig(Strict):
    mqtt: CenterMqttConfig
    storage: StorageConfig = Field(default_factory=StorageConfig)
    http: CenterHttpConfig = Field(default_factory=CenterHttpConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    look: LookConfig = Field(default_factory=LookConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    escalate_after_s: dict[Severity, float] = Field(
        default_factory=lambda: {"critical": 120.0, "warning": 900.0}, description="Per "
        "severity: an alert not acknowledged this many seconds after it arrived is "
        "escalated (once): red in every console, announced to supervisors, published on "
        "center/escalations, counted and audited. A severity not named is never escalated")

    @field_validator("escalate_after_s")
    @classmethod
    def _delays(cls, value: dict[str, float]) -> dict[str, float]:
        for severity, seconds in value.items():
            if not 0.5 <= seconds <= 7 * 86_400:
                raise ValueError(f"{severity}: from 0.5 s to 7 days")
        return value

    plans: dict[str, Plan] = Field(default_factory=default_plans, description="Per alert "
                                   "type, the action plan: a checklist whose required steps "
                                   "must be ticked before the alert is resolved or closed. "
                                   "Replaces the defaults (intrusion, video_occluded) as a "
                                   "whole; {} for none")

    @field_validator("plans")
    @classmethod
    def _plan_types(cls, value: dict[str, Plan]) -> dict[str, Plan]:
        for kind in value:
            if not (0 < len(kind) <= 64 and kind.replace("_", "").isalnum()):
                raise ValueError(f"{kind!r}: an alert type is 1 to 64 of a-z 0-9 _")
        return value

    nodes: list[str] = Field(default_factory=list, description="Edge node ids accepted; "
                             "empty: any. Messages from others are refused and counted")

    def secrets(self) -> set[str]:
        return {s for s in (self.mqtt.password, urlsplit(self.storage.url).password) if s}


def load_center_config(path: str | Path, env: dict[str, str] | None = None) -> CenterConfig:
    return validate(CenterConfig, read_yaml(path), env)
