from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute

# /dashboard and /dashboard/children.
router = APIRouter(tags=["dashboard"], route_class=AppRoute, responses=PROBLEM_RESPONSES)
