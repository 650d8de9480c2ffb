"""Reference values for resa/data/augment.cpp from torchvision.transforms.functional (tensor path).

Each op runs on a small uint8 image (3, 13, 11) twice: as float32 = uint8 / 255 (what the C++ float pipeline
computes, compared tightly) and as uint8 (torchvision rounds or truncates after the op; compared within one
level). Resize uses antialias=False (the tensor path's torch.nn.functional.interpolate); the float bicubic
reference is clamped to [0, 1] as the C++ code and uint8/PIL outputs are.

Run: /usr/bin/python3 tests/scripts/gen_augment.py
"""
import torch
import torchvision
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from fixture_io import save

torch.manual_seed(0)
x = torch.randint(0, 256, (3, 13, 11), dtype=torch.uint8)
# A few special pixels: gray (max == min), pure colours, a tie between max channels, extremes.
x[:, 0, 0] = torch.tensor([128, 128, 128], dtype=torch.uint8)
x[:, 0, 1] = torch.tensor([255, 0, 0], dtype=torch.uint8)
x[:, 0, 2] = torch.tensor([0, 255, 0], dtype=torch.uint8)
x[:, 0, 3] = torch.tensor([0, 0, 255], dtype=torch.uint8)
x[:, 0, 4] = torch.tensor([200, 200, 10], dtype=torch.uint8)
x[:, 0, 5] = torch.tensor([0, 0, 0], dtype=torch.uint8)
x[:, 0, 6] = torch.tensor([255, 255, 255], dtype=torch.uint8)
x[:, 0, 7] = torch.tensor([10, 200, 200], dtype=torch.uint8)
xf = x.float() / 255

# ---- resized crop: (name, top, left, height, width, out_h, out_w, interpolation)
cases = [
    ("bilinear_up", 2, 1, 9, 7, 16, 12, InterpolationMode.BILINEAR),
    ("bicubic_up", 2, 1, 9, 7, 16, 12, InterpolationMode.BICUBIC),
    ("bilinear_odd", 0, 3, 13, 5, 7, 9, InterpolationMode.BILINEAR),
    ("bicubic_odd", 0, 3, 13, 5, 7, 9, InterpolationMode.BICUBIC),
    ("bilinear_down", 0, 0, 13, 11, 8, 6, InterpolationMode.BILINEAR),
    ("bicubic_down", 0, 0, 13, 11, 8, 6, InterpolationMode.BICUBIC),
]
t = {"x": x}
meta = {"torchvision": torchvision.__version__, "resize": []}
for name, top, left, h, w, oh, ow, mode in cases:
    f = TF.resized_crop(xf, top, left, h, w, [oh, ow], interpolation=mode, antialias=False)
    if mode == InterpolationMode.BICUBIC:
        f = f.clamp(0, 1)
    u = TF.resized_crop(x, top, left, h, w, [oh, ow], interpolation=mode, antialias=False)
    t[name + "_f"] = f
    t[name + "_u8"] = u
    meta["resize"].append({"name": name, "box": [top, left, h, w], "out": [oh, ow],
                           "interp": "bicubic" if mode == InterpolationMode.BICUBIC else "bilinear"})
save("augment_resize", t, meta)

# ---- colour and geometry ops: (name, function)
ops = [
    ("hflip", lambda im: TF.hflip(im)),
    ("brightness_1.3", lambda im: TF.adjust_brightness(im, 1.3)),
    ("brightness_0.6", lambda im: TF.adjust_brightness(im, 0.6)),
    ("contrast_1.35", lambda im: TF.adjust_contrast(im, 1.35)),
    ("contrast_0.62", lambda im: TF.adjust_contrast(im, 0.62)),
    ("saturation_1.2", lambda im: TF.adjust_saturation(im, 1.2)),
    ("saturation_0.0", lambda im: TF.adjust_saturation(im, 0.0)),
    ("saturation_0.8", lambda im: TF.adjust_saturation(im, 0.8)),
    ("hue_0.1", lambda im: TF.adjust_hue(im, 0.1)),
    ("hue_-0.07", lambda im: TF.adjust_hue(im, -0.07)),
    ("hue_0.5", lambda im: TF.adjust_hue(im, 0.5)),
    ("gray", lambda im: TF.rgb_to_grayscale(im, num_output_channels=3)),
    ("solarize", lambda im: TF.solarize(im, 128 if im.dtype == torch.uint8 else 128 / 255)),
    ("blur_3_0.7", lambda im: TF.gaussian_blur(im, [3, 3], [0.7, 0.7])),
    ("blur_5_1.5", lambda im: TF.gaussian_blur(im, [5, 5], [1.5, 1.5])),
]
t = {"x": x}
for name, fn in ops:
    t[name + "_f"] = fn(xf)
    t[name + "_u8"] = fn(x)
mean, std = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]
t["normalize_f"] = TF.normalize(xf, mean, std)
save("augment_color", t, {"torchvision": torchvision.__version__, "ops": [n for n, _ in ops] + ["normalize"],
                          "mean": mean, "std": std})

# ---- RandomResizedCrop.get_params: distribution of the crop area fraction, from torchvision itself
from torchvision.transforms import RandomResizedCrop

stats = {}
for hh, ww in [(32, 32), (20, 40)]:
    img = torch.zeros(3, hh, ww)
    fr, ar, fallback = [], [], 0
    n = 20000
    for _ in range(n):
        i, j, h, w = RandomResizedCrop.get_params(img, [0.2, 1.0], [3 / 4, 4 / 3])
        fr.append(h * w / (hh * ww))
    f = torch.tensor(fr, dtype=torch.float64)
    stats[f"{hh}x{ww}"] = {"n": n, "mean_area": f.mean().item(), "std_area": f.std().item()}
save("augment_crop_stats", {"dummy": torch.zeros(1)}, stats)
