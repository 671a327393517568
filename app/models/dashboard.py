"""Dashboards and rankings: response shapes only (the numbers are computed, never stored).

The metrics are flat, so that every numeric one is also a `sort=` key of the
ranking under the same name. What each one counts is written down in
app/services/dashboard.py.
"""

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.org import OrgLevel


class DashboardMetrics(SQLModel):
    members: int = Field(description="花名册人数：所属社区或单位在该组织（含下级）内")
    party_members: int = Field(description="其中的党员")
    party_members_reported: int = Field(description="其中本月已报到的党员（报到到任一社区）")
    report_in_rate: float | None = Field(
        description="报到率 = party_members_reported / party_members；无党员时为 null"
    )
    report_ins: int = Field(
        description="本月向该组织（含下级）内社区的报到次数，与 GET /report-ins 的 total 一致"
    )
    check_ins: int = Field(description="本月签到次数：该组织（含下级）发布的任务")
    approved_volunteer_minutes: int = Field(
        description="本月开始、已审核通过、记在该组织（含下级）名下的志愿时长（分钟）"
    )
    wishes_pending_review: int = Field(description="心愿（此刻状态）：待审核")
    wishes_open: int = Field(description="待认领")
    wishes_claimed: int = Field(description="已认领")
    wishes_fulfilled: int = Field(description="已完成待确认")
    wishes_confirmed: int = Field(description="已确认")
    wishes_rejected: int = Field(description="已驳回")
    wishes_cancelled: int = Field(description="已取消")
    wishes_overdue: int = Field(description="已过最后期限仍待认领或已认领")
    wish_quota_claimed: int = Field(description="所选月份当年已认领心愿（未放弃）的党员")
    wish_quota_owing: int = Field(description="所选月份当年尚未认领心愿的党员")
    problems_open: int = Field(description="问题（此刻状态）：待整改")
    problems_rectified: int = Field(description="已整改待复核")
    problems_closed: int = Field(description="已销号")
    problems_overdue: int = Field(description="待整改或待复核且已过期限")
    problems_escalated_street: int = Field(description="逾期，已升级到街道")
    problems_escalated_district: int = Field(description="逾期更久，已升级到区")
    problems_found: int = Field(description="本月发现（提交）的问题")
    problems_found_closed: int = Field(description="本月发现的问题中此刻已销号的")
    rectification_rate: float | None = Field(
        description="整改率 = problems_found_closed / problems_found；本月无问题时为 null"
    )
    articles_submitted: int = Field(description="本月首次提交审核的稿件（投稿）")
    articles_published: int = Field(description="本月发布的稿件（用稿）")
    inspections: int = Field(description="本月巡查次数（点位属该组织及下级）")
    points_inspected: int = Field(description="本月巡查过的点位")
    points_meeting_standard: int = Field(description="最近一次巡查全部达标的点位（此刻）")
    points: int = Field(description="点位总数：该组织（含下级）本月底前已设立的点位")
    points_passed: int = Field(description="本月最后一次巡查全部达标的点位")
    points_pass_rate: float | None = Field(
        description="点位达标率 = points_passed / points（本月未巡查的点位算未达标）；"
        "无点位时为 null"
    )
    reports_received: int = Field(description="本月收到的随手拍")
    reports_accepted: int = Field(description="本月收到的随手拍中此刻已受理（转为问题）的")
    articles_submitted_quarter: int = Field(description="本月所在季度首次提交审核的稿件（投稿）")
    articles_published_quarter: int = Field(description="本月所在季度发布的稿件（用稿）")
    placements_quarter: int = Field(description="本月所在季度刊发、已认定的上稿")
    placements_pending: int = Field(description="待宣传部门认定的上稿（此刻）")
    volunteers: int = Field(description="审核通过的志愿者（此刻）：登记社区在该组织（含下级）内")
    volunteers_per_1000: float | None = Field(
        description="每千名常住人口的志愿者数；该组织未填写 population 时为 null"
    )
    volunteers_active: int = Field(description="本月有已审核志愿时长的志愿者")
    teams: int = Field(description="志愿服务队（所属组织在该组织及下级）")
    service_orders_submitted: int = Field(description="服务订单（此刻状态）：待受理")
    service_orders_accepted: int = Field(description="已受理")
    service_orders_dispatched: int = Field(description="已派单")
    service_orders_taken: int = Field(description="已接单")
    service_orders_completed: int = Field(description="已完成")
    service_orders_rated: int = Field(description="已评价")
    service_orders_rejected: int = Field(description="已驳回")
    service_orders_cancelled: int = Field(description="已取消")
    service_order_hours_to_take: float | None = Field(
        description="本月提交并已接单的订单，从提交到接单的小时数中位数；无则为 null"
    )
    service_orders_on_time_rate: float | None = Field(
        description="本月提交、设了希望时间且已完成的订单中按时完成的比例；无则为 null"
    )
    service_order_rating: float | None = Field(description="本月提交的订单的平均评分；无则为 null")
    credits_issued: int = Field(
        description="本月发放的积分（规则发放与奖励，减去撤销）：由该组织（含下级）发放"
    )
    credits_spent: int = Field(description="本月在该组织（含下级）积分超市兑换的积分（减去退回）")
    credits_outstanding: int = Field(
        description="此刻未花的积分：该组织（含下级）累计发放减去其超市累计收取（全区即居民余额之和）"
    )
    redemptions: int = Field(description="本月在该组织（含下级）积分超市的兑换预约")
    redemptions_collected: int = Field(description="其中此刻已取货的")
    surveys_open: int = Field(description="此刻正在作答期内的问卷和测试（由该组织及下级发起）")
    survey_responses: int = Field(description="本月提交的答卷：答卷人现住社区在该组织内")
    survey_respondents: int = Field(
        description="本月作答期内面向该组织人员的问卷（由该组织、其上级或下级发起）"
        "收到的答卷：答卷人现住社区或单位在该组织内（含月后提交的）"
    )
    survey_audience: int = Field(
        description="这些问卷面向的人数之和：每份问卷按其覆盖的那部分组织的花名册人数计"
    )
    survey_response_rate: float | None = Field(
        description="问卷参与率 = survey_respondents / survey_audience；本月无问卷时为 null"
    )
    household_visits: int = Field(description="本月入户调查的户数")
    household_communities_visited: int = Field(description="本月有入户调查的社区")
    household_coverage: float | None = Field(
        description="入户覆盖率 = household_communities_visited / 该组织（含下级）的社区数；"
        "无社区时为 null"
    )
    household_awareness_rate: float | None = Field(
        description="本月入户调查的知晓率；无入户时为 null"
    )
    household_satisfaction_rate: float | None = Field(
        description="本月入户调查的满意率（4、5 分的占比）；无入户时为 null"
    )
    indicators: int = Field(description="申报指标总数（此刻）")
    indicators_accepted: int = Field(description="其中已通过审核的")
    indicators_overdue: int = Field(description="其中已过截止日期仍未通过的")
    # issues 18, 21 (r2s4-units): pairings, residents' reports' time to accept
    pairings_active: int = Field(
        description="进行中的结对共建（社区及以上：其社区的结对；单位：本单位的结对）（此刻）"
    )
    pairing_report_ins: int = Field(
        description="本月结对单位党员向结对社区的报到（按进行中的结对，同 GET /stats/pairings）"
    )
    report_hours_to_accept: float | None = Field(
        description="本月收到并已受理的随手拍，从上报到受理的小时数中位数；无则为 null"
    )
    report_hours_to_accept_avg: float | None = Field(description="同上，平均小时数；无则为 null")
    report_hours_to_handle: float | None = Field(
        description="本月收到并已处理（受理或不受理）的随手拍，从上报到处理的小时数中位数"
    )
    # issues 19, 21 (r2s4-figures): what the issues list that was not yet here
    service_orders_overdue: int = Field(
        description="此刻逾期的服务订单：提交后 2 个工作日未受理，或过了希望完成时间仍未完成"
        "（同 GET /service-orders 的 overdue）"
    )
    service_order_minutes: int = Field(
        description="本月服务订单计入的志愿时长（分钟）：为已完成订单记入、此刻仍审核通过的时长"
        "（撤销的不计），即各服务队的时长"
    )
    reports_rejected: int = Field(description="本月收到的随手拍中此刻已不予受理的")
    liaison_visits: int = Field(
        description="本月巡查中包联领导（或包联单位的成员）所做的：点位属该组织（含下级），"
        "巡查人当天包联该点位所属组织或其上级（同 GET /stats/inspections 的 liaison_visits）"
    )


class DashboardSort(StrEnum):
    """The ranking's `sort=` keys: every numeric field of DashboardMetrics, and the
    composite score of the ranking's rows (`score`)."""

    members = "members"
    party_members = "party_members"
    party_members_reported = "party_members_reported"
    report_in_rate = "report_in_rate"
    report_ins = "report_ins"
    check_ins = "check_ins"
    approved_volunteer_minutes = "approved_volunteer_minutes"
    wishes_pending_review = "wishes_pending_review"
    wishes_open = "wishes_open"
    wishes_claimed = "wishes_claimed"
    wishes_fulfilled = "wishes_fulfilled"
    wishes_confirmed = "wishes_confirmed"
    wishes_rejected = "wishes_rejected"
    wishes_cancelled = "wishes_cancelled"
    wishes_overdue = "wishes_overdue"
    wish_quota_claimed = "wish_quota_claimed"
    wish_quota_owing = "wish_quota_owing"
    problems_open = "problems_open"
    problems_rectified = "problems_rectified"
    problems_closed = "problems_closed"
    problems_overdue = "problems_overdue"
    problems_escalated_street = "problems_escalated_street"
    problems_escalated_district = "problems_escalated_district"
    problems_found = "problems_found"
    problems_found_closed = "problems_found_closed"
    rectification_rate = "rectification_rate"
    articles_submitted = "articles_submitted"
    articles_published = "articles_published"
    inspections = "inspections"
    points_inspected = "points_inspected"
    points_meeting_standard = "points_meeting_standard"
    points = "points"
    points_passed = "points_passed"
    points_pass_rate = "points_pass_rate"
    reports_received = "reports_received"
    reports_accepted = "reports_accepted"
    articles_submitted_quarter = "articles_submitted_quarter"
    articles_published_quarter = "articles_published_quarter"
    placements_quarter = "placements_quarter"
    placements_pending = "placements_pending"
    volunteers = "volunteers"
    volunteers_per_1000 = "volunteers_per_1000"
    volunteers_active = "volunteers_active"
    teams = "teams"
    service_orders_submitted = "service_orders_submitted"
    service_orders_accepted = "service_orders_accepted"
    service_orders_dispatched = "service_orders_dispatched"
    service_orders_taken = "service_orders_taken"
    service_orders_completed = "service_orders_completed"
    service_orders_rated = "service_orders_rated"
    service_orders_rejected = "service_orders_rejected"
    service_orders_cancelled = "service_orders_cancelled"
    service_order_hours_to_take = "service_order_hours_to_take"
    service_orders_on_time_rate = "service_orders_on_time_rate"
    service_order_rating = "service_order_rating"
    credits_issued = "credits_issued"
    credits_spent = "credits_spent"
    credits_outstanding = "credits_outstanding"
    redemptions = "redemptions"
    redemptions_collected = "redemptions_collected"
    surveys_open = "surveys_open"
    survey_responses = "survey_responses"
    survey_respondents = "survey_respondents"
    survey_audience = "survey_audience"
    survey_response_rate = "survey_response_rate"
    household_visits = "household_visits"
    household_communities_visited = "household_communities_visited"
    household_coverage = "household_coverage"
    household_awareness_rate = "household_awareness_rate"
    household_satisfaction_rate = "household_satisfaction_rate"
    indicators = "indicators"
    indicators_accepted = "indicators_accepted"
    indicators_overdue = "indicators_overdue"
    # issues 18, 21 (r2s4-units)
    pairings_active = "pairings_active"
    pairing_report_ins = "pairing_report_ins"
    report_hours_to_accept = "report_hours_to_accept"
    report_hours_to_accept_avg = "report_hours_to_accept_avg"
    report_hours_to_handle = "report_hours_to_handle"
    # issues 19, 21 (r2s4-figures)
    service_orders_overdue = "service_orders_overdue"
    service_order_minutes = "service_order_minutes"
    reports_rejected = "reports_rejected"
    liaison_visits = "liaison_visits"
    score = "score"


class SortOrder(StrEnum):
    desc = "desc"
    asc = "asc"


class DashboardOrg(DashboardMetrics):
    org_id: int
    org_name: str
    org_level: OrgLevel


class Dashboard(DashboardOrg):
    month: str = Field(description="YYYY-MM（北京时间）；按月统计的指标所属月份")
    as_of: datetime = Field(description="“此刻状态”类指标（心愿、问题）的统计时刻")


class DashboardRankingItem(DashboardOrg):
    rank: int = Field(
        description="名次：指标相同者名次相同（1, 2, 2, 4）；无值者排在最后。单位只与单位排名"
    )
    score: float | None = Field(
        default=None,
        description="综合评分 0–100（区设定的权重，见 GET /stats/scores）；未设定权重为 null",
    )


class DashboardRanking(SQLModel):
    org_id: int
    org_name: str
    month: str
    as_of: datetime
    sort: DashboardSort
    order: SortOrder
    items: list[DashboardRankingItem] = Field(
        description="每个直属下级组织一项（含其全部下级），按 sort 排序，同值按名称；"
        "街道、社区在前，单位在后，各自排名"
    )
