from __future__ import annotations

from django.contrib import admin

from servers.models import AddonsChange, GameServer


@admin.register(GameServer)
class GameServerAdmin(admin.ModelAdmin[GameServer]):
    """Lists servers with the line the pages show; the password is never shown (nor exported)."""

    list_display = ["name", "overlay", "host", "address", "port", "apply_policy", "status_line"]
    list_filter = ["apply_policy", "state", "host"]
    search_fields = ["name", "address", "overlay__name"]
    exclude = ["rcon_password"]
    readonly_fields = ["state", "map", "players", "max_players", "latency_ms", "last_seen_at", "polled_at"]

    @admin.display(description="status")
    def status_line(self, server: GameServer) -> str:
        return server.status_line


@admin.register(AddonsChange)
class AddonsChangeAdmin(admin.ModelAdmin[AddonsChange]):
    list_display = ["overlay", "build", "items", "at"]
    list_filter = ["overlay"]
