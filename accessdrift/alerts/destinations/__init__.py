"""Where alerts go: every destination type of the routing file's ``type:``.

Every module of this package but ``base`` is one type and declares ``DESTINATION``
(a ``DestinationType``, ``base.py``): its settings (the routing file's keys it reads), its
renderers (alerts -> a payload, a health notice -> a payload), its post and its checks.
The package finds them itself, so a new destination is one new module (with its golden
payloads in tests/fixtures/alerts/), not an entry in a list.
"""

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, cast

from pydantic import create_model, model_validator

from accessdrift.alerts.destinations.base import Destination, DestinationType

# Modules of this package that hold no destination type.
HELPERS = frozenset({"base"})


def discover() -> Mapping[str, DestinationType]:
    """Every module's ``DESTINATION`` by name, in their listing ``order``."""
    found = []
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name in HELPERS:
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        declared = getattr(module, "DESTINATION", None)
        if not isinstance(declared, DestinationType):
            # A misspelt DESTINATION would otherwise be a type the routing file refuses.
            raise TypeError(
                f"{module.__name__} declares no DESTINATION; a module without one belongs "
                "in HELPERS"
            )
        if declared.name != module_info.name:
            raise TypeError(f"{module.__name__} declares the type {declared.name!r}: name it so")
        found.append(declared)
    listed = sorted(found, key=lambda kind: (kind.order, kind.name))
    return MappingProxyType({kind.name: kind for kind in listed})


def destination_model(kinds: Iterable[DestinationType]) -> type[Destination]:
    """One model of a destination with every type's keys, its ``type`` one of theirs.

    A key of another type is accepted here, checked as its own type checks it (a
    variable's name, a file's folder), and refused by that type's ``check_elsewhere`` at
    start: the routing file reads as one flat mapping per destination, its errors as they
    always were. Each type reads its own keys through ``base.settings_of``.
    """
    kinds = tuple(kinds)
    own: dict[str, str] = {}
    for kind in kinds:
        for key in set(kind.settings.model_fields) - set(Destination.model_fields):
            if own.setdefault(key, kind.name) != kind.name:
                raise TypeError(f"the key {key!r} is declared by {own[key]} and {kind.name}")
    bases = tuple(dict.fromkeys(k.settings for k in kinds if k.settings is not Destination))
    names = tuple(kind.name for kind in kinds)
    by_name = {kind.name: kind for kind in kinds}

    def with_its_default_url(destination: Destination) -> Destination:
        destination._default_url = by_name[destination.type].default_url(destination)
        return destination

    # Built at run time from the types found: pydantic's create_model, which mypy cannot
    # follow (a Literal of the names, a validator given as a value).
    accepted: Any = Literal[names]
    validator: Any = model_validator(mode="after")(with_its_default_url)
    model = create_model(
        "Destination",
        __base__=bases or (Destination,),
        __module__=__name__,
        __validators__={"_its_default_url": validator},
        type=(accepted, ...),
    )
    return cast(type[Destination], model)


DESTINATIONS = discover()
DESTINATION_MODEL = destination_model(DESTINATIONS.values())


def destination_of(keys: Mapping[str, Any], **context: Any) -> Destination:
    """A destination from its keys, as the routing file gives them (``context``:
    ``secrets_dirs``, the folders its files may be in)."""
    return DESTINATION_MODEL.model_validate(keys, context=context)
