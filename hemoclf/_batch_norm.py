"""Batch normalisation whose training step runs as one TensorFlow kernel.

While training, Keras 3's ``BatchNormalization`` computes the batch mean and
variance with ``tf.nn.moments`` and normalises with
``tf.nn.batch_normalization``: a chain of element-wise operations over each
feature map, and as many again in the gradient. TensorFlow's
``FusedBatchNormV3`` kernel and its gradient kernel compute the same in one
operation each way. In the default network, whose first feature maps are
64x64x16, that takes about a fifth off a training epoch on one CPU thread,
and about a third off the default recipe's cross-validation with two folds
trained at once (``benchmarks/README.md``, "Training step").

:class:`FusedBatchNormalization` is Keras's layer with that one change: the
same weights, configuration, moving statistics and inference (its parent's
code), so a saved network, Grad-CAM, the folded inference copy and the ONNX
translation treat it as a ``BatchNormalization``. The fused kernel is used
only where it computes what the parent computes: in training, on the
TensorFlow backend, for float32 images with the channels last, without a
mask, renormalisation or synchronised statistics; everything else goes
through the parent's code. Results agree with the parent's to float32
rounding, not bit for bit: a network trained with one or the other is
another network from the same seed.
"""

_CLASS = None

# The smallest epsilon TensorFlow's fused kernel accepts.
_MIN_EPSILON = 1.001e-5


def fused_batch_norm_class():
    """Define the layer on first use, so importing hemoclf stays light.

    Returns
    -------
    cls : type
        ``FusedBatchNormalization``, a subclass of
        ``keras.layers.BatchNormalization`` registered for loading as
        ``"hemoclf>FusedBatchNormalization"``.
    """
    global _CLASS
    if _CLASS is not None:
        return _CLASS

    import keras

    @keras.saving.register_keras_serializable(package="hemoclf")
    class FusedBatchNormalization(keras.layers.BatchNormalization):
        """``keras.layers.BatchNormalization`` whose training step is fused.

        Takes the parent's arguments and computes what it computes. In
        training, for a float32 batch of images (rank 4, channels last) on
        the TensorFlow backend, it normalises with TensorFlow's
        ``FusedBatchNormV3`` kernel and updates the moving mean and
        variance as the parent does, with the biased batch variance; in
        every other case it runs the parent's code.
        """

        def call(self, inputs, training=None, mask=None):
            if training and self.trainable and self._fusable(inputs, mask):
                return self._fused_call(inputs)
            return super().call(inputs, training=training, mask=mask)

        def _fusable(self, inputs, mask):
            return (
                mask is None
                and keras.backend.backend() == "tensorflow"
                and len(inputs.shape) == 4
                and self.axis % 4 == 3
                and not self.renorm
                and not self.synchronized
                and self.epsilon >= _MIN_EPSILON
                and self.compute_dtype == "float32"
                and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            )

        def _fused_call(self, inputs):
            import tensorflow as tf

            channels = inputs.shape[-1]
            scale = self.gamma if self.scale else tf.ones([channels])
            offset = self.beta if self.center else tf.zeros([channels])
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, scale, offset, epsilon=self.epsilon,
                data_format="NHWC", is_training=True,
            )
            # The kernel returns the batch variance times n / (n - 1)
            # (Bessel's correction); the parent averages the biased one.
            count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), variance.dtype)
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            momentum = self.momentum
            self.moving_mean.assign(
                self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(
                self.moving_variance * momentum + variance * (1.0 - momentum))
            return outputs

    _CLASS = FusedBatchNormalization
    return _CLASS


def batch_norm_classes():
    """The batch-normalisation layer classes hemoclf folds at inference."""
    import keras

    return (keras.layers.BatchNormalization, fused_batch_norm_class())
