from django.urls import path

from overlays import views_players

app_name = "players"
urlpatterns = [
    path("<str:token>/", views_players.players_page, name="page"),
    path("<str:token>/addons.json", views_players.players_addons_json, name="addons_json"),
]
