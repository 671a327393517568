"""The perceptual hash an upload stores (app/services/media.perceptual_hash) is taken
from a reduced copy for speed; it must stay the hash the full-size pixels give, or the
photos stored before would stop matching their copies (photo_reuse.MAX_DISTANCE)."""

import io

import imagehash
import pytest
from PIL import Image, ImageOps

from app.services import media, photo_reuse


def phone_photo(w: int, h: int, orientation: int | None = None) -> Image.Image:
    """A picture with structure at phone size, decoded from a JPEG as an upload is.
    Off-centre: a symmetric picture's low frequencies sit at their median, where any
    rounding flips the hash's bits (no hash is stable there, full size or not)."""
    img = Image.effect_mandelbrot((w, h), (-0.9, 0.05, -0.3, 0.5), 120).convert("RGB")
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(out, "JPEG", quality=90, exif=exif.tobytes())
    decoded = Image.open(io.BytesIO(out.getvalue()))
    decoded.load()
    return decoded


def full_size_hash(img: Image.Image) -> str:
    """How every photo was hashed before: grey, upright, then imagehash at full size."""
    grey = img.convert("L")
    ImageOps.exif_transpose(grey, in_place=True)
    return str(imagehash.phash(grey))


@pytest.mark.parametrize("orientation", [None, 6, 3])
def test_a_large_photo_hashes_as_it_did_at_full_size(orientation):
    img = phone_photo(2016, 1512, orientation)
    assert photo_reuse.distance(media.perceptual_hash(img), full_size_hash(img)) <= 2


def test_the_hash_is_taken_of_the_upright_picture():
    upright = media.perceptual_hash(phone_photo(1600, 1200))
    turned = media.perceptual_hash(phone_photo(1600, 1200, orientation=6))
    # Orientation 6 stores the pixels a quarter turn off: the hash must see that turn.
    assert upright != turned
    assert media.perceptual_hash(phone_photo(1600, 1200, orientation=1)) == upright


def test_a_small_photo_is_hashed_as_it_is():
    img = phone_photo(320, 240)
    assert media.perceptual_hash(img) == full_size_hash(img)
