"""The command center's config: strict, like the edge's (unknown keys are errors, every error
names its key path, ``${VAR}`` comes from the environment)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field

from edge.config import Strict, read_yaml, validate


class CenterMqttConfig(Strict):
    url: str = Field(pattern=r"^mqtts?://", description="The county broker")
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    instance: str = Field("center-1", pattern=r"^[A-Za-z0-9_-]+$", description="This "
                          "instance's MQTT client id; unique per instance")
    group: str = Field("center", pattern=r"^[A-Za-z0-9_-]+$", description="Instances of one "
                       "group split the alerts between them (an MQTT 5 shared subscription)")
    max_message_bytes: int = Field(65_536, ge=1024, le=16_000_000, description="Larger alert "
                                   "messages are refused and counted")
    max_snapshot_bytes: int = Field(2_000_000, ge=1024, le=64_000_000)


class StorageConfig(Strict):
    url: str = Field("sqlite:////var/lib/edge-center/center.db", pattern=r"^(sqlite:///|"
                     r"postgres(ql)?://)", description="sqlite:///PATH or postgresql://...")


class CenterHttpConfig(Strict):
    listen: str = Field("127.0.0.1:8080", pattern=r"^[^\s:]*:\d{1,5}$")
    secure_cookies: bool = Field(True, description="Session cookies only over HTTPS; off "
                                 "only behind no proxy on a trusted network (or in tests)")
    session_hours: float = Field(12.0, gt=0.0, le=24 * 30)


class CenterConfig(Strict):
    mqtt: CenterMqttConfig
    storage: StorageConfig = Field(default_factory=StorageConfig)
    http: CenterHttpConfig = Field(default_factory=CenterHttpConfig)

    nodes: list[str] = Field(default_factory=list, description="Edge node ids accepted; "
                             "empty: any. Messages from others are refused and counted")

    def secrets(self) -> set[str]:
        return {s for s in (self.mqtt.password, urlsplit(self.storage.url).password) if s}


def load_center_config(path: str | Path, env: dict[str, str] | None = None) -> CenterConfig:
    return validate(CenterConfig, read_yaml(path), env)
