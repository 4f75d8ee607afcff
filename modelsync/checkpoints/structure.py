"""The structure around a checkpoint's tensors, as a JSON tree that loads without running code.

A checkpoint is a tree of containers (dicts, lists, tuples, ``OrderedDict``) whose leaves are
tensors and plain values (epoch, step, learning rates, hyper-parameters, loop state). The tree is
stored as JSON inside the manifest: JSON arrays are lists, JSON scalars are themselves, and every
JSON object is a node whose ``"$"`` field says what it stands for::

    {"$": "dict", "items": [[key, value], ...], "class": "collections.OrderedDict"}
    {"$": "tuple" | "set" | "frozenset" | "size", "items": [...]}
    {"$": "tensor", "id": 3, "param": true, "grad": true}     (index into the tensor table)
    {"$": "ndarray", "id": 4, "scalar": true}                  (numpy, through the tensor table)
    {"$": "bytes" | "bytearray", "hex": "..."}   {"$": "complex", "real": 1.0, "imag": 2.0}
    {"$": "dtype" | "device", "name": "float32"}  {"$": "str", "hex": "..."} (not valid UTF-8)
    {"$": "path", "value": "data/train"}  {"$": "namespace", "items": [[name, value], ...]}
    {"$": "pickle", "class": "fractions.Fraction", "hex": "..."}

Dict keys keep their types and order. A ``dict`` subclass is restored only when its class is in
``SAFE_DICT_CLASSES``; anything else is stored as a ``pickle`` node, which decoding refuses
(``UnsafeLoad``, naming the class and where it is) unless the caller passed ``trusted=True``.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import pickle
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import UnsafeLoad, UsageError
from ..model.objects import JSONValue, MalformedObject, canonical_json
from .tensors import dtype_from_name

SAFE_DICT_CLASSES = frozenset(
    {
        "collections.OrderedDict",
        "lightning_fabric.utilities.data.AttributeDict",
        "lightning.fabric.utilities.data.AttributeDict",
        "pytorch_lightning.utilities.parsing.AttributeDict",
        "lightning.pytorch.utilities.parsing.AttributeDict",
    }
)

TensorSink = Callable[[Any, str], int]
"""``(tensor, path) -> index`` in the tensor table; called for every tensor met while encoding."""

TensorSource = Callable[[int], Any]
"""``index -> tensor``: the loaded tensor of that index in the tensor table."""


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def child_path(path: str, key: object) -> str:
    """How a value nested under ``key`` is named in listings: ``state_dict/layer.weight``."""
    return f"{path}/{key}" if path else str(key)


class _Encoder:
    def __init__(self, add_tensor: TensorSink) -> None:
        self.add_tensor = add_tensor
        # No value can be a tensor or an array unless its library is already imported.
        self.torch: Any = sys.modules.get("torch")
        self.numpy: Any = sys.modules.get("numpy")

    def encode(self, value: Any, path: str) -> JSONValue:
        cls = type(value)
        if value is None or cls in (bool, int, float):
            return value
        if cls is str:
            return value if _utf8_encodable(value) else {"$": "str", "hex": _surrogate_hex(value)}
        if cls is list:
            return [self.encode(v, child_path(path, i)) for i, v in enumerate(value)]
        if isinstance(value, dict) and (cls is dict or qualified_name(cls) in SAFE_DICT_CLASSES):
            node: dict[str, JSONValue] = {"$": "dict", "items": self._items(value, path)}
            if cls is not dict:
                node["class"] = qualified_name(cls)
            return node
        if cls in (tuple, set, frozenset):
            items = value if cls is tuple else sorted(value, key=repr)
            encoded = [self.encode(v, child_path(path, i)) for i, v in enumerate(items)]
            return {"$": cls.__name__, "items": encoded}
        if cls in (bytes, bytearray):
            return {"$": cls.__name__, "hex": bytes(value).hex()}
        if cls is complex:
            return {"$": "complex", "real": value.real, "imag": value.imag}
        if isinstance(value, pathlib.PurePath) and cls.__module__ == "pathlib":
            return {"$": "path", "value": str(value)}
        if cls is argparse.Namespace:
            return {"$": "namespace", "items": self._items(vars(value), path)}
        torch, numpy = self.torch, self.numpy
        if torch is not None:
            if isinstance(value, torch.Tensor):
                return self._tensor(value, path)
            if cls is torch.Size:
                return {"$": "size", "items": list(value)}
            if cls is torch.dtype:
                return {"$": "dtype", "name": str(value).removeprefix("torch.")}
            if cls is torch.device:
                return {"$": "device", "name": str(value)}
        if numpy is not None and isinstance(value, numpy.ndarray | numpy.generic):
            encoded_array = self._ndarray(value, path)
            if encoded_array is not None:
                return encoded_array
        return _pickled(value, path)

    def _items(self, value: dict[Any, Any], path: str) -> list[JSONValue]:
        items: list[JSONValue] = []
        for key, item in value.items():
            if self.torch is not None and isinstance(key, self.torch.Tensor):
                raise UsageError(
                    f"cannot store a dict keyed by tensors at {path or 'the top level'}"
                )
            encoded_key = self.encode(key, path)
            items.append([encoded_key, self.encode(item, child_path(path, key_label(encoded_key)))])
        return items

    def _tensor(self, tensor: Any, path: str) -> JSONValue:
        node: dict[str, JSONValue] = {"$": "tensor", "id": self.add_tensor(tensor, path)}
        if isinstance(tensor, self.torch.nn.Parameter):
            node["param"] = True
        if tensor.requires_grad:
            node["grad"] = True
        return node

    def _ndarray(self, value: Any, path: str) -> JSONValue | None:
        import torch

        try:
            tensor = torch.from_numpy(self.numpy.array(value, copy=True, order="C"))
        except (TypeError, ValueError, RuntimeError):  # object, string, big-endian arrays...
            return None
        node: dict[str, JSONValue] = {"$": "ndarray", "id": self.add_tensor(tensor, path)}
        if isinstance(value, self.numpy.generic):
            node["scalar"] = True
        return node


def _utf8_encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_hex(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").hex()


def _pickled(value: object, path: str) -> JSONValue:
    cls = qualified_name(type(value))
    try:
        payload = pickle.dumps(value)
    except Exception as exc:  # pickling runs arbitrary __reduce__ code: any error can surface
        raise UsageError(
            f"cannot store the {cls} at {path or 'the top level'}: it is not a tensor or a plain "
            f"value, and it cannot be pickled ({exc})"
        ) from exc
    return {"$": "pickle", "class": cls, "hex": payload.hex()}


def encode_structure(value: Any, add_tensor: TensorSink) -> JSONValue:
    """The JSON tree for ``value``; ``add_tensor`` is called for each tensor in visiting order."""
    return _Encoder(add_tensor).encode(value, "")


def key_label(encoded_key: JSONValue) -> str:
    """How a dict key shows in a path: itself when a scalar, else its stored JSON."""
    if isinstance(encoded_key, dict | list):
        return canonical_json(encoded_key).decode("utf-8")
    return str(encoded_key)


# ------------------------------------------------------------------------------------ decoding
def special_nodes(node: JSONValue, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, node)`` for every tensor, array and pickle node of a stored tree, in order.

    Reads the JSON only: nothing is decoded, so it is safe on any input.
    """
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from special_nodes(item, child_path(path, i))
        return
    if not isinstance(node, dict):
        return
    kind = node.get("$")
    if kind in ("tensor", "ndarray", "pickle"):
        yield path, node
    elif kind in ("dict", "namespace"):
        for pair in node.get("items") or []:
            if isinstance(pair, list) and len(pair) == 2:
                yield from special_nodes(pair[0], path)
                yield from special_nodes(pair[1], child_path(path, key_label(pair[0])))
    elif kind in ("tuple", "set", "frozenset"):
        items = node.get("items")
        for i, item in enumerate(items if isinstance(items, list) else []):
            yield from special_nodes(item, child_path(path, i))


def pickled_values(structure: JSONValue) -> list[tuple[str, str]]:
    """``(path, class)`` of every pickled value in a stored tree, found without unpickling."""
    return [
        (path or "the top level", str(node.get("class")))
        for path, node in special_nodes(structure)
        if node.get("$") == "pickle"
    ]


def tensor_paths(structure: JSONValue) -> list[tuple[str, int]]:
    """``(path, tensor index)`` for every place a tensor sits (tied tensors appear twice)."""
    return [
        (path, node["id"])
        for path, node in special_nodes(structure)
        if node.get("$") == "tensor" and type(node.get("id")) is int
    ]


def refuse_pickles(structure: JSONValue, where: str) -> None:
    """Raise ``UnsafeLoad`` if decoding ``structure`` would unpickle anything."""
    for path, cls in pickled_values(structure):
        raise UnsafeLoad(
            f"{where} holds a pickled {cls} at {path}; loading it would run code stored in the "
            "repository. Pass trusted=True (--trusted) only if you trust whoever wrote it"
        )


class _Decoder:
    def __init__(self, tensor_at: TensorSource, trusted: bool) -> None:
        self.tensor_at = tensor_at
        self.trusted = trusted
        self._wrapped: dict[tuple[int, bool, bool], Any] = {}

    def decode(self, node: JSONValue) -> Any:
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            return [self.decode(item) for item in node]
        if not isinstance(node, dict):
            raise MalformedObject(f"unexpected {type(node).__name__} in checkpoint structure")
        kind = node.get("$")
        try:
            decoder = getattr(self, f"_decode_{kind}")
        except (AttributeError, TypeError):
            raise MalformedObject(f"unknown checkpoint structure node {kind!r}") from None
        try:
            return decoder(node)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, MalformedObject):
                raise
            raise MalformedObject(f"malformed {kind} node in checkpoint structure: {exc}") from exc

    def _decode_dict(self, node: dict[str, Any]) -> Any:
        items = [(self.decode(k), self.decode(v)) for k, v in node["items"]]
        if "class" not in node:
            return dict(items)
        return _safe_dict_class(str(node["class"]))(items)

    def _decode_tuple(self, node: dict[str, Any]) -> Any:
        return tuple(self.decode(item) for item in node["items"])

    def _decode_set(self, node: dict[str, Any]) -> Any:
        return {self.decode(item) for item in node["items"]}

    def _decode_frozenset(self, node: dict[str, Any]) -> Any:
        return frozenset(self.decode(item) for item in node["items"])

    def _decode_size(self, node: dict[str, Any]) -> Any:
        import torch

        return torch.Size(int(n) for n in node["items"])

    def _decode_bytes(self, node: dict[str, Any]) -> Any:
        return bytes.fromhex(node["hex"])

    def _decode_bytearray(self, node: dict[str, Any]) -> Any:
        return bytearray.fromhex(node["hex"])

    def _decode_str(self, node: dict[str, Any]) -> Any:
        return bytes.fromhex(node["hex"]).decode("utf-8", "surrogatepass")

    def _decode_path(self, node: dict[str, Any]) -> Any:
        return pathlib.Path(str(node["value"]))

    def _decode_namespace(self, node: dict[str, Any]) -> Any:
        return argparse.Namespace(**{str(k): v for k, v in self._decode_dict(node).items()})

    def _decode_complex(self, node: dict[str, Any]) -> Any:
        return complex(float(node["real"]), float(node["imag"]))

    def _decode_dtype(self, node: dict[str, Any]) -> Any:
        return dtype_from_name(str(node["name"]))

    def _decode_device(self, node: dict[str, Any]) -> Any:
        import torch

        try:
            return torch.device(str(node["name"]))
        except RuntimeError as exc:
            raise MalformedObject(f"bad device {node['name']!r}") from exc

    def _decode_tensor(self, node: dict[str, Any]) -> Any:
        index = node["id"]
        param, grad = bool(node.get("param")), bool(node.get("grad"))
        key = (index, param, grad)
        if key not in self._wrapped:
            self._wrapped[key] = _wrap(self.tensor_at(index), param, grad)
        return self._wrapped[key]

    def _decode_ndarray(self, node: dict[str, Any]) -> Any:
        array = self.tensor_at(node["id"]).cpu().numpy()
        return array[()] if node.get("scalar") else array

    def _decode_pickle(self, node: dict[str, Any]) -> Any:
        if not self.trusted:
            raise UnsafeLoad(
                f"the checkpoint holds a pickled {node.get('class')}; pass trusted=True to load it"
            )
        return pickle.loads(bytes.fromhex(node["hex"]))


def _wrap(tensor: Any, param: bool, grad: bool) -> Any:
    import torch

    if param:
        return torch.nn.Parameter(tensor, requires_grad=grad)
    if grad:
        return tensor.detach().requires_grad_(True)
    return tensor


def _safe_dict_class(name: str) -> type[dict[Any, Any]]:
    if name not in SAFE_DICT_CLASSES:
        raise MalformedObject(f"dict class {name!r} is not one a checkpoint may restore")
    module, _, attr = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return dict
    if not (isinstance(cls, type) and issubclass(cls, dict)):
        raise MalformedObject(f"{name} is not a dict class")
    return cls


def decode_structure(structure: JSONValue, tensor_at: TensorSource, *, trusted: bool) -> Any:
    """Rebuild the value a structure describes; tensors come from ``tensor_at``.

    Two references to one stored tensor give back one tensor object, so tied weights stay tied.
    """
    return _Decoder(tensor_at, trusted).decode(structure)
