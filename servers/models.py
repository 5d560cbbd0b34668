"""The game servers left4me knows: where they answer, how they take a new build, and what they
said at the last poll."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from left4me.models import Host
from overlays.models import Overlay

PORT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(65535)]
DEFAULT_PORT = 27015
# What a running L4D2 server needs to pick up a changed addons/ (Valve Developer Community, "Add-on").
DEFAULT_APPLY_COMMANDS = "update_addon_paths\nmission_reload"


class GameServer(models.Model):
    """A Source server that runs an overlay's addons/. The RCON password is write-only: no
    page, form, log nor repr ever shows it."""

    class Policy(models.TextChoices):
        MANUAL = "manual", "manual: only when asked"
        WHEN_EMPTY = "when_empty", "when empty: once no player is on"
        ANNOUNCE = "announce", "announce: warn the players, then apply"
        NOW = "now", "now: apply at once"

    class State(models.TextChoices):
        UNKNOWN = "unknown", "unknown"
        UP = "up", "up"
        DOWN = "down", "down"

    name = models.CharField(max_length=100, unique=True)
    overlay = models.ForeignKey(Overlay, on_delete=models.CASCADE, related_name="servers")
    host = models.ForeignKey(
        Host,
        on_delete=models.PROTECT,
        related_name="servers",
        help_text="the machine it runs beside (its worker polls and applies); default: the overlay's",
    )
    address = models.CharField(max_length=255, help_text="host name or IP address, as the host reaches it")
    port = models.PositiveIntegerField(default=DEFAULT_PORT, validators=PORT_VALIDATORS)
    rcon_port = models.PositiveIntegerField(validators=PORT_VALIDATORS, help_text="default: the game port")
    rcon_password = models.CharField(max_length=200, blank=True)
    apply_policy = models.CharField(max_length=20, choices=Policy.choices, default=Policy.WHEN_EMPTY)
    apply_commands = models.TextField(
        default=DEFAULT_APPLY_COMMANDS, help_text="RCON commands an apply sends, one a line"
    )
    applied_build = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="the build job whose addons/ the server last applied"
    )
    apply_now = models.BooleanField(default=False, help_text="an apply was asked by hand: no waiting")
    apply_due_at = models.DateTimeField(null=True, blank=True, help_text="an announced apply runs then")
    # The last poll's answer (servers.status): pages read these, never the server.
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    map = models.CharField(max_length=100, blank=True)
    players = models.PositiveIntegerField(default=0, help_text="human players (bots not counted)")
    max_players = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        permissions = [("manage_servers", "register game servers and change every one")]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<GameServer {self.pk} {self.name!r} {self.address}:{self.port}>"

    @property
    def commands(self) -> list[str]:
        return [line.strip() for line in self.apply_commands.splitlines() if line.strip()]

    @property
    def pending_changes(self) -> int:
        """Items whose files changed in builds after the one it applied (all, before any)."""
        changes = AddonsChange.objects.filter(overlay_id=self.overlay_id)
        if self.applied_build is not None:
            changes = changes.filter(build__gt=self.applied_build)
        return int(changes.aggregate(total=models.Sum("items"))["total"] or 0)

    @property
    def status_text(self) -> str:
        """ "up · c2m1_highway · 3/8 players", "down · last seen 04:05", "unknown · not polled yet"."""
        if self.state == self.State.UP:
            return f"up · {self.map or 'no map'} · {self.players}/{self.max_players} players"
        if self.state == self.State.DOWN:
            seen = (
                timezone.localtime(self.last_seen_at).strftime("%Y-%m-%d %H:%M")
                if self.last_seen_at
                else "never"
            )
            return f"down · last seen {seen}"
        return "unknown · not polled yet"

    @property
    def build_text(self) -> str:
        """ "runs the addons of build 41; 5 items changed since", or what it still lacks."""
        pending = self.pending_changes
        changed = f"{pending} item{'' if pending == 1 else 's'} changed since"
        if self.applied_build is None:
            return f"no build applied yet; {changed}" if pending else "no build applied yet"
        text = f"runs the addons of build {self.applied_build}"
        return f"{text}; {changed}" if pending else f"{text}; up to date"

    @property
    def status_line(self) -> str:
        """What the overlay page and /servers/ say of it, from the stored answers only."""
        return f"{self.status_text} · {self.build_text}"


class AddonsChange(models.Model):
    """A build that changed an overlay's addons/ (links created, removed or replaced, or files
    downloaded anew): what a server that has not applied it yet is behind by."""

    overlay = models.ForeignKey(Overlay, on_delete=models.CASCADE, related_name="addons_changes")
    build = models.PositiveBigIntegerField(help_text="the build job")
    items = models.PositiveIntegerField(default=0, help_text="items whose file in addons/ changed")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["overlay", "build"]
        constraints = [models.UniqueConstraint(fields=["overlay", "build"], name="addons_change_unique")]

    def __str__(self) -> str:
        return f"{self.overlay}: build {self.build} changed {self.items} item(s)"
