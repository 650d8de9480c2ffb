"""Reference values for conv2d, max/avg pooling and batch norm (tests/test_conv.cpp).

Inputs are float32 values (drawn in float32); PyTorch computes the references from them in float64,
so a fixture measures only the error of our float32 kernels. Each case stores its inputs, a random
output gradient `gy`, the output and the gradients of every input.
Run: /usr/bin/python3 tests/scripts/gen_conv.py
"""
import torch
import torch.nn.functional as F

from fixture_io import save

torch.manual_seed(0)


def f32(*shape):
    return torch.randn(*shape, dtype=torch.float32).double()


def conv_case(name, n, c, h, w, k, r, s, stride, padding, dilation, bias):
    x, wt = f32(n, c, h, w).requires_grad_(), f32(k, c, r, s).requires_grad_()
    b = f32(k).requires_grad_() if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=padding, dilation=dilation)
    gy = f32(*y.shape)
    y.backward(gy)
    t = {"x": x, "w": wt, "gy": gy, "y": y, "gx": x.grad, "gw": wt.grad}
    if bias:
        t.update({"b": b, "gb": b.grad})
    save(name, t, {"stride": list(stride), "padding": list(padding), "dilation": list(dilation), "bias": bias})


conv_case("conv_s1p1", 2, 3, 7, 5, 4, 3, 3, (1, 1), (1, 1), (1, 1), True)
conv_case("conv_s2p0", 2, 3, 7, 5, 4, 3, 3, (2, 2), (0, 0), (1, 1), True)
conv_case("conv_s2p1_nobias", 2, 3, 7, 5, 4, 3, 3, (2, 2), (1, 1), (1, 1), False)
conv_case("conv_1x1", 2, 3, 7, 5, 4, 1, 1, (1, 1), (0, 0), (1, 1), True)
conv_case("conv_1x1_s2", 2, 3, 7, 5, 4, 1, 1, (2, 2), (0, 0), (1, 1), False)
conv_case("conv_2x3_dil2", 2, 3, 7, 6, 4, 2, 3, (1, 2), (1, 0), (2, 2), True)
# A ResNet-like shape: more channels, so the GEMM's inner dimension is long (C * R * S = 144).
conv_case("conv_wide", 2, 16, 7, 7, 8, 3, 3, (1, 1), (1, 1), (1, 1), True)


def pool_case(name, kind, kernel, stride, padding):
    x = f32(2, 3, 7, 5).requires_grad_()
    if kind == "max":
        y = F.max_pool2d(x, kernel, stride, padding)
    else:
        y = F.avg_pool2d(x, kernel, stride, padding, count_include_pad=True)
    gy = f32(*y.shape)
    y.backward(gy)
    save(name, {"x": x, "gy": gy, "y": y, "gx": x.grad}, {"kernel": kernel, "stride": stride, "padding": padding})


pool_case("conv_maxpool_k3s2p1", "max", 3, 2, 1)
pool_case("conv_maxpool_k2s2p0", "max", 2, 2, 0)
pool_case("conv_avgpool_k3s2p1", "avg", 3, 2, 1)
pool_case("conv_avgpool_k2s1p0", "avg", 2, 1, 0)


def bn_case(name, shape, training, affine, momentum=0.1, eps=1e-5):
    c = shape[1]
    x = f32(*shape).requires_grad_()
    wt = (f32(c) * 0.5 + 1).requires_grad_() if affine else None
    b = f32(c).requires_grad_() if affine else None
    rm0, rv0 = f32(c) * 0.3, f32(c).abs() + 0.5
    rm, rv = rm0.clone(), rv0.clone()
    y = F.batch_norm(x, rm, rv, wt, b, training=training, momentum=momentum, eps=eps)
    gy = f32(*y.shape)
    y.backward(gy)
    t = {"x": x, "running_mean0": rm0, "running_var0": rv0, "gy": gy, "y": y, "gx": x.grad,
         "running_mean": rm, "running_var": rv}
    if affine:
        t.update({"w": wt, "b": b, "gw": wt.grad, "gb": b.grad})
    save(name, t, {"training": training, "affine": affine, "momentum": momentum, "eps": eps})


bn_case("conv_bn_train_4d", (4, 3, 5, 3), True, True)
bn_case("conv_bn_train_2d_noaffine", (7, 5), True, False)
bn_case("conv_bn_eval_4d", (4, 3, 5, 3), False, True)
bn_case("conv_bn_eval_2d", (7, 5), False, True)
