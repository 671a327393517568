"""Every table model, imported so SQLModel.metadata (and Alembic) sees them all."""

from app.models.api_key import ApiKey
from app.models.article import Article, ArticleEvent
from app.models.audit import AuditEntry
from app.models.console import ConsoleLoginTicket, ConsoleSession
from app.models.fact_counts import FactCount
from app.models.hours import VolunteerHour
from app.models.idempotency import IdempotencyRecord
from app.models.media import Media, MediaAttachment
from app.models.notification import JobRun, Message, SubscribeGrant, WeChatSend
from app.models.org import Org, OrgLevel
from app.models.people_counts import PeopleCount, WishQuotaClaim
from app.models.problem import Point, Problem, ProblemEvent
from app.models.task import CheckIn, ReportIn, Task
from app.models.user import Role, RoleGrant, User
from app.models.wish import Wish, WishEvent

__all__ = [
    "ApiKey",
    "Article",
    "ArticleEvent",
    "AuditEntry",
    "CheckIn",
    "ConsoleLoginTicket",
    "ConsoleSession",
    "FactCount",
    "IdempotencyRecord",
    "JobRun",
    "Media",
    "MediaAttachment",
    "Message",
    "Org",
    "OrgLevel",
    "PeopleCount",
    "Point",
    "Problem",
    "ProblemEvent",
    "ReportIn",
    "Role",
    "RoleGrant",
    "SubscribeGrant",
    "Task",
    "User",
    "VolunteerHour",
    "WeChatSend",
    "Wish",
    "WishEvent",
    "WishQuotaClaim",
]
