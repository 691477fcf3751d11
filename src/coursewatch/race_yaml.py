"""The YAML dialect of race files: YAML 1.2's numbers, times left as text.

:class:`RaceYamlLoader` is a SafeLoader (no object tags) for :mod:`coursewatch.race`.
"""

from __future__ import annotations

import re

import yaml


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
