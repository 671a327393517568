"""The dashboard as a web page: the short-lived link a secretary opens on a PC."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.common import Month, StrictInput
from app.models.user import MAX_ID


class DashboardViewLinkCreate(StrictInput):
    org_id: int = Field(ge=1, le=MAX_ID, description="该组织（含全部下级）的工作台")
    month: Month | None = Field(default=None, description="YYYY-MM，默认打开时的本月（北京时间）")


class DashboardViewLink(SQLModel):
    url: str = Field(description="在电脑浏览器中打开的完整地址（含一次性签名）")
    path: str = Field(description="同一地址的路径部分，供反向代理后自行拼接域名")
    expires_at: datetime = Field(description="链接失效时刻；之后打开或刷新需重新生成")
    expires_in: int = Field(description="距失效的秒数")
