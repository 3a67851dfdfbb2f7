"""Host Factory attributes for a template ORB wrote without any.

ORB computes Symphony's ``attributes`` when it answers getAvailableTemplates: ``type`` from the
architecture, ``ncpus`` / ``nram`` (MiB) from the instance type, and for a type it does not know
the values of a t2.micro (1 vCPU, 1024 MiB). We do the same with a size/family rule instead of
a fixed table, so every current EC2 type gets sensible values:
- vCPUs from the size (``large`` = 2, ``xlarge`` = 4, ``Nxlarge`` = 4N, ``medium`` = 2 …);
- memory per vCPU from the family letter (c 2 GiB, m 4, r 8, x 16, t as burstable sizes);
- ``ARM64`` for Graviton families (a ``g`` after the generation digit: m6g, c7gn, t4g).
"""

from __future__ import annotations

import re
from typing import Any

_SIZE_VCPUS = {"nano": 2, "micro": 2, "small": 2, "medium": 2, "large": 2, "xlarge": 4}
_T_MEMORY_MIB = {"nano": 512, "micro": 1024, "small": 2048, "medium": 4096, "large": 8192}
_GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8, "x": 16, "z": 8, "i": 8, "d": 8, "g": 4, "p": 8}
_TYPE = re.compile(r"^(?P<family>[a-z]+)(?P<gen>\d+)(?P<opts>[a-z-]*)\.(?P<size>[a-z0-9]+)$")
_FALLBACK = ("1", "1024")


def instance_type_of(orb_template: dict[str, Any]) -> str | None:
    """The template's first instance type: ``instance_type``, else the first of machine_types."""
    single = orb_template.get("instance_type")
    if isinstance(single, str) and single:
        return single
    types = orb_template.get("machine_types")
    if isinstance(types, dict) and types:
        first = next(iter(types))
        return first if isinstance(first, str) else None
    return None


def _specs(instance_type: str | None) -> tuple[str, str, str]:
    match = _TYPE.match(instance_type or "")
    if match is None:
        return ("X86_64", *_FALLBACK)
    family, opts, size = match["family"], match["opts"], match["size"]
    arch = "ARM64" if opts.startswith("g") or family == "a" else "X86_64"
    if size in _SIZE_VCPUS:
        vcpus = _SIZE_VCPUS[size]
    elif size.endswith("xlarge") and size[:-6].isdigit():
        vcpus = 4 * int(size[:-6])
    else:  # "metal" and other sizes without a fixed vCPU count
        return (arch, *_FALLBACK)
    if family == "t":
        memory = _T_MEMORY_MIB.get(size, vcpus * 4096)
    else:
        memory = vcpus * 1024 * _GIB_PER_VCPU.get(family[0], 4)
    return arch, str(vcpus), str(memory)


def derive_attributes(orb_template: dict[str, Any]) -> dict[str, Any]:
    arch, ncpus, nram = _specs(instance_type_of(orb_template))
    return {
        "type": ["String", arch],
        "ncpus": ["Numeric", ncpus],
        "nram": ["Numeric", nram],
    }
