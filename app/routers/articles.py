from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute

# /articles and /stats/articles.
router = APIRouter(tags=["articles"], route_class=AppRoute, responses=PROBLEM_RESPONSES)
