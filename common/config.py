"""Strict config files, for both services: YAML read with duplicate keys refused, ``${VAR}``
filled in from the environment, validated by a strict pydantic model, and every problem
reported as one ``key.path: what is wrong`` line."""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """An invalid config. ``problems`` holds one ``key.path: what is wrong`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Strict(BaseModel):
    # strict: "yes" is not a bool and "5" is not a number; an installer's typo is an error.
    # YAML's .nan and .inf are floats, and no comparison catches NaN: refuse them all.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _substitute(node: Any, path: str, env: dict[str, str], problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else str(k), env, problems)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, f"{path}[{i}]", env, problems) for i, v in enumerate(node)]
    if isinstance(node, str):
        def var(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                problems.append(f"{path}: environment variable {m.group(1)} is not set")
                return ""
            return env[m.group(1)]
        return _VAR.sub(var, node)
    return node


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (name)"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch" and err["loc"] and err["loc"][-1] == "[key]":
        return "names may use only letters, digits, '_' and '-'"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def validate(model: type[M], data: Any, env: dict[str, str] | None = None) -> M:
    """Validates already-parsed YAML against ``model`` (the edge's config, or the command
    center's), ``${VAR}`` filled in. Raises ConfigError naming every bad key path."""
    if not isinstance(data, dict):
        raise ConfigError(["(top level): must be a mapping of keys"])
    problems: list[str] = []
    data = _substitute(data, "", dict(os.environ) if env is None else env, problems)
    if problems:
        raise ConfigError(problems)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [f"{_where(e['loc'])}: {_message(e)}" for e in exc.errors(include_url=False)]
        ) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (two cameras named "gate" would
    otherwise silently become one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path) -> Any:
    """A YAML file's data; ConfigError (with line and column) if it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError as exc:  # usually the service's user: say which
        raise ConfigError([f"{path}: cannot read as user {getpass.getuser()}: "
                           f"{exc.strerror}"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{where}: {problem}"]) from None
    return data
