"""The peer of `logsentinel bench detect`: the same sequence model in ONNX Runtime, window recompute.

`bench detect` exports a model (its weights as safetensors, its shape and a few scored windows as
JSON) to a directory per model. For each, this script

1. builds the model as an ONNX graph (the graph a PyTorch export of the architecture gives: token
   embedding, pre-norm blocks with rotary positions and a sliding-window causal mask, tanh GELU, final
   LayerNorm, tied output head) over a window of the last `window_len` tokens, the receptive field of
   the last position, so one run gives the exact next-token distribution of a session of any length;
2. checks that it computes the same function: the negative log-likelihoods of the exported windows'
   targets against the ones logsentinel's incremental engine computed (`max_abs_nll_diff`);
3. times ONNX Runtime (one intra-op and one inter-op thread, all graph optimisations) scoring a batch
   of windows and a single window, repeated for at least `--seconds`.

It also measures this machine's f32 matrix rate: numpy's sgemm (OpenBLAS) on one thread.
One JSON object per line on stdout.

Usage: onnx_peer.py [--seconds S] MODEL_DIR [MODEL_DIR ...]
"""

import argparse
import json
import os
import struct
import sys
import time

# One thread everywhere: the comparison is per core.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = 20  # Gelu with approximate="tanh"
GELU_TANH = "tanh"


def read_safetensors(path):
    """The f32 tensors of a safetensors file, by name."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {entry['dtype']}, expected F32")
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(entry["shape"])
    return tensors


class Graph:
    """A small builder of ONNX nodes with generated names."""

    def __init__(self):
        self.nodes = []
        self.inits = []
        self.count = 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, array, hint="c"):
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def op(self, op_type, inputs, hint=None, outputs=1, **attrs):
        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        # Named nodes: onnxruntime's fusions derive new node names from them (empty names collide).
        node_name = self.name(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, names, name=node_name, **attrs))
        return names[0] if outputs == 1 else names


def rope_tables(cfg, length):
    """`[length, head_dim]` cos and sin (halves repeated), angles in f64 as logsentinel computes them."""
    hd = cfg["d_model"] // cfg["n_heads"]
    half = hd // 2
    inv = 1.0 / (cfg["rope_theta"] ** (np.arange(half, dtype=np.float64) * 2.0 / hd))
    ang = np.arange(length, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.cos(ang).astype(np.float32)
    sin = np.sin(ang).astype(np.float32)
    return np.concatenate([cos, cos], axis=1), np.concatenate([sin, sin], axis=1)


def window_mask(length, window):
    """Additive sliding-window causal mask `[length, length]`."""
    mask = np.full((length, length), -np.inf, dtype=np.float32)
    for p in range(length):
        mask[p, max(0, p - window + 1) : p + 1] = 0.0
    return mask


def build_model(cfg, w, length):
    """The ONNX model: ids `[B, length]` (int64) -> log-probabilities of the next token `[B, vocab]`."""
    g = Graph()
    d, heads = cfg["d_model"], cfg["n_heads"]
    hd = d // heads
    half = hd // 2
    cos, sin = rope_tables(cfg, length)
    cos_c, sin_c = g.const(cos, "cos"), g.const(sin, "sin")
    mask_c = g.const(window_mask(length, cfg["window"]), "mask")
    scale_c = g.const(np.float32(1.0 / np.sqrt(hd)), "scale")
    neg_c = g.const(np.float32(-1.0), "neg")
    split_c = g.const(np.array([half, half], dtype=np.int64), "split")
    shape_heads = g.const(np.array([0, length, 3, heads, hd], dtype=np.int64), "shape")
    shape_back = g.const(np.array([0, length, d], dtype=np.int64), "shape")

    def rope(x):
        x1, x2 = g.op("Split", [x, split_c], outputs=2, axis=-1)
        rotated = g.op("Concat", [g.op("Mul", [x2, neg_c]), x1], axis=-1)
        return g.op("Add", [g.op("Mul", [x, cos_c]), g.op("Mul", [rotated, sin_c])])

    def linear(x, prefix):
        return g.op(
            "Add", [g.op("MatMul", [x, g.const(w[prefix + ".weight"])]), g.const(w[prefix + ".bias"])]
        )

    embed = g.const(w["embed"], "embed")
    x = g.op("Gather", [embed, "ids"], axis=0)
    for i in range(cfg["n_layers"]):
        p = f"blocks.{i}."
        xn = g.op(
            "LayerNormalization",
            [x, g.const(w[p + "ln1.weight"]), g.const(w[p + "ln1.bias"])],
            axis=-1,
            epsilon=1e-5,
        )
        qkv = g.op("Reshape", [linear(xn, p + "attn.qkv"), shape_heads])
        qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # [3, B, H, L, hd]
        q, k, v = (
            g.op("Gather", [qkv, g.const(np.array(j, dtype=np.int64), "idx")], axis=0)
            for j in range(3)
        )
        q, k = rope(q), rope(k)
        scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
        scores = g.op("Add", [g.op("Mul", [scores, scale_c]), mask_c])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), shape_back])
        x = g.op("Add", [x, linear(ctx, p + "attn.out")])
        xn = g.op(
            "LayerNormalization",
            [x, g.const(w[p + "ln2.weight"]), g.const(w[p + "ln2.bias"])],
            axis=-1,
            epsilon=1e-5,
        )
        ff = g.op("Gelu", [linear(xn, p + "ffn.up")], approximate=GELU_TANH)
        x = g.op("Add", [x, linear(ff, p + "ffn.down")])
    last = g.op("Gather", [x, g.const(np.array(length - 1, dtype=np.int64), "idx")], axis=1)
    h = g.op(
        "LayerNormalization",
        [last, g.const(w["final_ln.weight"]), g.const(w["final_ln.bias"])],
        axis=-1,
        epsilon=1e-5,
    )
    logits = g.op(
        "Add",
        [g.op("MatMul", [h, g.const(np.ascontiguousarray(w["embed"].T), "embed_t")]),
         g.const(w["head.bias"])],
    )
    g.nodes.append(helper.make_node("LogSoftmax", [logits], ["logp"], name="log_softmax", axis=-1))
    graph = helper.make_graph(
        g.nodes,
        "logsentinel_seq",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", length])],
        [helper.make_tensor_value_info("logp", TensorProto.FLOAT, ["batch", cfg["vocab_size"]])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9  # what onnxruntime 1.20 reads
    onnx.checker.check_model(model)
    return model


def session_of(model):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def lines_per_second(sess, ids, seconds):
    """Windows scored per second, running the batch `ids` repeatedly for at least `seconds`."""
    sess.run(None, {"ids": ids})  # warm
    runs, start = 0, time.perf_counter()
    while True:
        sess.run(None, {"ids": ids})
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return runs * ids.shape[0] / elapsed


def sgemm_gflops(n=1024, seconds=1.0):
    """The best f32 matrix-product rate of numpy (OpenBLAS) on one thread, GFLOP/s."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        a @ b
        best = max(best, 2.0 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def run_model(model_dir, seconds):
    with open(os.path.join(model_dir, "model.json")) as f:
        spec = json.load(f)
    cfg, length, batch = spec["config"], spec["window_len"], spec["batch"]
    weights = read_safetensors(os.path.join(model_dir, "weights.safetensors"))
    sess = session_of(build_model(cfg, weights, length))
    check = spec["check"]
    ids = np.array([c["window"] for c in check], dtype=np.int64)
    logp = sess.run(None, {"ids": ids})[0]
    peer_nll = -logp[np.arange(len(check)), [c["target"] for c in check]]
    ours = np.array([c["nll"] for c in check], dtype=np.float64)
    rng = np.random.default_rng(2)
    first = spec["first_template_token"]
    windows = rng.integers(first, cfg["vocab_size"], size=(batch, length), dtype=np.int64)
    return {
        "model": spec["name"],
        "window_len": length,
        "checked": len(check),
        "max_abs_nll_diff": float(np.max(np.abs(peer_nll - ours))),
        "lines_per_s_batch": lines_per_second(sess, windows, seconds),
        "lines_per_s_single": lines_per_second(sess, windows[:1], seconds),
        "batch": batch,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("model_dirs", nargs="+")
    args = parser.parse_args()
    print(json.dumps({"onnxruntime": ort.__version__, "sgemm_gflops": sgemm_gflops()}), flush=True)
    for model_dir in args.model_dirs:
        print(json.dumps(run_model(model_dir, args.seconds)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
