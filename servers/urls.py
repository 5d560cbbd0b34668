from django.urls import path

from servers import views

app_name = "servers"
urlpatterns = [
    path("", views.server_list, name="list"),
    path("new/", views.server_new, name="new"),
    path("<int:pk>/", views.server_detail, name="detail"),
    path("<int:pk>/delete/", views.server_remove, name="delete"),
    path("<int:pk>/apply/", views.server_apply, name="apply"),
    path("<int:pk>/status/", views.server_status_json, name="status"),
]
