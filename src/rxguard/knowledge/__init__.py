"""Knowledge packs: schema, strict loader and name resolution. No evaluation, no database."""

from rxguard.knowledge.loader import Pack, get_pack, load_all, load_pack

__all__ = ["Pack", "get_pack", "load_all", "load_pack"]
