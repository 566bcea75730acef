"""Start an fcn16-skip model from an fcn16 checkpoint or model: every tensor is copied, and the
last conv (fcn16's decoder.13, fcn16-skip's decoder.14) gets zero weights for the skip's 32 new
input channels, so the new model computes exactly what the old one did.

usage: python3 from-fcn16.py FCN16.safetensors OUT.safetensors
"""
import json, struct, sys
import numpy as np

def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    meta = header.pop("__metadata__", {})
    kinds = {"F32": np.float32, "F16": np.float16}
    tensors = {k: np.frombuffer(blob[v["data_offsets"][0]:v["data_offsets"][1]], kinds[v["dtype"]]).reshape(v["shape"]).astype(np.float32)
               for k, v in header.items()}
    return tensors, meta

def write(path, tensors, meta):
    header, offset, blobs = {"__metadata__": meta}, 0, []
    for k in sorted(tensors):
        b = np.ascontiguousarray(tensors[k], np.float32).tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b); blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h); f.write(b"".join(blobs))

tensors, meta = read(sys.argv[1])
model = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
w = model.pop("decoder.13.weight")
model["decoder.14.weight"] = np.concatenate([w, np.zeros_like(w)], axis=1)
model["decoder.14.bias"] = model.pop("decoder.13.bias")
write(sys.argv[2], model, {"arch": "fcn16-skip", "channels": meta.get("channels", "3"),
                           "normalisation": meta.get("normalisation", ""), "from": sys.argv[1].split("/")[-1]})
