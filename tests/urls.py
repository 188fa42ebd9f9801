from django.contrib import admin
from django.urls import path
from strawberry.django.views import AsyncGraphQLView, GraphQLView

from tests.testapp.schema import plain_schema, schema

urlpatterns = [
    path("admin/", admin.site.urls),
    path("graphql/", GraphQLView.as_view(schema=schema)),
    path("graphql-async/", AsyncGraphQLView.as_view(schema=schema)),
    path("graphql-plain/", GraphQLView.as_view(schema=plain_schema)),
]
