"""The image folder of tests/fixtures/images (for test_encoder's folder case and test_embed): images in
every form resa_embed must take (RGB, grayscale, RGBA, 16-bit, 1x1, JPEG with an upper-case extension,
in a subfolder) and two it must skip (a corrupt PNG, a text file)."""
import os

import numpy as np
from PIL import Image

out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "images")
os.makedirs(os.path.join(out, "sub"), exist_ok=True)
rng = np.random.default_rng(0)
Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8), "RGB").save(os.path.join(out, "rgb.png"))
Image.fromarray(rng.integers(0, 256, (17, 13), dtype=np.uint8), "L").save(os.path.join(out, "gray.png"))
Image.fromarray(rng.integers(0, 256, (15, 15, 4), dtype=np.uint8), "RGBA").save(os.path.join(out, "sub", "rgba.png"))
Image.fromarray(np.array([[[200, 30, 90]]], dtype=np.uint8), "RGB").save(os.path.join(out, "tiny_1x1.png"))
Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8), "RGB").save(os.path.join(out, "sub", "photo.JPG"),
                                                                               quality=90)
Image.fromarray(rng.integers(0, 65536, (12, 10), dtype=np.uint16), "I;16").save(os.path.join(out, "gray16.png"))
with open(os.path.join(out, "corrupt.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
with open(os.path.join(out, "sub", "notes.txt"), "w") as f:
    f.write("not an image\n")
