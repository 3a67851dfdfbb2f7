"""Template, request and machine repositories of a SQL unit of work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...derived import (
    DerivedMachineQueries,
    DerivedRequestQueries,
    DerivedTemplateQueries,
    status_changed,
)
from ...domain import (
    Machine,
    Request,
    Template,
)
from ...query import attributes_match, check_attributes, check_instance_ids
from .errors import translated
from .repository import SqlRepository
from .statements import KEY_CHUNK, chunks


class _StatusMixin(SqlRepository[Any]):
    @translated
    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        current = await self._view(key)
        if current is None:
            return False
        row = status_changed(self.entity, current.to_dict(), status, note_field, note)
        self._stage(key, row, current.version)
        return True


class SqlTemplateRepository(SqlRepository[Template], DerivedTemplateQueries):
    entity = Template

    @translated
    async def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        wanted = check_attributes(attributes)
        codec = self._codec
        statement = codec.select_all.where(codec.attributes_match(wanted)).order_by(codec.key)
        found: dict[str, Template] = {}
        for row in await self._db.fetch(statement):
            item = codec.entity_from_row(row)
            if item.key not in self._pending:
                found[item.key] = item
        for key, (_expected, staged) in self._pending.items():
            if staged is not None:
                found[key] = self._from_staged(staged)

        # Exact JSON equality here: SQLite's SQL only narrows, and staged rows were not filtered.
        return [
            found[key] for key in sorted(found) if attributes_match(found[key].attributes, wanted)
        ]


class SqlRequestRepository(_StatusMixin, SqlRepository[Request], DerivedRequestQueries):
    entity = Request


class SqlMachineRepository(_StatusMixin, SqlRepository[Machine], DerivedMachineQueries):
    entity = Machine

    @translated
    async def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        keys = list(dict.fromkeys(check_instance_ids(instance_ids)))
        codec = self._codec
        found: dict[str, Machine | None] = {}
        for key in keys:
            staged = self._pending.get(key)
            if staged is not None:
                found[key] = None if staged[1] is None else self._from_staged(staged[1])
        wanted = [key for key in keys if key not in found]
        for chunk in chunks(wanted, KEY_CHUNK):
            compiled, values = codec.fast.by_keys(chunk)
            for row in await self._db.run_fetch(compiled, values):
                item = codec.fast.entity(row)
                found[item.key] = item
        return [item for key in keys if (item := found.get(key)) is not None]
