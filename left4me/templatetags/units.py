"""The size and count filters every page uses (settings.TEMPLATES makes them built in):
``{{ item.file_size|bytes }}`` -> "8.0 MiB"; ``{{ n|counted:"overlay" }}`` -> "1 overlay",
``{{ n|counted:"entry,entries" }}`` for a noun that does not add an s."""

from __future__ import annotations

from django import template

from left4me.units import counted as _counted
from left4me.units import human_bytes

register = template.Library()


@register.filter(name="bytes")
def bytes_filter(count: int | None) -> str:
    return human_bytes(int(count or 0))


@register.filter
def counted(n: int | None, nouns: str) -> str:
    noun, _, plural = nouns.partition(",")
    return _counted(int(n or 0), noun, plural)
