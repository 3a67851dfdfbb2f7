"""Moving data in and out: our JSON Lines, ORB's JSON storage files, store-to-store copy."""

from .copy import TargetNotEmpty, copy_store
from .exporter import export_store, iter_entities
from .importer import ImportRefused, ImportReport, Problem, import_file
from .orb import from_orb, to_orb
from .progress import Progress
from .records import entity_to_record, record_to_entity
from .sources import FORMATS, SourceError
from .writer import ImportConflict

__all__ = [
    "FORMATS",
    "ImportConflict",
    "ImportRefused",
    "ImportReport",
    "Problem",
    "Progress",
    "SourceError",
    "TargetNotEmpty",
    "copy_store",
    "entity_to_record",
    "export_store",
    "from_orb",
    "import_file",
    "iter_entities",
    "record_to_entity",
    "to_orb",
]
