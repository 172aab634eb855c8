"""A pydantic validation error, said the way a person editing config.toml needs it: what the
key expected and what it got, and for an unknown key the closest known one.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel


def describe(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


EXPECTED = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
}


def known_keys(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed where `loc` (an unknown key's place) is: its table's fields."""
    model: Any = root
    parts = list(loc[:-1])
    while parts:
        field = model.model_fields.get(parts.pop(0))
        if field is None:
            return []
        kind = field.annotation
        args = [a for a in get_args(kind) if a is not type(None)]
        if get_origin(kind) is dict and parts:  # [topics.SLUG], [digests.NAME]
            parts.pop(0)
            kind = args[-1]
        elif args and get_origin(kind) is not dict:  # smtp: SMTPConfig | None
            kind = args[0]
        if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            return []
        model = kind
    return [name for name in model.model_fields if name != "source"]


def problem(root: type[BaseModel], error: Mapping[str, Any]) -> str:
    """What is wrong with one key, in words for the person editing the file."""
    kind = error["type"]
    if kind == "extra_forbidden":
        loc = tuple(error["loc"])
        close = difflib.get_close_matches(str(loc[-1]), known_keys(root, loc), n=1, cutoff=0.6)
        return f"unknown key; did you mean {close[0]}?" if close else "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in EXPECTED:
        return f"{EXPECTED[kind]}, got {describe(error.get('input'))}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}, got {describe(error.get('input'))}"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return f"{message[0].lower()}{message[1:]}, got {describe(error.get('input'))}"
    return message
