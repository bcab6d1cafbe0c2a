"""Inference through ONNX Runtime.

TensorFlow's CPU kernels leave most of a small CNN's forward pass to
framework overhead and to convolutions tuned for wide layers: on the paper
CNN, Keras's compiled predict step runs 1024 images of 128x128x3 in about
0.19 s on two cores, where ONNX Runtime runs the same network, with the same
weights, in about 0.11 s. This module translates a trained Keras network
into an ONNX graph and scores images with ONNX Runtime.

The translation covers the layers hemoclf's architectures are made of, as
used there: ``Conv2D`` (channels last, ungrouped, undilated, ``"same"`` or
``"valid"`` padding), ``BatchNormalization`` (folded into the convolution or
dense layer before it, see :func:`hemoclf._inference._foldable_pairs`),
ReLU and sigmoid activations, ``MaxPooling2D``, global average and maximum
pooling, ``Concatenate`` of pooled features, ``Dense``, and the layers that
act only while training (``Dropout``, the augmentation layer). A network
with any other layer, a shared layer or several inputs or outputs is not
translated; :func:`onnx_scores` then returns ``None`` and the caller runs
the network through Keras.

Keras's own ``Model.export(path, format="onnx")`` (through tf2onnx, not a
dependency of hemoclf) gives the same graph for these networks, but takes
about 0.8 s per network (a SavedModel trace and a file) against under
0.01 s here, and a network is translated again after every fit: in a
10-fold cross-validation with inner threshold folds, or a test suite of
tiny networks, that cost would add up. The layers covered here are the
ones hemoclf builds.

The graph is built from the network's current weights and cached with its
ONNX Runtime session, keyed by the network and a digest of its weights: a
network that trains on (``warm_start``) is translated again the next time
it predicts.
"""

import hashlib
import os
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._inference import _foldable_pairs

ONNX_BATCH_SIZE = 16
OPSET = 17

# {model: (weights digest, session or None)}.
_SESSIONS = weakref.WeakKeyDictionary()


class Untranslatable(ValueError):
    """A network (or a layer of it) that the translation does not cover."""


def _inference_identity():
    """Layer classes that pass their input through at inference."""
    import keras

    from ._augmentation import _layer_class

    return (keras.layers.Dropout, keras.layers.SpatialDropout2D,
            keras.layers.GaussianNoise, keras.layers.GaussianDropout,
            _layer_class())


def _activation_name(layer):
    activation = layer.get_config().get("activation", "linear")
    if isinstance(activation, dict):  # a serialised activation object
        activation = activation.get("config", {}).get("name", activation)
    if activation in (None, "linear", "relu", "sigmoid"):
        return activation or "linear"
    raise Untranslatable(f"activation {activation!r} of layer {layer.name!r}")


class _GraphBuilder:
    """Collects ONNX nodes and initializers, naming tensors uniquely."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self._count = 0

    def name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint, array):
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(
            np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def node(self, op, inputs, hint, **attributes):
        from onnx import helper

        output = self.name(hint)
        self.nodes.append(helper.make_node(op, list(inputs), [output], **attributes))
        return output

    def activation(self, tensor, activation):
        if activation == "relu":
            return self.node("Relu", [tensor], "relu")
        if activation == "sigmoid":
            return self.node("Sigmoid", [tensor], "sigmoid")
        return tensor


def _folded_weights(layer, bn):
    """Kernel and bias of ``layer``, with ``bn`` (or nothing) folded in."""
    kernel = np.asarray(layer.kernel, dtype=np.float64)
    n_out = kernel.shape[-1]
    bias = (np.asarray(layer.bias, dtype=np.float64) if layer.use_bias
            else np.zeros(n_out))
    if bn is not None:
        scale = 1.0 / np.sqrt(np.asarray(bn.moving_variance, np.float64) + bn.epsilon)
        if bn.scale:
            scale = scale * np.asarray(bn.gamma, np.float64)
        shift = -np.asarray(bn.moving_mean, np.float64) * scale
        if bn.center:
            shift = shift + np.asarray(bn.beta, np.float64)
        kernel = kernel * scale
        bias = bias * scale + shift
    return kernel, bias


def _conv(graph, layer, tensor, bn):
    config = layer.get_config()
    if (config.get("data_format") == "channels_first"
            or config.get("groups", 1) != 1
            or set(np.atleast_1d(config.get("dilation_rate", 1))) != {1}
            or config.get("padding") not in ("same", "valid")):
        raise Untranslatable(f"Conv2D settings of layer {layer.name!r}")
    kernel, bias = _folded_weights(layer, bn)
    node = graph.node(
        "Conv",
        [tensor, graph.constant("kernel", kernel.transpose(3, 2, 0, 1)),
         graph.constant("bias", bias)],
        "conv",
        kernel_shape=list(kernel.shape[:2]),
        strides=[int(s) for s in layer.strides],
        auto_pad="SAME_UPPER" if config["padding"] == "same" else "VALID",
    )
    return graph.activation(node, _activation_name(layer))


def _dense(graph, layer, tensor, bn):
    kernel, bias = _folded_weights(layer, bn)
    node = graph.node("Gemm", [tensor, graph.constant("kernel", kernel),
                               graph.constant("bias", bias)], "dense")
    return graph.activation(node, _activation_name(layer))


def _pool(graph, layer, tensor):
    config = layer.get_config()
    if config.get("data_format") == "channels_first" or config.get("padding") not in (
        "same", "valid"
    ):
        raise Untranslatable(f"pooling settings of layer {layer.name!r}")
    return graph.node(
        "MaxPool", [tensor], "maxpool",
        kernel_shape=[int(s) for s in layer.pool_size],
        strides=[int(s) for s in layer.strides],
        auto_pad="SAME_UPPER" if config["padding"] == "same" else "VALID",
    )


def _global_pool(graph, layer, tensor, op):
    config = layer.get_config()
    if config.get("data_format") == "channels_first" or config.get("keepdims"):
        raise Untranslatable(f"global pooling settings of layer {layer.name!r}")
    return graph.node("Flatten", [graph.node(op, [tensor], "gpool")], "flat")


def translate(model):
    """Translate a Keras network into an ONNX model.

    Parameters
    ----------
    model : keras.Model
        A functional network with one image input ``(H, W, C)`` and one
        output unit.

    Returns
    -------
    onnx_model : onnx.ModelProto
        Takes ``image``, float32 ``(n, H, W, C)``, and returns ``score``,
        float32 ``(n, 1)``.

    Raises
    ------
    Untranslatable
        For a network with a layer or structure the translation does not
        cover.
    """
    import keras
    from onnx import TensorProto, helper

    if len(getattr(model, "inputs", None) or ()) != 1 or len(model.outputs) != 1:
        raise Untranslatable("not a functional network with one input and output")
    input_shape = tuple(model.inputs[0].shape)
    if len(input_shape) != 4 or tuple(model.outputs[0].shape[1:]) != (1,):
        raise Untranslatable("not an image network with one output unit")
    if any(w.dtype != "float32" for w in model.weights):
        raise Untranslatable("weights other than float32")
    pairs = _foldable_pairs(model)
    folded_bn = {id(bn) for bn in pairs.values()}
    identity = _inference_identity()

    graph = _GraphBuilder()
    # Keras tensors are NHWC; ONNX Runtime's convolutions take NCHW.
    tensors = {id(model.inputs[0]): graph.node("Transpose", ["image"], "nchw",
                                               perm=[0, 3, 1, 2])}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        # A layer may also be called in another network (the folded copy of
        # hemoclf._inference.inference_model shares this network's layers):
        # this network's call is the one whose inputs it has computed.
        nodes = [node for node in layer._inbound_nodes
                 if all(id(t) in tensors for t in node.input_tensors)]
        if len(nodes) != 1:
            raise Untranslatable(
                f"layer {layer.name!r}: shared within the network, or its "
                "inputs are not computed from the image")
        (node,) = nodes
        inputs = [tensors[id(t)] for t in node.input_tensors]
        kind = type(layer)
        if id(layer) in folded_bn or kind in identity:
            out = inputs[0]
        elif kind is keras.layers.Conv2D:
            out = _conv(graph, layer, inputs[0], pairs.get(layer.name))
        elif kind is keras.layers.Dense and len(node.input_tensors[0].shape) == 2:
            out = _dense(graph, layer, inputs[0], pairs.get(layer.name))
        elif kind is keras.layers.Activation:
            out = graph.activation(inputs[0], _activation_name(layer))
        elif kind is keras.layers.ReLU:
            config = layer.get_config()
            if (config.get("max_value") is not None or config.get("negative_slope")
                    or config.get("threshold")):
                raise Untranslatable(f"ReLU settings of layer {layer.name!r}")
            out = graph.activation(inputs[0], "relu")
        elif kind is keras.layers.MaxPooling2D:
            out = _pool(graph, layer, inputs[0])
        elif kind is keras.layers.GlobalAveragePooling2D:
            out = _global_pool(graph, layer, inputs[0], "GlobalAveragePool")
        elif kind is keras.layers.GlobalMaxPooling2D:
            out = _global_pool(graph, layer, inputs[0], "GlobalMaxPool")
        elif kind is keras.layers.Concatenate and all(
            len(t.shape) == 2 for t in node.input_tensors
        ) and layer.axis in (-1, 1):
            out = graph.node("Concat", inputs, "concat", axis=1)
        else:
            raise Untranslatable(f"layer {layer.name!r} of type {kind.__name__}")
        (output,) = node.output_tensors
        tensors[id(output)] = out
    if id(model.outputs[0]) not in tensors:
        raise Untranslatable("the output is not computed from the input")
    score = tensors[id(model.outputs[0])]
    graph.nodes.append(helper.make_node("Identity", [score], ["score"]))
    onnx_graph = helper.make_graph(
        graph.nodes,
        "hemoclf",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                       [None, *input_shape[1:]])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])],
        graph.initializers,
    )
    return helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _digest(model):
    digest = hashlib.blake2b(digest_size=16)
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).data)
    return digest.digest()


def n_threads():
    """Threads to score with: TensorFlow's intra-op setting where one is
    set (``tf.config.threading``, else ``TF_NUM_INTRAOP_THREADS``), else the
    cores this process may use."""
    try:
        import tensorflow as tf

        configured = int(tf.config.threading.get_intra_op_parallelism_threads())
    except (ImportError, RuntimeError):
        configured = 0
    if configured <= 0:
        variable = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
        configured = int(variable) if variable.strip().isdigit() else 0
    if configured > 0:
        return configured
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _new_session(model):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    try:
        onnx_model = translate(model)
    except Untranslatable:
        return None
    # One thread per call: onnx_scores runs batches side by side instead,
    # which was 10 to 25 % faster here than splitting each convolution
    # over the cores, and leaves no idle pool threads spinning next to
    # training that runs in the same process.
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(onnx_model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        warnings.warn(
            f"ONNX Runtime could not load the translation of network "
            f"{model.name!r} ({exc}); it is scored through Keras instead.",
            RuntimeWarning, stacklevel=4,
        )
        return None


def onnx_session(model):
    """The ONNX Runtime session that scores ``model``, or ``None``.

    ``None`` when ONNX Runtime is not installed or the network cannot be
    translated. Sessions are cached per network and weights.
    """
    digest = _digest(model)
    cached = _SESSIONS.get(model)
    if cached is None or cached[0] != digest:
        cached = (digest, _new_session(model))
        _SESSIONS[model] = cached
    return cached[1]


def onnx_scores(model, X, batch_size=ONNX_BATCH_SIZE, check=None):
    """Score the rows of ``X`` with ONNX Runtime, or return ``None``.

    Batches are scored side by side in :func:`n_threads` threads (ONNX
    Runtime releases the GIL while it runs), each batch in one thread.

    Parameters
    ----------
    model : keras.Model
    X : ndarray of shape (n, H, W, C)
        Float32 images.
    batch_size : int
        Rows per session call; memory is bounded by one batch of
        activations per thread.
    check : callable or None
        Called on each batch, in its thread, before it is scored.

    Returns
    -------
    scores : ndarray of shape (n,), float32, or None
        ``None`` when the network cannot run on ONNX Runtime.
    """
    session = onnx_session(model)
    if session is None:
        return None
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    scores = np.empty(n, dtype=np.float32)

    def score(start):
        stop = min(start + batch_size, n)
        if check is not None:
            check(X[start:stop])
        (out,) = session.run(None, {"image": X[start:stop]})
        scores[start:stop] = out.reshape(stop - start)

    starts = range(0, n, batch_size)
    workers = min(n_threads(), len(starts))
    if workers <= 1:
        for start in starts:
            score(start)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(score, starts):
                pass
    return scores
