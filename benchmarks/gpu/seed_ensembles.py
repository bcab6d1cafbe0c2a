#!/usr/bin/env python3
"""Seed ensembles of hemoclf's default CNN under nested CV, many nets per GPU.

Question: does averaging several random seeds of the small default CNN improve
the sensitivity-constrained operating point (threshold tuned for sensitivity
>= 0.98 on inner folds)? Each repeat r uses the outer folds of
``StratifiedGroupKFold(10, shuffle=True, random_state=r)``; per repeat and seed
this trains 55 networks:

* 10 "refit" networks: net k is trained on every image outside fold k and
  scores fold k (the outer test predictions);
* 45 "pair" networks: net (a, b) is trained outside folds a and b and scores
  both (the inner folds of outer fold a are the other folds j, and net
  (a, j) scores them: the same net serves outer folds a and j).

Hundreds of those tiny networks are trained in lockstep as ONE grouped model
(``groups=G`` convolutions; per-network BatchNorm channels; per-network
linear head), so one GPU trains them all at once. Every network has its own
Glorot init, shuffling, augmentation and dropout randomness, drawn from its
own seed (repeat, kind, folds, seed); a network's training draws do not
depend on which other networks share its lockstep group.

The network is a replica of hemoclf's Keras ``build_default_cnn`` (filters
16, 16, 32, 64, 128; 5x5/2 stem; conv-BN-ReLU-maxpool stages; global max
pooling; dropout 0.3; sigmoid output), trained as hemoclf's "default" recipe
(AdamW 2e-3, weight decay 1e-4, eps 1e-7, cosine decay over 90 epochs, batch
16, the fused random affine + gamma augmentation).

Outputs (``--out DIR``), rewritten after each lockstep group:
``scores.json`` (one record per network: repeat, kind, fold or pair, seed,
held-out image index, probabilities, logits, fold of each held-out image)
and ``log.txt`` (arguments, timings, memory, skipped work).

``--self-test`` runs the correctness checks (augmentation against a numpy
port of hemoclf's Keras warp, identity and shift; grouped model against
separate networks: forward, loss, gradients, BatchNorm statistics, AdamW
steps; per-network Glorot init; training a net alone or inside a group gives
the same scores) and exits. ``analyze_seed_ensembles.py`` beside this file turns
``scores.json`` into the results table.
"""

import time

T_START = time.time()  # the --time-budget clock starts before torch loads

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# ---------------------------------------------------------------------------
# The recipe (hemoclf's "default" recipe, hemoclf/_models.py RECIPE_PARAMS)
# ---------------------------------------------------------------------------
FILTERS = (16, 16, 32, 64, 128)   # stem, then one conv per stage
STEM_KERNEL, STEM_STRIDE, KERNEL = 5, 2, 3
DROPOUT = 0.3
BN_EPS = 1e-3                    # Keras BatchNormalization epsilon
BN_MOMENTUM = 0.01               # Keras momentum 0.99 == torch momentum 0.01
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-7
EPOCHS = 90
BATCH = 16
N_FOLDS = 10
# Augmentation ranges (hemoclf AUGMENTATION_DEFAULTS + gamma 0.4 of "default")
AUG_RANGES = {"flip_horizontal": 0.5, "flip_vertical": 0.5, "rotation": 15.0,
              "zoom": 0.05, "shear": 0.1, "shift": 0.05, "gamma": 0.4}
NO_AUG = {"flip_horizontal": 0.0, "flip_vertical": 0.0, "rotation": 0.0,
          "zoom": 0.0, "shear": 0.0, "shift": 0.0, "gamma": 0.0}
N_AUG_DRAWS = 8  # uniforms per image per step, see aug_params()

KIND_ID = {"refit": 0, "pair": 1}


# ---------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------
def aug_params(u, height, width, ranges):
    """Augmentation parameters from uniforms ``u`` (..., 8) in [0, 1).

    Columns, in the order hemoclf's Keras layer draws them: rotation angle,
    zoom scale, shear, row shift, column shift, vertical flip, horizontal
    flip, gamma. Returns a dict of tensors of shape ``u.shape[:-1]``; shifts
    in pixels, angle in radians.
    """
    u = u.to(torch.float64)
    return {
        "angle": (2 * u[..., 0] - 1) * (ranges["rotation"] * math.pi / 180.0),
        "scale": 1.0 + (2 * u[..., 1] - 1) * ranges["zoom"],
        "shear": u[..., 2] * ranges["shear"],
        "shift_r": (2 * u[..., 3] - 1) * ranges["shift"] * height,
        "shift_c": (2 * u[..., 4] - 1) * ranges["shift"] * width,
        "flip_r": torch.where(u[..., 5] < ranges["flip_vertical"], -1.0, 1.0
                              ).to(torch.float64),
        "flip_c": torch.where(u[..., 6] < ranges["flip_horizontal"], -1.0, 1.0
                              ).to(torch.float64),
        "log_gamma": (2 * u[..., 7] - 1) * ranges["gamma"],
    }


def pixel_affine(p):
    """The (row, col) pixel-space map of hemoclf's layer: 2x2 matrices ``M``.

    ``src = M @ (dst - centre) + centre - shift``, with
    ``M = flip @ rotate @ shear / scale`` (rotate ``[[cos, -sin], [sin,
    cos]]``, shear ``[[1, shear], [0, 1]]``, flip ``diag(flip_r, flip_c)``).
    """
    cos, sin = torch.cos(p["angle"]), torch.sin(p["angle"])
    s, sh = p["scale"], p["shear"]
    m00 = p["flip_r"] * cos / s
    m01 = p["flip_r"] * (-sin + cos * sh) / s
    m10 = p["flip_c"] * sin / s
    m11 = p["flip_c"] * (cos + sin * sh) / s
    return torch.stack([torch.stack([m00, m01], -1),
                        torch.stack([m10, m11], -1)], -2)


def affine_theta(p, height, width):
    """``F.affine_grid`` matrices (..., 2, 3) for the pixel-space map.

    With ``align_corners=True`` normalised -1 and +1 are the centres of the
    first and last pixel: ``n = (pix - c) / c`` with ``c = (size - 1) / 2``
    per axis, and the image centre of the Keras map is that same ``c``. So
    ``src_n = S^-1 M S dst_n - S^-1 shift`` with ``S = diag(c_row, c_col)``;
    affine_grid orders coordinates (x = column, y = row).
    """
    m = pixel_affine(p)
    c_r, c_c = (height - 1) / 2.0, (width - 1) / 2.0
    a_rr, a_rc = m[..., 0, 0], m[..., 0, 1] * c_c / c_r
    a_cr, a_cc = m[..., 1, 0] * c_r / c_c, m[..., 1, 1]
    t_r, t_c = -p["shift_r"] / c_r, -p["shift_c"] / c_c
    row_x = torch.stack([a_cc, a_cr, t_c], -1)
    row_y = torch.stack([a_rc, a_rr, t_r], -1)
    return torch.stack([row_x, row_y], -2)


def warp_and_gamma(images, theta, gamma_exp):
    """Resample ``images`` (N, 1, H, W) once, bilinearly, zero fill; gamma.

    ``theta`` (N, 2, 3) from :func:`affine_theta`; ``gamma_exp`` (N,) the
    exponents ``exp(u)``: ``x -> max(x, 0) ** exp(u)``.
    """
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape),
                         align_corners=True)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                        align_corners=True)
    return out.clamp_min(0).pow(gamma_exp.to(images.dtype).view(-1, 1, 1, 1))


def augment(images, u, ranges=AUG_RANGES):
    """Augment ``images`` (N, 1, H, W) with uniforms ``u`` (N, 8)."""
    h, w = images.shape[-2:]
    p = aug_params(u, h, w, ranges)
    return warp_and_gamma(images, affine_theta(p, h, w),
                          torch.exp(p["log_gamma"]))


def keras_warp_reference(image, p):
    """numpy port of hemoclf's ``_bilinear_warp`` (fill "constant", 0) plus
    its gamma, for one (H, W) image and one parameter set (floats)."""
    h, w = image.shape
    m = pixel_affine({k: torch.tensor(float(v), dtype=torch.float64)
                      for k, v in p.items()}).numpy()
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    offset = centre - m @ centre - np.array([p["shift_r"], p["shift_c"]])
    rr, cc = np.meshgrid(np.arange(h, dtype=np.float64),
                         np.arange(w, dtype=np.float64), indexing="ij")
    grid = np.stack([rr.ravel(), cc.ravel()])
    src = m @ grid + offset[:, None]
    r0, c0 = np.floor(src[0]), np.floor(src[1])
    wr, wc = src[0] - r0, src[1] - c0
    r0, c0 = r0.astype(int), c0.astype(int)
    out = np.zeros(h * w)
    for dr, dc, weight in ((0, 0, (1 - wr) * (1 - wc)), (0, 1, (1 - wr) * wc),
                           (1, 0, wr * (1 - wc)), (1, 1, wr * wc)):
        r, c = r0 + dr, c0 + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        value = np.where(inside, image[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)],
                         0.0)
        out += value * weight
    out = out.reshape(h, w)
    return np.maximum(out, 0.0) ** math.exp(p["log_gamma"])


# ---------------------------------------------------------------------------
# The grouped network
# ---------------------------------------------------------------------------
def same_pads(size, kernel, stride):
    """TF/Keras "same" padding (before, after) of one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def glorot_limit(fan_in, fan_out):
    return math.sqrt(6.0 / (fan_in + fan_out))


class GroupedCNN(nn.Module):
    """G independent copies of hemoclf's default CNN as one module.

    Input (B, G, H, W): channel g holds network g's images. Every conv has
    ``groups=G`` (network g's channels are the g-th block of each layer),
    BatchNorm2d normalises channels one by one, hence per network; the head
    is a per-network linear layer (weight (G, 128), bias (G,)). Output: the
    logits (B, G), in float32.
    """

    def __init__(self, n_nets, filters=FILTERS, stem_padding="keras"):
        super().__init__()
        g = self.n_nets = int(n_nets)
        self.filters = tuple(filters)
        self.stem_padding = stem_padding
        self.stem = nn.Conv2d(g, filters[0] * g, STEM_KERNEL, stride=STEM_STRIDE,
                              padding=0 if stem_padding == "keras" else 2,
                              groups=g, bias=False)
        self.stem_bn = nn.BatchNorm2d(filters[0] * g, eps=BN_EPS,
                                      momentum=BN_MOMENTUM)
        self.convs, self.bns = nn.ModuleList(), nn.ModuleList()
        c = filters[0]
        for f in filters[1:]:
            self.convs.append(nn.Conv2d(c * g, f * g, KERNEL, padding=KERNEL // 2,
                                        groups=g, bias=False))
            self.bns.append(nn.BatchNorm2d(f * g, eps=BN_EPS, momentum=BN_MOMENTUM))
            c = f
        self.n_features = c
        self.fc_weight = nn.Parameter(torch.zeros(g, c))
        self.fc_bias = nn.Parameter(torch.zeros(g))

    def conv_layers(self):
        return [self.stem] + list(self.convs)

    def init_networks(self, generators):
        """Glorot-uniform init of every network, with the fans of ONE network
        (not of the grouped layer), each from its own ``torch.Generator``;
        zero head bias; BatchNorm gamma 1, beta 0, moving mean 0, var 1."""
        assert len(generators) == self.n_nets
        with torch.no_grad():
            for conv in self.conv_layers():
                out_per = conv.out_channels // self.n_nets
                shape = (out_per,) + tuple(conv.weight.shape[1:])
                k = shape[2] * shape[3]
                limit = glorot_limit(shape[1] * k, out_per * k)
                w = torch.cat([torch.rand(shape, generator=gen) for gen in generators])
                conv.weight.copy_((w * 2 - 1) * limit)
            limit = glorot_limit(self.n_features, 1)
            w = torch.stack([torch.rand(self.n_features, generator=gen)
                             for gen in generators])
            self.fc_weight.copy_((w * 2 - 1) * limit)
            self.fc_bias.zero_()
            for bn in [self.stem_bn] + list(self.bns):
                bn.reset_parameters()

    def forward(self, x, keep=None):
        """``x`` (B, G, H, W); ``keep`` (B, G, 128) dropout multipliers
        (0 or 1 / (1 - rate)) while training, None otherwise."""
        b = x.shape[0]
        if self.stem_padding == "keras":
            (pt, pb), (pl, pr) = (same_pads(x.shape[2], STEM_KERNEL, STEM_STRIDE),
                                  same_pads(x.shape[3], STEM_KERNEL, STEM_STRIDE))
            fmt = (torch.channels_last if x.is_contiguous(
                memory_format=torch.channels_last) and not x.is_contiguous()
                else torch.contiguous_format)
            x = F.pad(x, (pl, pr, pt, pb)).contiguous(memory_format=fmt)
        x = F.relu(self.stem_bn(self.stem(x)))
        for conv, bn in zip(self.convs, self.bns):
            # Keras MaxPooling2D(2, padding="same") == ceil_mode for stride 2
            x = F.max_pool2d(F.relu(bn(conv(x))), 2, ceil_mode=True)
        feat = x.amax(dim=(2, 3)).view(b, self.n_nets, self.n_features)
        with torch.autocast(device_type=feat.device.type, enabled=False):
            # the head in (at least) float32, even under bf16 autocast
            dtype = torch.promote_types(feat.dtype, self.fc_weight.dtype)
            feat = feat.to(dtype)
            if keep is not None:
                feat = feat * keep.to(dtype)
            return ((feat * self.fc_weight.to(dtype)).sum(-1)
                    + self.fc_bias.to(dtype))


class SingleCNN(nn.Module):
    """One plain network (reference for the self-test only)."""

    def __init__(self, filters=FILTERS, stem_padding="keras"):
        super().__init__()
        self.stem_padding = stem_padding
        self.stem = nn.Conv2d(1, filters[0], STEM_KERNEL, stride=STEM_STRIDE,
                              padding=0 if stem_padding == "keras" else 2,
                              bias=False)
        self.stem_bn = nn.BatchNorm2d(filters[0], eps=BN_EPS, momentum=BN_MOMENTUM)
        self.convs, self.bns = nn.ModuleList(), nn.ModuleList()
        c = filters[0]
        for f in filters[1:]:
            self.convs.append(nn.Conv2d(c, f, KERNEL, padding=1, bias=False))
            self.bns.append(nn.BatchNorm2d(f, eps=BN_EPS, momentum=BN_MOMENTUM))
            c = f
        self.fc = nn.Linear(c, 1)

    def forward(self, x, keep=None):  # x (B, 1, H, W); keep (B, 128)
        if self.stem_padding == "keras":
            (pt, pb), (pl, pr) = (same_pads(x.shape[2], STEM_KERNEL, STEM_STRIDE),
                                  same_pads(x.shape[3], STEM_KERNEL, STEM_STRIDE))
            x = F.pad(x, (pl, pr, pt, pb))
        x = F.relu(self.stem_bn(self.stem(x)))
        for conv, bn in zip(self.convs, self.bns):
            x = F.max_pool2d(F.relu(bn(conv(x))), 2, ceil_mode=True)
        feat = torch.amax(x, dim=(2, 3))
        if keep is not None:
            feat = feat * keep
        return self.fc(feat)[:, 0]

    def load_from_group(self, grouped, g):
        with torch.no_grad():
            for mine, theirs in zip([self.stem] + list(self.convs),
                                    grouped.conv_layers()):
                per = theirs.out_channels // grouped.n_nets
                mine.weight.copy_(theirs.weight[g * per:(g + 1) * per])
            for mine, theirs in zip([self.stem_bn] + list(self.bns),
                                    [grouped.stem_bn] + list(grouped.bns)):
                per = theirs.num_features // grouped.n_nets
                sl = slice(g * per, (g + 1) * per)
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(mine, name).copy_(getattr(theirs, name)[sl])
            self.fc.weight.copy_(grouped.fc_weight[g:g + 1])
            self.fc.bias.copy_(grouped.fc_bias[g:g + 1])


def net_slice(grouped, name, g, grad=False):
    """Network ``g``'s slice of the grouped tensor (or its gradient) that
    corresponds to SingleCNN's parameter/buffer ``name``."""
    if name.startswith("fc."):
        t = grouped.fc_weight if name == "fc.weight" else grouped.fc_bias
        t = t.grad if grad else t
        return t[g:g + 1]
    layer_name, attr = name.rsplit(".", 1)
    layer = grouped.get_submodule(layer_name)
    per = (layer.out_channels if isinstance(layer, nn.Conv2d)
           else layer.num_features) // grouped.n_nets
    t = getattr(layer, attr)
    t = t.grad if grad else t
    return t[g * per:(g + 1) * per]


def make_optimizer(params, device):
    kwargs = {}
    if device.type == "cuda":
        kwargs["fused"] = True
    return torch.optim.AdamW(params, lr=LEARNING_RATE, betas=BETAS, eps=ADAM_EPS,
                             weight_decay=WEIGHT_DECAY, **kwargs)


def cosine_lr(epoch, epochs):
    return LEARNING_RATE * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


# ---------------------------------------------------------------------------
# Networks to train
# ---------------------------------------------------------------------------
@dataclass
class NetSpec:
    repeat: int
    kind: str                 # "refit" | "pair"
    folds: tuple              # (k,) for refit, (a, b) for pair
    seed: int
    train_idx: np.ndarray
    test_idx: np.ndarray
    test_fold: np.ndarray     # outer fold of each held-out image
    base_seed: int = 0
    rng: object = field(default=None, repr=False)

    def entropy(self):
        a = self.folds[0]
        b = self.folds[1] if self.kind == "pair" else N_FOLDS
        return [self.base_seed, self.repeat, KIND_ID[self.kind], a, b, self.seed]

    def seeds(self):
        """(torch init seed, numpy Generator of the training draws)."""
        ss = np.random.SeedSequence(self.entropy())
        init_ss, train_ss = ss.spawn(2)
        init_seed = int(init_ss.generate_state(1, np.uint64)[0] & (2**63 - 1))
        return init_seed, np.random.default_rng(train_ss)

    def label(self):
        f = (f"fold {self.folds[0]}" if self.kind == "refit"
             else f"pair {self.folds[0]},{self.folds[1]}")
        return f"r{self.repeat} {self.kind} {f} seed {self.seed}"


def outer_splits(y, groups, repeat):
    from sklearn.model_selection import StratifiedGroupKFold

    cv = StratifiedGroupKFold(N_FOLDS, shuffle=True, random_state=repeat)
    return list(cv.split(np.zeros(len(y)), y, groups))


def repeat_networks(y, groups, repeat, seeds, base_seed=0):
    """(pair nets, refit nets) of one repeat, seed-major order."""
    splits = outer_splits(y, groups, repeat)
    n = len(y)
    tests = [np.asarray(s[1]) for s in splits]
    pair, refit = [], []
    for seed in seeds:
        for a in range(N_FOLDS):
            for b in range(a + 1, N_FOLDS):
                held = np.concatenate([tests[a], tests[b]])
                pair.append(NetSpec(
                    repeat, "pair", (a, b), seed,
                    np.setdiff1d(np.arange(n), held), held,
                    np.concatenate([np.full(len(tests[a]), a),
                                    np.full(len(tests[b]), b)]), base_seed))
    for seed in seeds:
        for k in range(N_FOLDS):
            refit.append(NetSpec(
                repeat, "refit", (k,), seed, np.setdiff1d(np.arange(n), tests[k]),
                tests[k], np.full(len(tests[k]), k), base_seed))
    return pair, refit


def even_chunks(items, max_size):
    n_chunks = max(1, -(-len(items) // max_size))
    bounds = np.linspace(0, len(items), n_chunks + 1).round().astype(int)
    return [items[bounds[i]:bounds[i + 1]] for i in range(n_chunks)]


# ---------------------------------------------------------------------------
# Training one lockstep group
# ---------------------------------------------------------------------------
def epoch_plan(nets, steps, batch, n_features, dropout):
    """One epoch's draws of every network, from its own Generator.

    DEVIATION from Keras (documented): Keras runs ceil(n / 16) steps with a
    smaller last batch. Here all networks of a lockstep group run the same
    ``steps`` full batches (``steps = ceil(max n_i / 16)`` over the networks
    of that kind in the repeat), so each network takes a fresh permutation
    of its own training images followed by ``steps * 16 - n_i`` extra
    images drawn at random (with replacement) from its own set. On the
    head CT data every fold of repeats 0-4 holds exactly 20 images, so a
    pair net (n = 160) runs 10 full batches as Keras does (no extras), and
    a refit net (n = 180) runs 12 batches: Keras's last batch of 4 is
    filled up to 16 with 12 extra draws (6.7 % more images per epoch).
    """
    total = steps * batch
    idx = np.empty((len(nets), total), dtype=np.int64)
    u_aug = np.empty((len(nets), total, N_AUG_DRAWS), dtype=np.float32)
    keep = np.empty((len(nets), total, n_features), dtype=bool)
    for g, net in enumerate(nets):
        rng, n = net.rng, len(net.train_idx)
        if n > total:
            raise ValueError(f"{net.label()}: {n} images > {total} slots")
        idx[g, :n] = rng.permutation(net.train_idx)
        idx[g, n:] = rng.choice(net.train_idx, total - n, replace=True)
        u_aug[g] = rng.random((total, N_AUG_DRAWS), dtype=np.float32)
        keep[g] = rng.random((total, n_features), dtype=np.float32) >= dropout
    return idx, u_aug, keep


def to_step_major(arr, steps, batch, device, dtype=None):
    """(G, steps*batch, ...) numpy -> (steps, batch, G, ...) device tensor.

    On CUDA the copy goes through pinned memory without blocking, so the
    host does not wait for the GPU to drain its queue at each epoch.
    """
    t = torch.from_numpy(arr)
    g = t.shape[0]
    t = t.view(g, steps, batch, *t.shape[2:]).movedim(0, 2).contiguous()
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    else:
        t = t.to(device)
    return t if dtype is None else t.to(dtype)


class Runtime:
    """Device, precision and memory-format settings."""

    def __init__(self, device, precision, layout, stem_padding):
        self.device = device
        self.precision = precision
        self.layout = layout
        self.stem_padding = stem_padding

    @property
    def memory_format(self):
        return (torch.channels_last if self.layout == "channels_last"
                else torch.contiguous_format)

    def autocast(self):
        enabled = self.precision == "bf16"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                              enabled=enabled)

    def set_train_tf32(self):
        if self.device.type == "cuda":
            allow = self.precision == "tf32"
            torch.backends.cuda.matmul.allow_tf32 = allow
            torch.backends.cudnn.allow_tf32 = allow

    def set_eval_fp32(self):
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def build_group_model(nets, rt):
    model = GroupedCNN(len(nets), stem_padding=rt.stem_padding)
    gens = []
    for net in nets:
        init_seed, net.rng = net.seeds()
        gens.append(torch.Generator().manual_seed(init_seed))
    model.init_networks(gens)
    return model.to(rt.device).to(memory_format=rt.memory_format)


def train_step(model, opt, rt, x_all, idx, u, keep, yb, ranges):
    """One lockstep step. ``idx`` (B, G) image indices, ``u`` (B, G, 8),
    ``keep`` (B, G, F) dropout multipliers, ``yb`` (B, G) labels."""
    b, g = idx.shape
    h, w = x_all.shape[-2:]
    with torch.no_grad():
        x = x_all[idx].view(b * g, 1, h, w)                 # (B*G, 1, H, W)
        x = augment(x, u.reshape(b * g, -1), ranges)
        x = x.view(b, g, h, w).contiguous(memory_format=rt.memory_format)
    with rt.autocast():
        logits = model(x, keep)
    # Sum over networks of each network's batch-mean BCE: per-net gradients.
    loss = F.binary_cross_entropy_with_logits(logits.float(), yb,
                                              reduction="none").mean(0).sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


@torch.no_grad()
def score_group(model, nets, x_all, rt, eval_batch):
    """float32 eval-mode logits of each net on its held-out images."""
    model.eval()
    rt.set_eval_fp32()
    g = len(nets)
    longest = max(len(n.test_idx) for n in nets)
    idx = np.zeros((g, longest), dtype=np.int64)
    for i, net in enumerate(nets):
        idx[i, :len(net.test_idx)] = net.test_idx
        idx[i, len(net.test_idx):] = net.test_idx[0]
    idx_t = torch.from_numpy(idx.T.copy()).to(rt.device)  # (L, G)
    logits = []
    for start in range(0, longest, eval_batch):
        xb = x_all[idx_t[start:start + eval_batch]]          # (b, G, H, W)
        xb = xb.contiguous(memory_format=rt.memory_format)
        logits.append(model(xb).float())
    logits = torch.cat(logits).T.cpu().numpy()               # (G, L)
    rt.set_train_tf32()
    model.train()
    return [logits[i, :len(net.test_idx)] for i, net in enumerate(nets)]


def train_group(nets, x_all, y_all, rt, *, epochs, steps, batch=BATCH,
                ranges=AUG_RANGES, eval_batch=64, log_every=100, log=print,
                tag=""):
    """Train ``nets`` in lockstep; return (logits list, timing dict)."""
    t0 = time.time()
    model = build_group_model(nets, rt)
    model.train()
    rt.set_train_tf32()
    opt = make_optimizer(model.parameters(), rt.device)
    keep_scale = 1.0 / (1.0 - DROPOUT)
    total_steps = epochs * steps
    step_no, window_t, window_start = 0, time.time(), 0
    step_times = []
    if rt.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(rt.device)
    train_t0 = time.time()
    plan = epoch_plan(nets, steps, batch, model.n_features, DROPOUT)
    for epoch in range(epochs):
        lr = cosine_lr(epoch, epochs)
        for pg in opt.param_groups:
            pg["lr"] = lr
        idx, u_aug, keep = plan
        labels = y_all[idx]
        idx_t = to_step_major(idx, steps, batch, rt.device)
        u_t = to_step_major(u_aug, steps, batch, rt.device)
        keep_t = to_step_major(keep, steps, batch, rt.device, torch.float32)
        keep_t.mul_(keep_scale)
        y_t = to_step_major(labels.astype(np.float32), steps, batch, rt.device)
        for s in range(steps):
            loss = train_step(model, opt, rt, x_all, idx_t[s], u_t[s], keep_t[s],
                              y_t[s], ranges)
            step_no += 1
            if step_no % log_every == 0 or step_no == total_steps:
                mean_loss = loss.item() / len(nets)   # synchronises
                now = time.time()
                per_step = (now - window_t) / (step_no - window_start)
                step_times.append((step_no - window_start, per_step))
                eta = per_step * (total_steps - step_no)
                log(f"  {tag} epoch {epoch + 1}/{epochs} step {step_no}/"
                    f"{total_steps}: {1000 * per_step:.1f} ms/step "
                    f"({1000 * per_step / len(nets):.3f} ms/net-step), "
                    f"mean loss {mean_loss:.4f}, lr {lr:.2e}, eta {eta:.0f} s",
                    flush=True)
                window_t, window_start = now, step_no
        if epoch + 1 < epochs:
            # drawn while the GPU still works through this epoch's queue
            plan = epoch_plan(nets, steps, batch, model.n_features, DROPOUT)
    rt.sync()
    train_s = time.time() - train_t0
    peak = (torch.cuda.max_memory_allocated(rt.device)
            if rt.device.type == "cuda" else 0)
    t_eval = time.time()
    logits = score_group(model, nets, x_all, rt, eval_batch)
    rt.sync()
    eval_s = time.time() - t_eval
    steady = [t for n, t in step_times[1:]] or [t for n, t in step_times]
    timing = {"n_nets": len(nets), "steps": total_steps, "epochs": epochs,
              "steps_per_epoch": steps, "train_s": train_s, "eval_s": eval_s,
              "group_s": time.time() - t0, "s_per_step": train_s / total_steps,
              "steady_s_per_step": float(np.median(steady)) if steady else None,
              "peak_mem_bytes": int(peak),
              "peak_mem_per_net_mb": peak / len(nets) / 2**20}
    del model, opt
    if rt.device.type == "cuda":
        torch.cuda.empty_cache()
    return logits, timing


def bench_layout(n_nets, x_all, rt, layout, steps=10, warmup=3, batch=BATCH):
    """Seconds per lockstep step of ``n_nets`` random nets in ``layout``."""
    rt2 = Runtime(rt.device, rt.precision, layout, rt.stem_padding)
    model = GroupedCNN(n_nets, stem_padding=rt.stem_padding)
    model.init_networks([torch.Generator().manual_seed(g) for g in range(n_nets)])
    model = model.to(rt.device).to(memory_format=rt2.memory_format).train()
    rt2.set_train_tf32()
    opt = make_optimizer(model.parameters(), rt.device)
    gen_d = torch.Generator(device=rt.device).manual_seed(0)
    n_img = x_all.shape[0]
    idx = torch.randint(0, n_img, (batch, n_nets), device=rt.device, generator=gen_d)
    u = torch.rand(batch, n_nets, N_AUG_DRAWS, device=rt.device, generator=gen_d)
    keep = torch.ones(batch, n_nets, model.n_features, device=rt.device)
    yb = torch.randint(0, 2, (batch, n_nets), device=rt.device,
                       generator=gen_d).float()
    if rt.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(rt.device)
    for _ in range(warmup):
        train_step(model, opt, rt2, x_all, idx, u, keep, yb, AUG_RANGES)
    rt2.sync()
    t = time.time()
    for _ in range(steps):
        train_step(model, opt, rt2, x_all, idx, u, keep, yb, AUG_RANGES)
    rt2.sync()
    per_step = (time.time() - t) / steps
    peak = (torch.cuda.max_memory_allocated(rt.device)
            if rt.device.type == "cuda" else 0)
    del model, opt
    if rt.device.type == "cuda":
        torch.cuda.empty_cache()
    return per_step, peak


# ---------------------------------------------------------------------------
# Time estimates
# ---------------------------------------------------------------------------
class StepModel:
    """Seconds per step as a function of the group size G, from measurements."""

    def __init__(self):
        self.points = {}   # G -> seconds per step (latest)
        self.eval_per_net = None

    def add(self, g, s_per_step):
        self.points[g] = s_per_step

    def predict(self, g):
        if not self.points:
            return None
        if g in self.points:
            return self.points[g]
        gs = np.array(sorted(self.points), dtype=float)
        ts = np.array([self.points[k] for k in sorted(self.points)])
        if len(gs) >= 2:
            b, a = np.polyfit(gs, ts, 1)
            a, b = max(a, 0.0), max(b, 0.0)
            pred = a + b * g
            if pred > 0:
                return pred
        # one point: proportional above it, a 25 % fixed share below it
        g0, t0 = gs[-1], ts[-1]
        return t0 * g / g0 if g >= g0 else t0 * (0.25 + 0.75 * g / g0)

    def estimate_group(self, g, steps):
        per = self.predict(g)
        if per is None:
            return None
        ev = (self.eval_per_net or 0.0) * g
        return 1.1 * (per * steps + ev) + 2.0


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
class Logger:
    def __init__(self, path):
        self.path = path
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.f = open(path, "a")
        else:
            self.f = None

    def __call__(self, *args, flush=True, **kwargs):
        text = " ".join(str(a) for a in args)
        stamp = f"[{time.time() - T_START:8.1f}s] "
        print(stamp + text, flush=True)
        if self.f:
            self.f.write(stamp + text + "\n")
            self.f.flush()


def load_data(path, image_size=None):
    d = np.load(path)
    x = np.asarray(d["X"], dtype=np.float32)
    if x.ndim == 4:
        x = x[..., 0]
    y = np.asarray(d["y"]).astype(np.int64)
    groups = np.asarray(d["groups"])
    if image_size and image_size != x.shape[1]:
        t = torch.from_numpy(x)[:, None]
        t = F.interpolate(t, size=(image_size, image_size), mode="area")
        x = t[:, 0].numpy().copy()
    return x, y, groups


def record_of(net, logits):
    logits = np.asarray(logits, dtype=np.float32)
    proba = torch.sigmoid(torch.from_numpy(logits)).numpy().astype(np.float32)
    rec = {"repeat": int(net.repeat), "kind": net.kind, "seed": int(net.seed)}
    if net.kind == "refit":
        rec["fold"] = int(net.folds[0])
    else:
        rec["pair"] = [int(net.folds[0]), int(net.folds[1])]
    rec["index"] = [int(i) for i in net.test_idx]
    rec["test_fold"] = [int(f) for f in net.test_fold]
    rec["proba"] = [float(p) for p in proba]
    rec["logit"] = [float(v) for v in logits]
    return rec


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "head_ct_default128.npz"))
    p.add_argument("--out", default="ens_out")
    p.add_argument("--repeats", type=int, nargs="+", default=[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds per network K")
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds are first-seed .. first-seed+K-1")
    p.add_argument("--base-seed", type=int, default=0,
                   help="mixed into every network's seed")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--max-group", type=int, default=300,
                   help="networks per lockstep group (larger sets are split "
                   "evenly)")
    p.add_argument("--precision", choices=("bf16", "tf32", "fp32"), default="bf16",
                   help="training precision on CUDA (CPU always fp32); "
                   "scoring is always fp32")
    p.add_argument("--layout", choices=("auto", "channels_last", "contiguous"),
                   default="auto", help="memory format; auto benchmarks both "
                   "on CUDA at the first group's size (CPU: contiguous)")
    p.add_argument("--stem-padding", choices=("keras", "symmetric"),
                   default="keras", help="keras: TF 'same' padding of the 5x5 "
                   "stride-2 stem (1 before, 2 after on 128 px), as the Keras "
                   "model; symmetric: padding=2")
    p.add_argument("--image-size", type=int, default=None,
                   help="downsample images (area) for smoke tests, e.g. 32")
    p.add_argument("--time-budget", type=float, default=float("inf"),
                   help="seconds since start; no group is started whose "
                   "estimated time exceeds what is left")
    p.add_argument("--eval-batch", type=int, default=64)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--device", default=None, help="cuda / cpu (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads")
    p.add_argument("--deterministic", action="store_true",
                   help="cudnn.deterministic, benchmark off (slower)")
    p.add_argument("--self-test", action="store_true",
                   help="run the correctness checks and exit")
    p.add_argument("--bench", type=int, nargs="*", default=None,
                   help="only time steps for these group sizes (both "
                   "layouts) and exit")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.self_test:
        ok = run_self_tests()
        sys.exit(0 if ok else 1)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available()
                                          else "cpu"))
    precision = args.precision if device.type == "cuda" else "fp32"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not args.deterministic
        torch.backends.cudnn.deterministic = args.deterministic
    os.makedirs(args.out, exist_ok=True)
    log = Logger(os.path.join(args.out, "log.txt"))
    log("seed_ensembles.py", " ".join(sys.argv[1:]))
    log("args:", json.dumps(vars(args), default=str))
    log(f"python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
           else "") + f", precision {precision}, {os.cpu_count()} CPUs")

    x, y, groups = load_data(args.data, args.image_size)
    log(f"data: {x.shape[0]} images {x.shape[1]}x{x.shape[2]}, {int(y.sum())} "
        f"hemorrhage, {len(np.unique(groups))} groups")
    x_all = torch.from_numpy(x).to(device)
    y_np = y.astype(np.float32)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))

    layout = args.layout
    if layout == "auto" and device.type != "cuda":
        layout = "contiguous"
    rt = Runtime(device, precision, layout, args.stem_padding)

    if args.bench is not None:
        for g in args.bench or [225, 50]:
            for lay in ("channels_last", "contiguous"):
                per, peak = bench_layout(g, x_all, rt, lay)
                log(f"bench G={g} {lay} {precision}: {1000 * per:.1f} ms/step, "
                    f"{1000 * per / g:.3f} ms/net-step, peak "
                    f"{peak / 2**30:.2f} GiB ({peak / g / 2**20:.1f} MiB/net)")
        return

    # Plan: repeat by repeat, pair group(s) then refit group(s).
    plan = []
    for r in args.repeats:
        pair, refit = repeat_networks(y, groups, r, seeds, args.base_seed)
        for kind, nets in (("pair", pair), ("refit", refit)):
            steps = -(-max(len(n.train_idx) for n in nets) // BATCH)
            for chunk in even_chunks(nets, args.max_group):
                plan.append((r, kind, steps, chunk))
    n_total = sum(len(c) for *_, c in plan)
    log(f"plan: {len(plan)} lockstep groups, {n_total} networks: " + "; ".join(
        f"r{r} {k} G={len(c)} steps/epoch={s}" for r, k, s, c in plan))

    est = StepModel()
    if layout == "auto":
        g0 = len(plan[0][3])
        timings = {}
        for lay in ("channels_last", "contiguous"):
            try:
                per, peak = bench_layout(g0, x_all, rt, lay)
            except RuntimeError as exc:  # e.g. an unsupported kernel
                log(f"layout bench {lay} failed: {exc}")
                continue
            timings[lay] = per
            log(f"layout bench G={g0} {lay}: {1000 * per:.1f} ms/step, peak "
                f"{peak / 2**30:.2f} GiB")
        if not timings:
            raise RuntimeError("no memory layout worked; see the log")
        layout = min(timings, key=timings.get)
        rt.layout = layout
        est.add(g0, timings[layout])
        log(f"layout: {layout}")

    records, timings, skipped = [], [], []
    stop = False
    for gi, (r, kind, steps, nets) in enumerate(plan):
        tag = f"[group {gi + 1}/{len(plan)} r{r} {kind} G={len(nets)}]"
        left = args.time_budget - (time.time() - T_START)
        guess = est.estimate_group(len(nets), steps * args.epochs)
        if stop or (guess is not None and guess > left):
            why = ("an earlier group was skipped" if stop else
                   f"estimated {guess:.0f} s > {left:.0f} s left")
            log(f"SKIP {tag}: {why}")
            skipped.append({"repeat": r, "kind": kind, "n_nets": len(nets),
                            "estimate_s": guess, "left_s": left})
            stop = True
            continue
        log(f"{tag} start: {steps} steps/epoch x {args.epochs} epochs, "
            f"estimate {'?' if guess is None else f'{guess:.0f}'} s, "
            f"{left:.0f} s left")
        logits, timing = train_group(
            nets, x_all, y_np, rt, epochs=args.epochs, steps=steps,
            eval_batch=args.eval_batch, log_every=args.log_every, log=log, tag=tag)
        timing.update({"repeat": r, "kind": kind, "layout": rt.layout,
                       "precision": precision})
        timings.append(timing)
        est.add(len(nets), timing["s_per_step"])
        est.eval_per_net = timing["eval_s"] / len(nets)
        for net, lg in zip(nets, logits):
            records.append(record_of(net, lg))
            net.rng = None
        write_json(os.path.join(args.out, "scores.json"), records)
        log(f"{tag} done: train {timing['train_s']:.1f} s "
            f"({1000 * timing['s_per_step']:.1f} ms/step, steady "
            f"{1000 * (timing['steady_s_per_step'] or 0):.1f} ms/step), eval "
            f"{timing['eval_s']:.1f} s, group {timing['group_s']:.1f} s, peak "
            f"{timing['peak_mem_bytes'] / 2**30:.2f} GiB "
            f"({timing['peak_mem_per_net_mb']:.1f} MiB/net); "
            f"{len(records)} records written")
    total = time.time() - T_START
    write_json(os.path.join(args.out, "run.json"), {
        "args": vars(args), "layout": rt.layout, "precision": precision,
        "device": str(device), "groups": timings, "skipped": skipped,
        "total_s": total, "torch": torch.__version__})
    log(f"total {total:.1f} s; {len(records)} networks scored, "
        f"{sum(s['n_nets'] for s in skipped)} skipped")


# ---------------------------------------------------------------------------
# Self-tests
# ---------------------------------------------------------------------------
def _check(name, ok, detail=""):
    print(f"  [{'PASS' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""),
          flush=True)
    return bool(ok)


def test_augmentation():
    ok = True
    gen = torch.Generator().manual_seed(0)
    h, w = 20, 28
    imgs = torch.rand(6, 1, h, w, generator=gen, dtype=torch.float32)
    # 1. all ranges zero (and flip probabilities zero) -> identity
    u = torch.rand(6, N_AUG_DRAWS, generator=gen)
    out = augment(imgs, u, NO_AUG)
    err = (out - imgs).abs().max().item()
    ok &= _check("augmentation with all ranges 0 is the identity", err < 1e-5,
                 f"max |diff| {err:.2e}")
    # 2. pure integer shifts move content by that many pixels (zero fill)
    img = torch.zeros(1, 1, h, w)
    img[0, 0, 7, 9] = 1.0
    img[0, 0, 12, 4] = 0.5
    for dr, dc in ((3, -5), (-2, 4), (0, 1)):
        p = aug_params(torch.full((1, N_AUG_DRAWS), 0.5), h, w, NO_AUG)
        p["shift_r"] = torch.tensor([float(dr)], dtype=torch.float64)
        p["shift_c"] = torch.tensor([float(dc)], dtype=torch.float64)
        out = warp_and_gamma(img, affine_theta(p, h, w), torch.ones(1))
        want = torch.zeros_like(img)
        for (r, c), v in (((7, 9), 1.0), ((12, 4), 0.5)):
            if 0 <= r + dr < h and 0 <= c + dc < w:
                want[0, 0, r + dr, c + dc] = v
        err = (out - want).abs().max().item()
        ok &= _check(f"shift by ({dr:+d} rows, {dc:+d} cols) moves content "
                     f"by that many pixels", err < 1e-5, f"max |diff| {err:.2e}")
    # shift through the uniforms: u=1 -> +shift*size pixels
    ranges = dict(NO_AUG, shift=0.25)
    u = torch.full((1, N_AUG_DRAWS), 0.5)
    u[0, 3], u[0, 4] = 1.0, 0.5          # rows +0.25*20 = +5, cols 0
    out = augment(img, u, ranges)
    want = torch.zeros_like(img)
    want[0, 0, 12, 9], want[0, 0, 17, 4] = 1.0, 0.5
    err = (out - want).abs().max().item()
    ok &= _check("shift range 0.25, u=1 moves rows by +0.25*H = 5 px", err < 1e-5,
                 f"max |diff| {err:.2e}")
    # 3. flips
    for col, dims, name in ((6, [-1], "horizontal"), (5, [-2], "vertical")):
        ranges = dict(NO_AUG, flip_horizontal=0.5, flip_vertical=0.5)
        u = torch.full((6, N_AUG_DRAWS), 0.5)
        u[:, 5] = u[:, 6] = 0.9          # no flip
        u[:, col] = 0.1                  # this flip
        out = augment(imgs, u, ranges)
        err = (out - torch.flip(imgs, dims)).abs().max().item()
        ok &= _check(f"{name} flip equals torch.flip", err < 1e-5,
                     f"max |diff| {err:.2e}")
    # 4. random full augmentations against the numpy port of hemoclf's warp
    big = dict(AUG_RANGES, rotation=40.0, zoom=0.2, shear=0.3, shift=0.15)
    u = torch.rand(6, N_AUG_DRAWS, generator=gen)
    out = augment(imgs, u, big).double().numpy()
    p = aug_params(u, h, w, big)
    worst = 0.0
    for i in range(6):
        pi = {k: float(v[i]) for k, v in p.items()}
        ref = keras_warp_reference(imgs[i, 0].double().numpy(), pi)
        worst = max(worst, float(np.abs(out[i, 0] - ref).max()))
    ok &= _check("random rotation/zoom/shear/shift/flip/gamma on a 20x28 image "
                 "match the numpy port of hemoclf's Keras warp", worst < 1e-4,
                 f"max |diff| {worst:.2e}")
    # gamma
    ranges = dict(NO_AUG, gamma=0.4)
    u = torch.full((6, N_AUG_DRAWS), 0.5)
    u[:, 7] = 1.0
    out = augment(imgs, u, ranges)
    err = (out - imgs.pow(math.exp(0.4))).abs().max().item()
    ok &= _check("gamma u=1 gives x ** exp(0.4)", err < 1e-5, f"{err:.2e}")
    return ok


def test_grouped_equals_separate(dtype=torch.float64, size=32, n_nets=3,
                                 batch=4, steps=3, device="cpu"):
    """G=3 grouped forward/backward/AdamW vs 3 separate SingleCNNs holding the
    same weights, inputs and dropout masks. Errors are relative to the
    largest magnitude of the reference quantity. In float32 only the first
    step's logits, loss, gradients and BN statistics are compared: Adam
    divides each gradient by its own magnitude, so rounding-level sign
    flips of near-zero gradients become lr-sized parameter differences."""
    ok = True
    grouped = GroupedCNN(n_nets)
    grouped.init_networks([torch.Generator().manual_seed(100 + g)
                           for g in range(n_nets)])
    grouped = grouped.to(dtype).to(device)
    singles = []
    for g in range(n_nets):
        s = SingleCNN().to(dtype).to(device)
        s.load_from_group(grouped, g)
        singles.append(s)
    opt_g = torch.optim.AdamW(grouped.parameters(), lr=LEARNING_RATE, betas=BETAS,
                              eps=ADAM_EPS, weight_decay=WEIGHT_DECAY)
    opt_s = [torch.optim.AdamW(s.parameters(), lr=LEARNING_RATE, betas=BETAS,
                               eps=ADAM_EPS, weight_decay=WEIGHT_DECAY)
             for s in singles]
    gen = torch.Generator().manual_seed(1)
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    worst = {"logits": 0.0, "loss": 0.0, "grad": 0.0, "stats": 0.0}
    if dtype == torch.float64:
        worst["param"] = 0.0

    def rel(a, b):
        return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()

    for _ in range(steps):
        x = torch.rand(batch, n_nets, size, size, generator=gen,
                       dtype=dtype).to(device)
        keep = (torch.rand(batch, n_nets, 128, generator=gen) >= DROPOUT).to(
            dtype).to(device) / (1 - DROPOUT)
        yb = torch.randint(0, 2, (batch, n_nets), generator=gen).to(dtype).to(
            device)
        logits = grouped(x, keep)
        loss = F.binary_cross_entropy_with_logits(
            logits, yb, reduction="none").mean(0).sum()
        opt_g.zero_grad()
        loss.backward()
        loss_s = 0.0
        for g, s in enumerate(singles):
            lg = s(x[:, g:g + 1], keep[:, g])
            worst["logits"] = max(worst["logits"], rel(logits[:, g].detach(),
                                                       lg.detach()))
            ls = F.binary_cross_entropy_with_logits(lg, yb[:, g])
            loss_s += ls.item()
            opt_s[g].zero_grad()
            ls.backward()
            for name, prm in s.named_parameters():
                worst["grad"] = max(worst["grad"], rel(
                    net_slice(grouped, name, g, grad=True), prm.grad))
        worst["loss"] = max(worst["loss"], abs(loss.item() - loss_s) / abs(loss_s))
        opt_g.step()
        for o in opt_s:
            o.step()
        with torch.no_grad():
            for g, s in enumerate(singles):
                if "param" in worst:
                    for name, prm in s.named_parameters():
                        worst["param"] = max(worst["param"], rel(
                            net_slice(grouped, name, g), prm))
                for name, buf in s.named_buffers():
                    if not name.endswith("num_batches_tracked"):
                        worst["stats"] = max(worst["stats"], rel(
                            net_slice(grouped, name, g), buf))
    grouped.eval()
    for s in singles:
        s.eval()
    x = torch.rand(5, n_nets, size, size, generator=gen, dtype=dtype).to(device)
    with torch.no_grad():
        lg = grouped(x)
        ev = max(rel(lg[:, g], singles[g](x[:, g:g + 1])) for g in range(n_nets))
    for k, v in worst.items():
        ok &= _check(f"{device} {str(dtype)[6:]} G={n_nets} grouped vs separate "
                     f"nets: {k} "
                     f"({steps} AdamW step(s))", v < tol, f"max rel. diff {v:.1e}")
    ok &= _check(f"{device} {str(dtype)[6:]} eval-mode logits grouped vs "
                 "separate", ev < tol,
                 f"max rel. diff {ev:.1e}")
    return ok


def test_glorot():
    ok = True
    g = 4
    model = GroupedCNN(g)
    model.init_networks([torch.Generator().manual_seed(i) for i in range(g)])
    for conv in model.conv_layers():
        per = conv.out_channels // g
        k = conv.kernel_size[0] * conv.kernel_size[1]
        limit = glorot_limit(conv.in_channels // g * k, per * k)
        w = conv.weight.detach()
        m = w.abs().max().item()
        std_ratio = w.std().item() / (limit / math.sqrt(3))
        ok &= _check(f"Glorot per network {tuple(w.shape)}: max|w| {m:.4f} <= "
                     f"limit {limit:.4f}", m <= limit and m > 0.8 * limit
                     and abs(std_ratio - 1) < 0.15, f"std/expected {std_ratio:.3f}")
    limit = glorot_limit(128, 1)
    m = model.fc_weight.abs().max().item()
    ok &= _check("Glorot head (128 -> 1)", m <= limit and m > 0.8 * limit,
                 f"max|w| {m:.4f}, limit {limit:.4f}")
    w0 = model.stem.weight[:16].detach()
    w1 = model.stem.weight[16:32].detach()
    ok &= _check("networks get different inits", (w0 - w1).abs().max().item() > 0.01)
    return ok


def test_group_independence(size=32, epochs=2):
    """Net A trained alone gives the same scores as inside a group of 3."""
    rng = np.random.default_rng(0)
    n = 60
    x = rng.random((n, size, size), dtype=np.float32)
    y = (np.arange(n) % 2).astype(np.float32)
    x[y == 1, 10:14, 10:14] += 0.5
    x_all = torch.from_numpy(x)

    def nets():
        out = []
        for k in range(3):
            test = np.arange(k * 20, k * 20 + 5)
            train = np.setdiff1d(np.arange(n), test)[: 45 - 3 * k]
            out.append(NetSpec(0, "refit", (k,), 7, train, test,
                               np.full(len(test), k)))
        return out

    rt = Runtime(torch.device("cpu"), "fp32", "contiguous", "keras")
    quiet = lambda *a, **k: None  # noqa: E731
    steps = 3
    alone, _ = train_group(nets()[:1], x_all, y, rt, epochs=epochs, steps=steps,
                           log=quiet)
    group, _ = train_group(nets(), x_all, y, rt, epochs=epochs, steps=steps,
                           log=quiet)
    err = float(np.abs(alone[0] - group[0]).max())
    spread = float(np.abs(group[0] - group[1][: len(group[0])]).max())
    ok = _check("a net trained alone or in a lockstep group of 3 scores the "
                "same", err < 1e-3, f"max |logit diff| {err:.2e} (vs "
                f"{spread:.2e} between different nets)")
    again, _ = train_group(nets(), x_all, y, rt, epochs=epochs, steps=steps,
                           log=quiet)
    err2 = max(float(np.abs(a - b).max()) for a, b in zip(group, again))
    ok &= _check("training is reproducible (same group twice)", err2 < 1e-6,
                 f"max |logit diff| {err2:.2e}")
    return ok


def test_plan():
    ok = True
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    groups = rng.permutation(np.concatenate([np.arange(185),
                                             rng.integers(0, 185, 15)]))
    pair, refit = repeat_networks(y, groups, 0, [0, 1])
    ok &= _check("55 networks per seed (45 pair + 10 refit)",
                 len(pair) == 90 and len(refit) == 20)
    splits = outer_splits(y, groups, 0)
    good = True
    for net in pair + refit:
        held = np.concatenate([splits[f][1] for f in net.folds])
        good &= (set(net.test_idx) == set(held)
                 and not set(net.train_idx) & set(held)
                 and len(net.train_idx) + len(held) == 200)
    ok &= _check("train/held-out sets follow the folds", good)
    a, b = pair[0], pair[45]
    ok &= _check("seeds differ between networks",
                 a.seeds()[0] != b.seeds()[0] and a.entropy() != b.entropy())
    return ok


def test_model_shapes():
    """Keras 'same' stem padding and the feature-map sizes of the model."""
    ok = _check("TF 'same' pads of the 5x5/2 stem on 128 px are (1, 2)",
                same_pads(128, 5, 2) == (1, 2) and same_pads(32, 5, 2) == (1, 2))
    # a one-hot kernel tap (0, 0) reads input (2i - 1, 2j - 1) under TF 'same'
    for padding, want in (("keras", (6, 6)), ("symmetric", None)):
        m = GroupedCNN(1, stem_padding=padding).eval()
        got = []
        hook = m.stem.register_forward_hook(lambda mod, i, o, got=got: got.append(o))
        with torch.no_grad():
            m.stem.weight.zero_()
            m.stem.weight[:, 0, 0, 0] = 1.0
            x = torch.zeros(1, 1, 128, 128)
            x[0, 0, 11, 11] = 1.0
            m(x)                      # through the model's own forward
        hook.remove()
        out = got[0]
        hit = tuple(int(v) for v in (out[0, 0] == 1).nonzero()[0]) if (
            out[0, 0] == 1).any() else None
        if padding == "keras":
            ok &= _check("keras stem: output (6, 6) reads input (11, 11) as TF "
                         "'same' does", out.shape[-1] == 64 and hit == want,
                         f"shape {tuple(out.shape)}, hit {hit}")
        else:
            ok &= _check("symmetric stem: 64x64 output", out.shape[-1] == 64)
    sizes = []
    m = GroupedCNN(2)
    hooks = [c.register_forward_hook(lambda mod, i, o: sizes.append(tuple(o.shape[1:])))
             for c in m.conv_layers()]
    m.eval()(torch.rand(3, 2, 128, 128))
    for h in hooks:
        h.remove()
    want = [(32, 64, 64), (32, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8)]
    ok &= _check("conv outputs of G=2 nets on 128 px (2x 16@64, 16@64, 32@32, "
                 "64@16, 128@8; max pool to 4x4)", sizes == want, str(sizes))
    n_params = sum(p.numel() for p in GroupedCNN(1).parameters())
    ok &= _check("about 0.1 M weights per network", 90_000 < n_params < 130_000,
                 f"{n_params}")
    return ok


def run_self_tests():
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print("self-test: augmentation", flush=True)
    ok = test_augmentation()
    print("self-test: per-network Glorot init", flush=True)
    ok &= test_glorot()
    print("self-test: grouped model == separate networks", flush=True)
    ok &= test_grouped_equals_separate(torch.float64)
    ok &= test_grouped_equals_separate(torch.float32, size=64, steps=1)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        ok &= test_grouped_equals_separate(torch.float64, device="cuda")
        ok &= test_grouped_equals_separate(torch.float32, size=64, steps=1,
                                           device="cuda")
    print("self-test: model shapes and Keras padding", flush=True)
    ok &= test_model_shapes()
    print("self-test: CV plan", flush=True)
    ok &= test_plan()
    print("self-test: lockstep training independent of the group", flush=True)
    ok &= test_group_independence()
    print("self-test:", "ALL PASSED" if ok else "SOME FAILED", flush=True)
    return ok


if __name__ == "__main__":
    main()
