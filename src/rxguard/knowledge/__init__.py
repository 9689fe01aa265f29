"""Knowledge packs: schema, strict loader and name resolution. No evaluation, no database."""

from rxguard.knowledge import monograph as _monograph  # noqa: F401  registers monograph.yaml
from rxguard.knowledge import program as _program  # noqa: F401  registers program.yaml
from rxguard.knowledge.loader import Pack, get_pack, load_all, load_pack

__all__ = ["Pack", "get_pack", "load_all", "load_pack"]
