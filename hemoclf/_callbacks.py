"""Keras callbacks used inside :class:`~hemoclf.HemorrhageCNNClassifier`.

Kept apart from the classifier so that Keras is imported only when a network
is trained, and so that a pickled classifier finds the class again by name.
"""

import math

import keras


class CosineLearningRate(keras.callbacks.Callback):
    """Cosine decay of the learning rate over the epochs of one ``fit``.

    The rate of epoch ``e`` (counted from the first epoch of this ``fit``) is
    ``base * (1 + cos(pi * e / epochs)) / 2``: ``base`` at the start, close to
    zero at the end. When training ends the optimizer's rate is put back to
    ``base``, so that a warm-started ``fit`` runs a fresh cycle and the
    fitted model reports the rate it was configured with.

    Parameters
    ----------
    base : float
        The initial learning rate.
    epochs : int
        Epochs of one cycle.
    """

    def __init__(self, base, epochs):
        super().__init__()
        self.base = float(base)
        self.epochs = int(epochs)
        self._first_epoch = None

    def rate(self, epoch):
        """The learning rate of the ``epoch``-th epoch of the cycle."""
        return self.base * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))

    def on_train_begin(self, logs=None):
        self._first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
        self.model.optimizer.learning_rate = self.rate(epoch - self._first_epoch)

    def on_train_end(self, logs=None):
        self.model.optimizer.learning_rate = self.base
        # Keep no reference to the model: the callback is stored with the
        # fitted estimator's parameters and must pickle without it.
        self._model = None
        self._first_epoch = None
