from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute

router = APIRouter(tags=["messages"], route_class=AppRoute, responses=PROBLEM_RESPONSES)
