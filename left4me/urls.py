from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from left4me import views

urlpatterns = [
    path("", views.home, name="home"),
    path(views.HEALTHZ_PATH.lstrip("/"), views.healthz, name="healthz"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(template_name="registration/password_change.html"),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_changed.html"),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("overlays/", include("overlays.urls")),
    path("jobs/", include("jobs.urls")),
    path("storage/", include("fleet.urls")),
    path("servers/", include("servers.urls")),
    path("p/", include("overlays.urls_players")),
    path("metrics", include("fleet.urls_metrics")),
    path("account/notifications/", include("notices.urls")),
    path("", include("api.urls")),
]
