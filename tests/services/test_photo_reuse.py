"""Reused photos: where the distance threshold comes from, and the band lookup finding
exactly the prints within it.

The threshold is measured on generated street-like scenes (blocks of colour, blurred
as a phone lens does), not on real phone photos: the same photo recompressed or
resized moves its pHash by at most 2 bits; the same street a minute later (the frame
shifted by a few percent, people and cars moved) by 8 or more. MAX_DISTANCE sits
between with room on both sides."""

import io
import random

import imagehash
import pytest
from PIL import Image, ImageDraw, ImageFilter

from app.models.photo_reuse import PhotoPrint
from app.services import photo_reuse
from tests.factories.media import make_media


def scene(seed: int, w: int = 1200, h: int = 900) -> Image.Image:
    rnd = random.Random(seed)
    img = Image.new("RGB", (w, h), (rnd.randint(100, 200),) * 3)
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x, y = rnd.randint(0, w), rnd.randint(0, h)
        box = [x, y, x + rnd.randint(30, 300), y + rnd.randint(30, 300)]
        draw.rectangle(box, fill=tuple(rnd.randint(0, 255) for _ in range(3)))
    return img.filter(ImageFilter.GaussianBlur(2))


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue()))


def a_minute_later(img: Image.Image, seed: int) -> Image.Image:
    rnd = random.Random(seed)
    w, h = img.size
    moved = img.crop((int(w * 0.06), int(h * 0.04), w, h)).resize((w, h))
    draw = ImageDraw.Draw(moved)
    for _ in range(8):
        x, y = rnd.randint(0, w), rnd.randint(0, h)
        draw.rectangle([x, y, x + 120, y + 240], fill=tuple(rnd.randint(0, 255) for _ in range(3)))
    return moved


def ph(img: Image.Image) -> str:
    return str(imagehash.phash(img))


@pytest.mark.parametrize("seed", range(6))
def test_a_recompressed_or_resized_photo_matches_and_a_later_shot_does_not(seed):
    original = scene(seed)
    h = ph(original)
    w, height = original.size
    for copy in (jpeg(original, 60), jpeg(original.resize((w // 2, height // 2)), 75)):
        assert photo_reuse.distance(h, ph(copy)) <= photo_reuse.MAX_DISTANCE
    later = ph(a_minute_later(original, seed + 1000))
    assert photo_reuse.distance(h, later) > photo_reuse.MAX_DISTANCE


def test_bands_cut_the_hash_in_five_and_put_it_back_together():
    h = "8f3a00ffc1e27b10"
    bands = photo_reuse.bands_of(h)
    assert len(bands) == 5 and bands[-1] < 1 << 12 and all(b < 1 << 13 for b in bands)
    shifts = [51, 38, 25, 12, 0]
    assert f"{sum(b << s for b, s in zip(bands, shifts, strict=True)):016x}" == h


async def test_the_lookup_finds_every_print_within_the_distance_and_no_other(db, world):
    rnd = random.Random(7)
    base = rnd.getrandbits(64)
    district = world["D"].id
    # Flips anywhere, up to MAX_DISTANCE + 2 bits.
    flips = {d: rnd.sample(range(64), d) for d in range(photo_reuse.MAX_DISTANCE + 3)}
    media = await make_media(db, world.user("member"))
    async with db.state.sessionmaker() as session, session.begin():
        for d, bits in flips.items():
            value = base
            for bit in bits:
                value ^= 1 << bit
            phash = f"{value:016x}"
            b = photo_reuse.bands_of(phash)
            session.add(
                PhotoPrint(
                    media_id=media.id,
                    record_type="report",
                    record_id=d + 1,
                    district_id=district,
                    phash=phash,
                    b0=b[0],
                    b1=b[1],
                    b2=b[2],
                    b3=b[3],
                    b4=b[4],
                )
            )
        await session.flush()
        found = await photo_reuse.matches(session, district_id=district, phash=f"{base:016x}")
        assert [d for _, _, d in found] == list(range(photo_reuse.MAX_DISTANCE + 1))
        elsewhere = await photo_reuse.matches(
            session, district_id=world["S1"].id, phash=f"{base:016x}"
        )
        assert elsewhere == []
