from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute

# /points, /problems and the weekly bulletin.
router = APIRouter(tags=["supervision"], route_class=AppRoute, responses=PROBLEM_RESPONSES)
