"""The servers app listens to overlays (which never imports it)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from overlays.models import Overlay
from overlays.signals import addons_changed
from servers import services


@receiver(addons_changed, dispatch_uid="servers.apply_after_build")
def apply_after_build(sender: Any, *, overlay: Overlay, build: int, items: int, **kwargs: Any) -> None:
    services.addons_changed(overlay=overlay, build=build, items=items)
