"""Make two ORB runs comparable: cloud and request ids, IP addresses, times and temporary paths
become stable placeholders; everything else is kept exactly (a time stays distinguishable
from ``null``, but its value is not compared: the interop tests check values round-trip).

One id mapping serves a whole run, so ``req-#1`` in an output is ``req-#1`` in the stored data
too, and a record that points at the wrong id still shows up. The ids that matter are named
first in an order that does not depend on storage (the network as created, instances in EC2's
launch order, requests by creation time); the rest are numbered on first sight.

Order is ignored only where ORB itself gives none: id lists (``machine_ids`` comes out of a set
in ORB: two runs on ORB's own JSON storage differ there) and the machines / requests lists of
an output (insertion order on JSON, key order on a database; Host Factory matches by id).
"""

from __future__ import annotations

import json
import re
from typing import Any

# req-/ret- carry uuid4s; EC2 ids carry 8 or 17 hex digits; fleets carry uuids.
ID_RE = re.compile(
    r"\b(req|ret|i|r|subnet|sg|vpc|fleet|sfr|lt|eni-attach|eni|vol)-[0-9a-f]{8}(?:[0-9a-f-]{9,28})?\b"
)
IP_RE = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
UNORDERED_KEYS = {"machine_ids", "instance_ids", "resource_ids", "machines", "requests"}
# Integer fields that carry a clock reading or a duration.
CLOCK_KEYS = {"launchtime", "launchTime", "execution_time_ms", "duration_ms"}
# Values the EC2 simulator makes up at random (not ORB): DNS names embed the random private
# IP, network interfaces get random MAC addresses.
DNS_RE = re.compile(r"\bip-\d+-\d+-\d+-\d+\.[a-z0-9.-]+\b")
MAC_RE = re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b")


class Normaliser:
    def __init__(self, paths: dict[str, str] | None = None) -> None:
        self.ids: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        # Longest first, so a path inside another is replaced as a whole.
        self.paths = sorted((paths or {}).items(), key=lambda item: -len(item[0]))

    def name(self, raw: str) -> str:
        """The placeholder of one id, allocating the next number on first sight."""
        if raw not in self.ids:
            prefix = raw.split("-", 1)[0]
            self._counts[prefix] = self._counts.get(prefix, 0) + 1
            self.ids[raw] = f"{prefix}-#{self._counts[prefix]}"
        return self.ids[raw]

    def text(self, value: str) -> str:
        for path, placeholder in self.paths:
            value = value.replace(path, placeholder)
        value = TIME_RE.sub("<time>", value)
        value = DNS_RE.sub("<dns>", value)
        value = MAC_RE.sub("<mac>", value)
        value = ID_RE.sub(lambda match: self.name(match.group(0)), value)
        return IP_RE.sub("<ip>", value)

    def value(self, data: Any, key: str | None = None) -> Any:
        if isinstance(data, dict):
            return {self.text(k): self.value(v, k) for k, v in data.items()}
        if isinstance(data, list):
            items = [self.value(item) for item in data]
            if key in UNORDERED_KEYS:
                items.sort(key=lambda item: json.dumps(item, sort_keys=True))
            return items
        if isinstance(data, str):
            return self.text(data)
        if key in CLOCK_KEYS and isinstance(data, int | float) and not isinstance(data, bool):
            return "<clock>"
        return data


def differences(left: Any, right: Any, path: str = "$") -> list[str]:
    """Every path where two normalised documents differ, with both values (short), so a
    failing comparison says what differs instead of printing two huge dicts."""
    if isinstance(left, dict) and isinstance(right, dict):
        found: list[str] = []
        for key in sorted(set(left) | set(right), key=str):
            if key not in left or key not in right:
                side = "left" if key in left else "right"
                found.append(f"{path}.{key}: only {side}")
            else:
                found += differences(left[key], right[key], f"{path}.{key}")
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [
            d
            for i, (a, b) in enumerate(zip(left, right, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    if left != right or type(left) is not type(right):
        return [f"{path}: {left!r:.200} != {right!r:.200}"]
    return []
