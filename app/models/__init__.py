"""Every table model, imported so SQLModel.metadata (and Alembic) sees them all."""

from app.models.api_key import ApiKey
from app.models.article import Article, ArticleEvent
from app.models.audit import AuditEntry
from app.models.console import ConsoleLoginTicket, ConsoleSession
from app.models.fact_counts import FactCount
from app.models.household_visit import HouseholdVisit
from app.models.idempotency import IdempotencyRecord
from app.models.indicator import Indicator, IndicatorEvent
from app.models.inspection import (
    Checklist,
    Inspection,
    InspectionResult,
    InspectionTeam,
    InspectionTeamMember,
)
from app.models.media import Media, MediaAttachment
from app.models.notification import JobRun, Message, SubscribeGrant, WeChatSend
from app.models.org import Org, OrgLevel
from app.models.pairing import Liaison, Pairing, PairingEvent
from app.models.people_counts import PeopleCount, WishQuotaClaim
from app.models.photo_reuse import PhotoPrint, PossibleReuse
from app.models.points import PointsAccount, PointsEntry, PointsRules, Redemption, ShopItem
from app.models.problem import Point, Problem, ProblemEvent
from app.models.publicity import ArticleColumn, Placement, PlacementEvent, PublicityWeight
from app.models.report import Report, ReportEvent
from app.models.report_in import (
    ReportIn,
)
from app.models.scoring import MonthlyReview, ScoringWeights
from app.models.service_order import ServiceItem, ServiceOrder, ServiceOrderEvent
from app.models.survey import Survey, SurveyAnswer, SurveyResponse
from app.models.task import (
    CheckIn,
    Task,
)
from app.models.team import Team, TeamMember
from app.models.user import Role, RoleGrant, User
from app.models.volunteer import Volunteer, VolunteerEvent
from app.models.volunteer_hours import VolunteerHour, VolunteerHourEvent
from app.models.wish import Wish, WishEvent

__all__ = [
    "ApiKey",
    "Article",
    "ArticleColumn",
    "ArticleEvent",
    "AuditEntry",
    "CheckIn",
    "Checklist",
    "ConsoleLoginTicket",
    "ConsoleSession",
    "FactCount",
    "HouseholdVisit",
    "IdempotencyRecord",
    "Indicator",
    "IndicatorEvent",
    "Inspection",
    "InspectionResult",
    "InspectionTeam",
    "InspectionTeamMember",
    "JobRun",
    "Liaison",
    "Media",
    "MediaAttachment",
    "Message",
    "MonthlyReview",
    "Org",
    "OrgLevel",
    "Pairing",
    "PairingEvent",
    "PeopleCount",
    "PhotoPrint",
    "Placement",
    "PlacementEvent",
    "Point",
    "PointsAccount",
    "PointsEntry",
    "PointsRules",
    "PossibleReuse",
    "Problem",
    "ProblemEvent",
    "PublicityWeight",
    "Redemption",
    "Report",
    "ReportEvent",
    "ReportIn",
    "Role",
    "RoleGrant",
    "ScoringWeights",
    "ServiceItem",
    "ServiceOrder",
    "ServiceOrderEvent",
    "ShopItem",
    "SubscribeGrant",
    "Survey",
    "SurveyAnswer",
    "SurveyResponse",
    "Task",
    "Team",
    "TeamMember",
    "User",
    "Volunteer",
    "VolunteerEvent",
    "VolunteerHour",
    "VolunteerHourEvent",
    "WeChatSend",
    "Wish",
    "WishEvent",
    "WishQuotaClaim",
]
