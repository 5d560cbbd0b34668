"""Form fields the admin shares."""

from __future__ import annotations

from typing import Any

from django import forms

from left4me.units import SizeError, parse_bytes, typed_bytes


class SizeField(forms.CharField):
    """A size typed as people write it ("10 GiB", "500 MiB", "10 GB" or bytes), stored in bytes,
    shown back in the unit it was typed in when that reads back exactly."""

    def prepare_value(self, value: Any) -> Any:
        return typed_bytes(value) if isinstance(value, int) else value

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            return parse_bytes(text)
        except SizeError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None
