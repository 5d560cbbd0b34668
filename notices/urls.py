from django.urls import path

from notices import views

app_name = "notices"
urlpatterns = [
    path("", views.destination_list, name="list"),
    path("<int:pk>/test/", views.destination_test_view, name="test"),
    path("<int:pk>/delete/", views.destination_delete_view, name="delete"),
]
