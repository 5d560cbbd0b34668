"""/storage/: the workshop caches of the fleet, for operators (overlays.view_storage). Included
by name from the project's urls.py (the project package imports no app)."""

from django.urls import path

from fleet import views

app_name = "storage"
urlpatterns = [
    path("", views.storage, name="index"),
    path("collect/", views.storage_collect, name="collect"),
]
