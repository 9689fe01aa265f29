"""Interface strings in English and Simplified Chinese, kept as data (``i18n/en.yaml``, ``zh.yaml``).

Both files hold the same keys (a test checks it); a key missing from one
language shows the English text rather than the raw key, so a page never
shows ``dashboard.title`` to a nurse. Nothing is translated by a machine at
run time: what a Chinese-speaking clinician reads was written by a person.

Program messages (the reasons a check gives) come from the program layer in
English; the interface translates the check's name and the decision, and
shows the reason as the program wrote it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from markupsafe import Markup, escape

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
_FOLDER = Path(__file__).parent / "i18n"


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


class _StrictLoader(yaml.BaseLoader):  # type: ignore[misc]
    """Every value stays a string (``no`` is the word, not False) and a repeated key is an error."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_scalar(key_node)
        if key in out:
            raise ValueError(f"{node.start_mark.name}: key {key!r} appears twice (line {key_node.start_mark.line + 1})")
        out[str(key)] = loader.construct_object(value_node, deep=True)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


@functools.cache
def strings(lang: Language) -> dict[str, str]:
    """Every string of one language, keyed ``section.name``."""
    with (_FOLDER / f"{lang}.yaml").open(encoding="utf-8") as handle:
        return _flatten(yaml.load(handle, Loader=_StrictLoader) or {})


def translator(lang: Language) -> Callable[..., str]:
    """``t(key, **values)``: the string in ``lang`` (English if missing), with ``{values}`` filled in.

    A value that is already markup (text a person typed, marked by the ``as_typed`` macro) is kept as
    markup, and the sentence then comes back as markup with every other value escaped.
    """
    own, english = strings(lang), strings("en")

    def t(key: str, default: str | None = None, **values: Any) -> str:
        text = own.get(key) or english.get(key)
        if text is None:
            return default if default is not None else key
        if any(isinstance(value, Markup) for value in values.values()):
            return Markup(escape(text)).format(**values)
        return text.format(**values) if values else text

    return t


def has(lang: Language, key: str) -> bool:
    return key in strings(lang)


def pick_language(cookie: str | None, accept_language: str | None) -> Language:
    """The language chosen with the switch, else the browser's first preference we have."""
    if cookie in LANGUAGES:
        return "zh" if cookie == "zh" else "en"
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"
