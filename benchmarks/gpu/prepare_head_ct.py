"""Write the real head_ct images, as the default recipe feeds them, to one file.

``seed_ensembles.py`` runs where neither hemoclf nor TensorFlow is installed
(a GPU machine with PyTorch), so the images go there preprocessed: cropped
to the head, gray, 128x128, aspect kept, in [0, 1] (``ResizeRescale`` with
the default recipe's settings), with the labels and the near-duplicate
groups of ``load_head_ct``::

    python benchmarks/gpu/prepare_head_ct.py ../shared/data/head_ct \\
        benchmarks/gpu/head_ct_default128.npz

The output holds images of a licensed data set: keep it out of the
repository.
"""

import argparse

import numpy as np

from hemoclf import ResizeRescale
from hemoclf._recipes import RECIPE_PREPROCESSING
from hemoclf.datasets import load_head_ct


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("head_ct", help="the head_ct folder (labels.csv, NNN.png)")
    parser.add_argument("out", help="the .npz file to write")
    args = parser.parse_args(argv)
    data = load_head_ct(args.head_ct, progress=False)
    X = ResizeRescale(**RECIPE_PREPROCESSING["default"]).fit_transform(data.images)
    np.savez_compressed(args.out, X=X.astype(np.float32), y=data.target,
                        groups=data.groups)
    print(f"{args.out}: {X.shape[0]} images {X.shape[1:]}, "
          f"{int(data.target.sum())} hemorrhage, "
          f"{len(np.unique(data.groups))} near-duplicate groups")


if __name__ == "__main__":
    main()
