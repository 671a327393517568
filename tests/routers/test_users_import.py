"""POST /users/import with files that are not what they claim: every way a spreadsheet
can be corrupt is a 422 `invalid_import_file`, never a 500, and a file built to
exhaust memory is refused or read within bounds. (The import's rules for good files
are in tests/routers/test_users.py.)"""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from collections.abc import Callable

import pytest
from openpyxl import Workbook

from app.services.roster_import import MAX_UNPACKED_BYTES

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

SHEET = "xl/worksheets/sheet1.xml"


def roster(rows: int = 1) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "手机号", "社区"])
    for i in range(rows):
        ws.append([f"王{i}", f"139{i:08d}", "东关社区"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rezip(content: bytes, change: Callable[[str, bytes], bytes | None]) -> bytes:
    """The same zip with each part replaced by `change(name, data)` (None: left out)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(content)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for name in source.namelist():
            data = change(name, source.read(name))
            if data is not None:
                target.writestr(name, data)
    return out.getvalue()


def part(name: str, data: bytes | None) -> Callable[[str, bytes], bytes | None]:
    return lambda n, d: data if n == name else d


STRINGS = "xl/sharedStrings.xml"
STRINGS_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def with_shared_strings(content: bytes, strings: bytes) -> bytes:
    """`content` with a shared strings part, as Excel writes (openpyxl writes inline)."""
    override = b'<Override PartName="/%s" ContentType="%s"/>' % (STRINGS.encode(), STRINGS_TYPE)

    def change(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", override + b"</Types>")
        return data

    out = io.BytesIO(rezip(content, change))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr(STRINGS, strings)
    return out.getvalue()


def one_file_zip(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return out.getvalue()


def flipped_deflate(content: bytes) -> bytes:
    """The sheet's compressed bytes scrambled: its CRC or inflating fails."""
    info = zipfile.ZipFile(io.BytesIO(content)).getinfo(SHEET)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    broken = bytearray(content)
    for i in range(start + 2, start + min(info.compress_size, 40)):
        broken[i] ^= 0x5A
    return bytes(broken)


CORRUPT: dict[str, Callable[[], bytes]] = {
    "not a zip at all": lambda: b"this is not a spreadsheet",
    "a zip cut short": lambda: roster(50)[: len(roster(50)) // 2],
    "sheet XML cut short": lambda: rezip(roster(), part(SHEET, b"<worksheet><sheetData><row")),
    "sheet XML that is not XML": lambda: rezip(roster(), part(SHEET, b"\x00\x01 garbage")),
    "a zip of something else": lambda: one_file_zip("hello.txt", b"hello"),
    "a workbook without its sheet": lambda: rezip(roster(), part(SHEET, None)),
    "a shared string that is not there": lambda: rezip(
        roster(),
        part(
            SHEET,
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<sheetData><row r="1"><c r="A1" t="s"><v>9999</v></c></row></sheetData>'
            b"</worksheet>",
        ),
    ),
    "shared strings that are not XML": lambda: with_shared_strings(roster(), b"<sst><si><t>"),
    "a scrambled compressed sheet": lambda: flipped_deflate(roster(200)),
}


async def upload(client, world, name: str, content: bytes):
    return await client.post(
        "/users/import", files={"file": (name, content)}, headers=world.headers("street_admin")
    )


@pytest.mark.parametrize("how", CORRUPT, ids=list(CORRUPT))
async def test_a_corrupt_spreadsheet_is_422_invalid_import_file_not_500(client, world, how):
    resp = await upload(client, world, "花名册.xlsx", CORRUPT[how]())
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "invalid_import_file"
    listed = await client.get(
        "/users", headers=world.headers("street_admin"), params={"name": "王"}
    )
    assert listed.json()["total"] == 0


async def test_a_spreadsheet_unpacking_to_more_than_a_roster_could_is_refused_unread(client, world):
    # A few hundred KiB that inflate past the limit, in the part openpyxl reads whole.
    strings = b"<sst><si><t>" + b"a" * (MAX_UNPACKED_BYTES + 1) + b"</t></si></sst>"
    bomb = with_shared_strings(roster(), strings)
    assert len(bomb) < 1024 * 1024
    resp = await upload(client, world, "花名册.xlsx", bomb)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "invalid_import_file"


async def test_a_sheet_claiming_the_largest_dimensions_is_read_only_as_wide_as_a_roster(
    client, world
):
    rows = 800
    content = rezip(
        roster(rows),
        lambda n, d: (
            d.replace(b'<dimension ref="A1:C', b'<dimension ref="A1:XFD') if n == SHEET else d
        ),
    )
    assert b"XFD" in zipfile.ZipFile(io.BytesIO(content)).read(SHEET)
    tracemalloc.start()
    try:
        resp = await upload(client, world, "花名册.xlsx", content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status_code == 200, resp.text
    assert resp.json()["created"] == rows
    # Rows padded to the claimed 16,384 columns would hold 800 x 16,384 cells (100 MiB
    # of references alone).
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("bad", ["\x0b", "\x01", "\x1f"], ids=repr)
async def test_a_control_character_in_an_imported_row_is_that_rows_error(client, world, bad):
    csv = f"姓名,手机号,社区\n王{bad}一,13900000001,东关社区\n王二,13900000002,东关社区\n"
    resp = await upload(client, world, "r.csv", csv.encode())
    assert resp.status_code == 200, resp.text
    assert resp.json()["created"] == 1
    assert resp.json()["errors"] == [{"row": 2, "message": "不能含有控制字符（换行和制表符除外）"}]
