from django.urls import path

from overlays import views, views_contents

app_name = "overlays"
urlpatterns = [
    path("", views.overlay_list, name="list"),
    path("<int:pk>/", views.overlay_detail, name="detail"),
    path("<int:pk>/status/", views.overlay_status, name="status"),
    path("<int:pk>/items/", views.overlay_items_add, name="items_add"),
    path("<int:pk>/items/remove/", views.overlay_items_remove, name="items_remove"),
    path("<int:pk>/items/pin/", views.overlay_items_pin, name="items_pin"),
    path("<int:pk>/items/unpin/", views.overlay_items_unpin, name="items_unpin"),
    path("<int:pk>/items/include/", views.overlay_items_include, name="items_include"),
    path("<int:pk>/items/rollback/", views.overlay_items_rollback, name="items_rollback"),
    path("<int:pk>/items/<str:steam_id>/delete/", views.overlay_item_delete, name="item_delete"),
    path("<int:pk>/items/<str:steam_id>/include/", views.overlay_item_include, name="item_include"),
    path("<int:pk>/items/<str:steam_id>/history/", views.overlay_item_history, name="item_history"),
    path("<int:pk>/items/<str:steam_id>/skip/", views.overlay_item_skip, name="item_skip"),
    path(
        "<int:pk>/collections/<str:steam_id>/unfollow/",
        views.overlay_collection_unfollow,
        name="collection_unfollow",
    ),
    path("<int:pk>/refresh/", views.overlay_refresh, name="refresh"),
    path("<int:pk>/build/", views.overlay_build, name="build"),
    path("<int:pk>/retry-failed/", views.overlay_retry_failed, name="retry_failed"),
    path("<int:pk>/maps.txt", views_contents.overlay_maps_txt, name="maps_txt"),
    path("<int:pk>/families/", views_contents.overlay_families, name="families"),
    path("<int:pk>/delete/", views.overlay_remove, name="delete"),
    path("<int:pk>/move/", views.overlay_move, name="move"),
    path("<int:pk>/share/", views.overlay_share, name="share"),
    path("<int:pk>/share/revoke/", views.overlay_share_revoke, name="share_revoke"),
]
