"""/metrics, included by name from the project's urls.py (the project package imports no app)."""

from django.urls import path

from fleet import views_metrics

urlpatterns = [path("", views_metrics.metrics, name="metrics")]
