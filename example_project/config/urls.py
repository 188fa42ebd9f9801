from django.contrib import admin
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import GraphQLView

from wallet.schema import schema

urlpatterns = [
    path("admin/", admin.site.urls),
    # csrf_exempt keeps the demo curl-friendly. A real app with session login keeps CSRF
    # on (GraphiQL sends the token) or authenticates with a header (JWT, see GET_USER).
    path("graphql/", csrf_exempt(GraphQLView.as_view(schema=schema))),
]
