"""PyTorch side of the nn round-trip tests (run by tests/test_resnet.cpp when torch is importable).

  write DIR   torchvision resnet18 (CIFAR stem) with random weights and BN statistics: writes
              DIR/tv_weights.safetensors, DIR/tv_input.safetensors, DIR/tv_features.safetensors (eval mode)
  check WEIGHTS INPUT FEATURES
              loads WEIGHTS (saved by resa) into torchvision resnet18 (CIFAR stem) with strict=True, runs INPUT
              in eval mode and compares with FEATURES (resa's output); exit 0 when max rel error <= 1e-4

Safetensors files are read and written with a few lines of json + struct (the safetensors package may be absent).
"""
import json
import struct
import sys

import torch
import torchvision

DT = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "U8": torch.uint8}
CODE = {v: k for k, v in DT.items()}


def write_st(path, tensors, meta=None):
    hdr, blobs, off = {}, [], 0
    if meta:
        hdr["__metadata__"] = meta
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous().cpu()
        b = t.numpy().tobytes()
        hdr[k] = {"dtype": CODE[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_st(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(body[b:e]), dtype=DT[v["dtype"]]).reshape(v["shape"]) if e > b else torch.zeros(v["shape"], dtype=DT[v["dtype"]])
    return out


def cifar_resnet18():
    m = torchvision.models.resnet18()
    m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = torch.nn.Identity()
    m.fc = torch.nn.Identity()
    return m


def randomize_bn(m, gen):
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.data.uniform_(0.5, 1.5, generator=gen)
            mod.bias.data.uniform_(-0.2, 0.2, generator=gen)
            mod.running_mean.uniform_(-0.1, 0.1, generator=gen)
            mod.running_var.uniform_(0.5, 1.5, generator=gen)
            mod.num_batches_tracked.fill_(7)


def main():
    torch.manual_seed(0)
    if sys.argv[1] == "write":
        d = sys.argv[2]
        gen = torch.Generator().manual_seed(1)
        m = cifar_resnet18()
        randomize_bn(m, gen)
        m.eval()
        x = torch.randn(2, 3, 32, 32, generator=gen)
        with torch.no_grad():
            y = m(x)
        write_st(f"{d}/tv_weights.safetensors", m.state_dict())
        write_st(f"{d}/tv_input.safetensors", {"x": x})
        write_st(f"{d}/tv_features.safetensors", {"y": y})
        print("wrote torchvision resnet18 weights, input, features to", d)
    elif sys.argv[1] == "check":
        m = cifar_resnet18()
        sd = read_st(sys.argv[2])
        m.load_state_dict(sd, strict=True)
        m.eval()
        x = read_st(sys.argv[3])["x"]
        ours = read_st(sys.argv[4])["y"]
        with torch.no_grad():
            y = m(x)
        err = (y - ours).abs().max().item() / max(y.abs().max().item(), 1e-30)
        print(f"torchvision features vs resa: max rel error {err:.3e}")
        sys.exit(0 if err <= 1e-4 else 1)
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")


if __name__ == "__main__":
    main()
