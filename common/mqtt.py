"""The broker link both services configure alike: a URL, credentials and TLS files, checked
once when the config is read, and the address and TLS context made from them here only."""

from __future__ import annotations

import os
import ssl
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from common.config import Strict
from common.redact import unencoded_password

Path_ = Annotated[str, Field(max_length=4096)]  # PATH_MAX
Secret = Annotated[str, Field(max_length=1024)]


def tls_context(ca_file: str | None = None, cert_file: str | None = None,
                key_file: str | None = None) -> ssl.SSLContext:
    """Verifies the broker against ``ca_file`` (the system CAs when None); a client
    certificate when the broker asks for one."""
    tls = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        tls.load_cert_chain(cert_file, key_file)
    return tls


class BrokerConfig(Strict):
    url: str = Field(pattern=r"^mqtts?://", max_length=2048, description="mqtt:// or "
                     "mqtts:// (TLS)")
    username: Secret | None = None
    password: Secret | None = None
    ca_file: Path_ | None = Field(None, description="CA that signed the broker's certificate "
                                  "(mqtts://); the system CAs when unset")
    cert_file: Path_ | None = Field(None, description="Client certificate, if the broker asks")
    key_file: Path_ | None = Field(None, description="Key of the client certificate")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if problem := unencoded_password(v):  # the host would be read from its tail
            raise ValueError(problem)
        try:
            urlsplit(v).port  # noqa: B018 (raises for a port that is not one)
        except ValueError:
            raise ValueError("the port must be a number from 0 to 65535") from None
        return v

    @model_validator(mode="after")
    def _tls_files(self) -> BrokerConfig:
        files = {k: v for k in ("ca_file", "cert_file", "key_file") if (v := getattr(self, k))}
        if files and not self.tls:
            raise ValueError(f"{' and '.join(files)} need{'s' * (len(files) == 1)} an "
                             "mqtts:// url")
        for key, path in files.items():  # found now, not at the first connection
            if not os.access(path, os.R_OK):
                raise ValueError(f"{key}: cannot read {path}" + (
                    "" if os.path.exists(path) else " (no such file)"))
        return self

    @property
    def tls(self) -> bool:
        return self.url.startswith("mqtts://")

    def address(self) -> tuple[str, int]:
        """(host, port); the port MQTT's default for the scheme when the URL has none."""
        url = urlsplit(self.url)
        return url.hostname or "127.0.0.1", url.port or (8883 if self.tls else 1883)

    def tls_context(self) -> ssl.SSLContext | None:
        return tls_context(self.ca_file, self.cert_file, self.key_file) if self.tls else None
