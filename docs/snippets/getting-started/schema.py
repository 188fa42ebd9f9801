# mysite/schema.py
import strawberry
from strawberry_activity import ActivityTrackingExtension
from strawberry_activity.schema import ActivityQuery


@strawberry.type
class Query(ActivityQuery):  # adds the staff-only `activeUsers` field
    @strawberry.field
    def hello(self) -> str:
        return "world"


@strawberry.type
class Mutation:
    @strawberry.mutation
    def send_message(self, text: str) -> str:
        return text  # any mutation by a logged-in user is activity


schema = strawberry.Schema(query=Query, mutation=Mutation,
                           extensions=[ActivityTrackingExtension])
