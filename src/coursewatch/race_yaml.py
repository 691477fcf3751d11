"""The syntax of race files: TOML, or YAML in a dialect with YAML 1.2's numbers and times left
as text; what it means is :mod:`coursewatch.race`'s.

:class:`RaceYamlLoader` is a SafeLoader (no object tags).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from coursewatch.errors import RaceFileError


class RaceYamlLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 base-60 numbers and implicit timestamps.

    Plain YAML reads an unquoted cut-off ``10:30`` as the integer 630 but ``08:30`` as a string;
    here both stay strings, and times are parsed by this module with one set of rules.
    """


_DROPPED_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}
RaceYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RaceYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)
RaceYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$"
    ),
    list("-+0123456789."),
)


def parse_text(text: str, path: Path) -> object:
    """A race file's text as data: TOML or YAML by ``path``'s suffix, else whichever reads."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return _parse_toml(text, path)
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(text, path)
    try:  # unknown extension: TOML is the stricter syntax, so try it first
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return _parse_yaml(text, path)


def _parse_toml(text: str, path: Path) -> object:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RaceFileError(f"invalid TOML ({exc}): fix the syntax", path) from None


def _parse_yaml(text: str, path: Path) -> object:
    try:
        return yaml.load(text, Loader=RaceYamlLoader)  # a SafeLoader subclass: no object tags
    except yaml.YAMLError as exc:
        raise RaceFileError(f"invalid YAML ({exc}): fix the syntax", path) from None
