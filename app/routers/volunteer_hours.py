from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute

# /volunteer-hours and /me/volunteer-hours/summary.
router = APIRouter(tags=["volunteer-hours"], route_class=AppRoute, responses=PROBLEM_RESPONSES)
