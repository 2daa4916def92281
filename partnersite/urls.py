from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from partners.api import api

# Admin modules load with the URLs, not at start-up, so management commands start fast.
admin.autodiscover()

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("v1/", api.urls),
]
