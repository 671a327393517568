from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute

# /wishes and /stats/wish-quota.
router = APIRouter(tags=["wishes"], route_class=AppRoute, responses=PROBLEM_RESPONSES)
