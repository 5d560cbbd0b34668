"""/storage/: the workshop cache, for operators (overlays.view_storage). Its own URLconf so the
project's urls.py includes it by name (the project package imports no app)."""

from django.urls import path

from overlays import views

app_name = "storage"
urlpatterns = [
    path("", views.storage, name="index"),
    path("collect/", views.storage_collect, name="collect"),
]
