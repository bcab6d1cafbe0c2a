"""Batched inference through Keras's compiled predict step.

``keras.Model.predict`` wraps every call in a ``tf.data`` pipeline, a progress
callback and an epoch iterator; on small CPU batches that machinery costs more
than the forward pass itself. ``Model.predict_on_batch`` runs the same
compiled step that ``predict`` uses (``Model.predict_function``, traced once
and cached on the model) without that machinery, so slicing the input into
batches ourselves gives the same numbers several times faster.
"""

import numpy as np

PREDICT_BATCH_SIZE = 256


def predict_scores(model, X, batch_size=PREDICT_BATCH_SIZE):
    """Return the model's single output for every row of ``X``.

    Parameters
    ----------
    model : keras.Model
        A model with one output unit.
    X : ndarray of shape (n, H, W, C)
        Float32 images.
    batch_size : int
        Rows per compiled call; memory is bounded by one batch of
        activations.

    Returns
    -------
    scores : ndarray of shape (n,), float32
    """
    n = X.shape[0]
    scores = np.empty(n, dtype=np.float32)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        out = model.predict_on_batch(X[start:stop])
        scores[start:stop] = np.asarray(out, dtype=np.float32).reshape(stop - start)
    return scores
