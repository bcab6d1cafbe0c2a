"""
======================================
The head CT phantom and its CT windows
======================================

:func:`~hemoclf.datasets.make_head_ct` draws synthetic axial head CT slices
in Hounsfield units (HU), with one bleed of fresh blood on the positive
slices. This example shows one slice of each hemorrhage type, then one
slice through the three windows that :class:`~hemoclf.preprocessing.CTWindow`
stacks as the network's input channels.
"""

# %%
# One slice of each hemorrhage type
# ---------------------------------
# ``hemorrhage_types`` restricts the types drawn; drawing one type at a time
# gives one example of each. The outline marks the bleed (``masks``).

import matplotlib.pyplot as plt
import numpy as np

from hemoclf.datasets import HEMORRHAGE_TYPES, make_head_ct
from hemoclf.preprocessing import CTWindow

brain = CTWindow(windows=["brain"])
fig, axes = plt.subplots(1, len(HEMORRHAGE_TYPES) + 1, figsize=(13, 2.8))
normal = make_head_ct(4, image_size=128, random_state=0)
first_normal = int(np.flatnonzero(normal.target == 0)[0])
axes[0].imshow(brain.transform(normal.images[[first_normal]])[0, ..., 0],
               cmap="gray")
axes[0].set_title("normal")
for ax, kind in zip(axes[1:], HEMORRHAGE_TYPES):
    data = make_head_ct(4, image_size=128, weights=[0.0],
                        hemorrhage_types=[kind], random_state=1)
    ax.imshow(brain.transform(data.images[:1])[0, ..., 0], cmap="gray")
    ax.contour(data.masks[0], levels=[0.5], colors="red", linewidths=0.8)
    ax.set_title(kind)
for ax in axes:
    ax.set_axis_off()
fig.suptitle("Brain window (40/80 HU); red: the bleed's outline")
fig.tight_layout()

# %%
# Values in Hounsfield units
# --------------------------
# Air is -1000 HU, brain around +30 to +40, fresh blood +50 to +88, bone
# up to +1600: far more range than a display shows at once.

data = make_head_ct(8, image_size=128, random_state=0)
slice_hu = data.images[int(np.flatnonzero(data.target == 1)[0])]
print(f"HU range of one slice: {slice_hu.min():.0f} to {slice_hu.max():.0f}")
print("bleed pixels (mean HU):",
      round(float(slice_hu[data.masks[np.flatnonzero(data.target == 1)[0]]].mean())))

# %%
# The three default windows
# -------------------------
# Each window ``(center, width)`` maps ``[center - width/2, center +
# width/2]`` onto ``[0, 1]``. The brain window separates blood from brain,
# the subdural window a thin collection from the skull, the soft-tissue
# window shows the whole head. ``CTWindow()`` stacks the three as channels.

windows = CTWindow().transform(slice_hu[np.newaxis])[0]  # (128, 128, 3)
titles = ["brain 40/80", "subdural 80/200", "soft tissue 40/380"]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for k, (ax, title) in enumerate(zip(axes, titles)):
    ax.imshow(windows[..., k], cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
axes[3].imshow(windows)
axes[3].set_title("stacked as RGB")
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
plt.show()
