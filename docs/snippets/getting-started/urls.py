# mysite/urls.py
from django.contrib import admin
from django.urls import path
from django.views.decorators.csrf import ensure_csrf_cookie
from strawberry.django.views import GraphQLView

from mysite.schema import schema

urlpatterns = [
    path("admin/", admin.site.urls),
    # CSRF: a GET (the GraphiQL page) sets the csrftoken cookie; POSTs send it back
    # in the X-CSRFToken header (GraphiQL does it for you).
    path("graphql/", ensure_csrf_cookie(GraphQLView.as_view(schema=schema))),
]
