"""Bulk roster import from the spreadsheet every office already keeps.

Bad rows are reported by their row number in the file and never stop good ones:
each row is written in its own savepoint.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.errors import AppError, PayloadTooLarge, Unprocessable
from app.core.scope import Caller, org_ids_in
from app.core.security import PiiCipher, normalize_phone
from app.core.text import plain_text
from app.models.org import Org, OrgLevel
from app.models.user import ADMIN_ROLES, ImportResult, ImportRowError, User
from app.services import audit
from app.services.people_counts import lock_roster
from app.services.users import set_phone, users_in_reach

HEADER_ALIASES = {
    "name": {"name", "姓名", "名字"},
    "phone": {"phone", "手机号", "手机号码", "手机", "联系电话", "电话"},
    "community": {"community", "社区", "所属社区", "社区/村", "村/社区"},
    "unit": {"unit", "单位", "工作单位", "所在单位"},
    "is_party_member": {"is_party_member", "是否党员", "党员", "政治面貌"},
}
REQUIRED = ("name", "phone", "community")
TRUE_WORDS = {"1", "true", "yes", "y", "是", "党员", "中共党员", "预备党员", "√"}
FALSE_WORDS = {"", "0", "false", "no", "n", "否", "群众", "非党员", "团员", "共青团员", "×"}


@dataclass
class Row:
    number: int
    values: dict[str, str]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # Excel stores phone numbers typed as numbers as floats.
        value = int(value)
    return str(value).strip()


def _rows_from_table(table: list[list[object]], max_rows: int) -> list[Row]:
    if not table:
        raise Unprocessable("invalid_import_file", "文件是空的")
    header = [_cell(h).lower() for h in table[0]]
    columns: dict[str, int] = {}
    for field, aliases in HEADER_ALIASES.items():
        for i, h in enumerate(header):
            if h in aliases:
                columns[field] = i
                break
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise Unprocessable(
            "invalid_import_file",
            "缺少必需的列："
            + "、".join(missing)
            + "（可用中文表头：姓名、手机号、社区、单位、是否党员）",
        )
    data = table[1:]
    if len(data) > max_rows:
        raise PayloadTooLarge("too_many_rows", f"一次最多导入 {max_rows} 行，请拆分文件")
    rows = []
    for offset, raw in enumerate(data):
        values = {f: _cell(raw[i]) if i < len(raw) else "" for f, i in columns.items()}
        if any(values.values()):
            rows.append(Row(number=offset + 2, values=values))
    return rows


def parse_table(filename: str, content: bytes, max_rows: int) -> list[Row]:
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return _rows_from_table(_read_xlsx(content, max_rows), max_rows)
    if filename.lower().endswith(".csv") or not filename:
        return _rows_from_table(_read_csv(content), max_rows)
    raise Unprocessable("invalid_import_file", "只支持 .xlsx 或 .csv 文件")


# A roster at the row limit unpacks to a few MiB; a file unpacking to far more is
# a zip bomb, whose parts openpyxl would hold in memory (the shared strings whole).
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
# Wider than any roster. A sheet's rows are read no wider, whatever dimensions the
# sheet claims (XFD1048576 would pad every row read to 16,384 cells).
MAX_COLUMNS = 64


def _read_xlsx(content: bytes, max_rows: int) -> list[list[object]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            # zipfile reads no part past its declared size (a lie fails its CRC).
            unpacked = sum(part.file_size for part in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise Unprocessable("invalid_import_file", "该 Excel 文件解压后过大，不像是花名册")
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            sheet = wb.worksheets[0]
            sheet.reset_dimensions()
            table: list[list[object]] = []
            # One row beyond the limit is enough to know the file is too long.
            for row in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
                table.append(list(row))
                if len(table) > max_rows + 1:
                    break
            return table
        finally:
            wb.close()
    except AppError:
        raise
    except Exception as exc:
        # A corrupt file fails inside zipfile, zlib, the XML parser or openpyxl, while
        # opening or row by row, in more ways than any list would name (BadZipFile,
        # zlib.error, EOFError, ParseError, KeyError, IndexError, TypeError, ...):
        # each of them is the file's fault, none ours.
        raise Unprocessable("invalid_import_file", "无法读取该 Excel 文件，文件可能已损坏") from exc


def _read_csv(content: bytes) -> list[list[object]]:
    # Excel on Chinese Windows saves CSV as GBK; everything else writes UTF-8.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Unprocessable("invalid_import_file", "无法识别 CSV 文件的编码")
    try:
        return [list(r) for r in csv.reader(io.StringIO(text))]
    except csv.Error as exc:
        raise Unprocessable("invalid_import_file", "CSV 文件格式有误") from exc


def _party_flag(value: str) -> bool:
    v = value.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise ValueError(f"“是否党员”应填 是/否，而不是“{value}”")


class _OrgIndex:
    """Communities in the admin's reach and units of the same districts, by id and name."""

    def __init__(self, communities: list[Org], units: list[Org]):
        self.communities = {o.id: o for o in communities}
        self.units = {o.id: o for o in units}
        self.community_names: dict[str, list[Org]] = defaultdict(list)
        self.unit_names: dict[str, list[Org]] = defaultdict(list)
        for o in communities:
            self.community_names[o.name].append(o)
        for o in units:
            self.unit_names[o.name].append(o)

    @staticmethod
    def _find(
        value: str, by_id: dict[int | None, Org], by_name: dict[str, list[Org]], what: str
    ) -> Org:
        if value.isdigit() and int(value) in by_id:
            return by_id[int(value)]
        matches = by_name.get(value, [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ValueError(f"{what}“{value}”有重名，请改填编号")
        raise ValueError(f"{what}“{value}”不存在或不在您的管理范围内")

    def community(self, value: str) -> Org:
        return self._find(value, self.communities, self.community_names, "社区")

    def unit(self, value: str, community: Org) -> Org:
        unit = self._find(value, self.units, self.unit_names, "单位")
        if unit.path.split("/")[1] != community.path.split("/")[1]:
            raise ValueError(f"单位“{value}”不属于该社区所在的区")
        return unit


async def _org_index(session: AsyncSession, caller: Caller) -> _OrgIndex:
    paths = caller.paths(ADMIN_ROLES)
    communities = list(
        (
            await session.execute(
                select(Org).where(org_ids_in(paths), Org.level == OrgLevel.community)
            )
        ).scalars()
    )
    district_prefixes = sorted({"/" + p.split("/")[1] + "/" for p in paths})
    units = list(
        (
            await session.execute(
                select(Org).where(org_ids_in(district_prefixes), Org.level == OrgLevel.unit)
            )
        ).scalars()
    )
    return _OrgIndex(communities, units)


async def _entries_in_reach(
    session: AsyncSession, cipher: PiiCipher, rows: list[Row], visible: ColumnElement[bool]
) -> dict[str, list[User]]:
    """The caller's roster entries the file's phones already belong to, by phone hash,
    in a few queries, not one a row. Entries outside their reach are not looked at:
    a row whose phone stands only there adds an entry of the caller's own, as
    POST /users does, and the answer reveals nothing about other rosters."""
    hashes = []
    for row in rows:
        try:
            hashes.append(cipher.lookup_hash(normalize_phone(row.values["phone"])))
        except AppError:
            continue
    by_hash: dict[str, list[User]] = defaultdict(list)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        found = await session.execute(
            select(User).where(col(User.phone_hash).in_(chunk), visible).order_by(col(User.id))
        )
        for user in found.scalars():
            assert user.phone_hash is not None
            by_hash[user.phone_hash].append(user)
    return by_hash


async def import_roster(
    session: AsyncSession,
    *,
    caller: Caller,
    cipher: PiiCipher,
    filename: str,
    content: bytes,
    max_rows: int,
) -> ImportResult:
    rows = await anyio.to_thread.run_sync(parse_table, filename, content, max_rows)
    await lock_roster(session)
    index = await _org_index(session, caller)
    visible = users_in_reach(caller)
    created = updated = 0
    errors: list[ImportRowError] = []
    seen_phones: dict[str, int] = {}
    in_reach_by_hash = await _entries_in_reach(session, cipher, rows, visible)

    for row in rows:
        v = row.values
        try:
            for value in v.values():
                plain_text(value)
            name = v["name"]
            if not name or len(name) > 50:
                raise ValueError("姓名不能为空，且不超过 50 个字")
            try:
                phone = normalize_phone(v["phone"])
            except AppError as exc:
                raise ValueError(exc.detail) from exc
            if phone in seen_phones:
                raise ValueError(f"手机号与第 {seen_phones[phone]} 行重复")
            community = index.community(v["community"])
            unit = index.unit(v["unit"], community) if v.get("unit") else None
            party = _party_flag(v.get("is_party_member", ""))
        except ValueError as exc:
            errors.append(ImportRowError(row=row.number, message=str(exc)))
            continue
        seen_phones[phone] = row.number

        matches = in_reach_by_hash.get(cipher.lookup_hash(phone), [])
        if len(matches) > 1:
            errors.append(
                ImportRowError(
                    row=row.number,
                    message="该手机号在您管理范围内有多条登记，请在花名册中逐条修改",
                )
            )
            continue
        existing = matches[0] if matches else None
        if existing is not None:
            existing.name = name
            existing.community_id = community.id
            existing.unit_id = unit.id if unit else None
            existing.is_party_member = party
            target = existing
        else:
            target = User(
                name=name,
                community_id=community.id,
                unit_id=unit.id if unit else None,
                is_party_member=party,
            )
            set_phone(target, cipher, phone)
        try:
            async with session.begin_nested():
                session.add(target)
                await session.flush()
        except IntegrityError:
            errors.append(ImportRowError(row=row.number, message="该行与已有登记冲突，未能保存"))
            continue
        if existing is not None:
            updated += 1
        else:
            created += 1

    await audit.record(
        session,
        caller=caller,
        action="roster.import",
        target_type="import",
        target_id=None,
        org_id=next((g.org_id for g in caller.grants if g.role in ADMIN_ROLES), None),
        created=created,
        updated=updated,
        rejected_rows=len(errors),
    )
    return ImportResult(created=created, updated=updated, errors=errors)
