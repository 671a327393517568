"""Reused photos: where the distance threshold comes from, the band lookup finding
exactly the prints within it, and the fine check telling copies from retakes.

The threshold is measured on generated street-like scenes (blocks of colour, blurred
as a phone lens does; real photographs: benchmarks/photo_reuse.py --real-photos):
the same photo recompressed or resized moves its pHash by at most 2 bits; the same
street a minute later (the frame shifted by a few percent, people and cars moved) by
8 or more. A retake with the frame only 1 % off can stay within MAX_DISTANCE; the
fine prints (48 x 48 grey, compared by correlation) tell it from a copy."""

import io
import random

import imagehash
import pytest
from PIL import Image, ImageDraw, ImageFilter

from app.models.photo_reuse import PhotoPrint
from app.services import photo_reuse
from app.services.media import process_image
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


def as_uploaded(img: Image.Image) -> tuple[str, bytes]:
    """The hash and the fine print an upload of `img` stores."""
    out = io.BytesIO()
    img.convert("RGB").save(out, "PNG")
    processed = process_image(out.getvalue(), max_pixels=10**8, thumbnail_px=64)
    assert processed.fine_print is not None
    return processed.phash, processed.fine_print


def retaken(img: Image.Image, shift: float) -> tuple[Image.Image, Image.Image]:
    """Two frames of one scene from the same spot, the second panned by `shift` of
    the width (and half that down): a phone held again a minute later, carefully."""
    w, h = img.size
    cw, ch = int(w * 0.9), int(h * 0.9)
    dx, dy = int(w * shift), int(h * shift / 2)
    return img.crop((0, 0, cw, ch)), img.crop((dx, dy, dx + cw, dy + ch))


def chat_app_copy(img: Image.Image) -> Image.Image:
    """Scaled to 1080 px on the long edge and saved at quality 75, as chat apps send."""
    f = 1080 / max(img.size)
    return jpeg(img.resize((round(img.width * f), round(img.height * f))), 75)


def is_match(a: tuple[str, bytes], b: tuple[str, bytes]) -> bool:
    return (
        photo_reuse.distance(a[0], b[0]) <= photo_reuse.MAX_DISTANCE
        and photo_reuse.fine_difference(a[1], b[1]) <= photo_reuse.FINE_LIMIT
    )


# Scenes whose 1 % retake the 64-bit hash alone cannot tell from a copy.
@pytest.mark.parametrize("seed", [0, 2, 5])
def test_a_retake_one_percent_off_passes_the_hash_but_not_the_fine_check(seed):
    first, later = retaken(scene(seed, 1600, 1200), 0.01)
    original = as_uploaded(first)
    for copy in (jpeg(first, 40), chat_app_copy(first), first.resize((720, 540))):
        assert is_match(original, as_uploaded(copy))
    shot = as_uploaded(later)
    assert photo_reuse.distance(original[0], shot[0]) <= photo_reuse.MAX_DISTANCE
    assert photo_reuse.fine_difference(original[1], shot[1]) > photo_reuse.FINE_LIMIT
    assert not is_match(original, shot)


def test_the_fine_check_ignores_brightness_and_cannot_judge_a_flat_picture():
    grey = scene(3).convert("L")
    a = photo_reuse.fine_print(grey)
    brighter = photo_reuse.fine_print(grey.point(lambda v: min(255, v + 20)))
    assert photo_reuse.fine_difference(a, brighter) < 0.001
    assert len(a) == photo_reuse.FINE_EDGE**2
    flat = photo_reuse.fine_print(Image.new("L", (300, 200), 128))
    assert photo_reuse.fine_difference(a, flat) == 0.0


async def test_a_copy_marks_the_record_and_a_retake_from_the_same_spot_does_not(db, world):
    """Through the lookup on the database: a chat-app copy of a report's photo on a
    later report marks it; a visit's photo of the same spot 1 % off does not, though
    its hash is within MAX_DISTANCE; a photo stored before fine prints were kept is
    judged by the hash alone."""
    first, later = retaken(scene(0, 1600, 1200), 0.01)
    member, district = world.user("member"), world["D"].id
    photos = {}
    for name, img in (("first", first), ("copy", chat_app_copy(first)), ("later", later)):
        phash, fine = as_uploaded(img)
        photos[name] = await make_media(db, member, phash=phash, fine_print=fine)
    old = await make_media(db, member, phash=photos["first"].phash)  # no fine print
    assert (
        photo_reuse.distance(photos["first"].phash, photos["later"].phash)
        <= photo_reuse.MAX_DISTANCE
    )
    async with db.state.sessionmaker() as session, session.begin():
        for record_type, record_id, media in (
            ("report", 1, photos["first"]),
            ("inspection", 2, photos["later"]),
            ("report", 3, photos["copy"]),
            ("report", 4, old),
        ):
            await photo_reuse.fingerprint(
                session,
                media=[media],
                record_type=record_type,
                record_id=record_id,
                district_id=district,
            )
        reports = await photo_reuse.reuses_of(session, "report", [1, 3, 4])
        visits = await photo_reuse.reuses_of(session, "inspection", [2])
    assert visits == {}
    assert [(r.record_type, r.record_id) for r in reports[3]] == [("report", 1)]
    assert 1 not in reports
    # The old photo has no fine print: every print within the hash's distance counts.
    assert {(r.record_type, r.record_id) for r in reports[4]} == {
        ("report", 1),
        ("report", 3),
        ("inspection", 2),
    }
