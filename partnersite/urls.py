from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

# Admin modules load with the URLs, not at start-up, so management commands start fast.
admin.autodiscover()

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
