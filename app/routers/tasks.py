from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute

# /tasks, /tasks/{id}/check-ins, /tasks/{id}/check-out and /report-ins.
router = APIRouter(tags=["tasks"], route_class=AppRoute, responses=PROBLEM_RESPONSES)
