from django.urls import path

from overlays import views

app_name = "overlays"
urlpatterns = [
    path("", views.overlay_list, name="list"),
]
