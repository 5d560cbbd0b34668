from __future__ import annotations

from django.urls import path

from api import views
from api.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("account/tokens/", views.token_list, name="api_tokens"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke_view, name="api_token_revoke"),
]
