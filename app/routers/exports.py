from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute

# /exports/{dataset}.xlsx: the ledgers (台账).
router = APIRouter(tags=["exports"], route_class=AppRoute, responses=PROBLEM_RESPONSES)
