#!/usr/bin/env python3
"""Writes fuzz/seeds/kv_file/small.bin: the body of a small, valid cache file (sizes, JSON header,
state), as the kv_file target wraps its input (magic and version before, checksum after). A tiny
model: 2 layers, 1 KV head of 32, f16, flash attention, 3 cells, per-layer rows 3 and 2."""
import json, os, struct

cells, rows = [0, 1, 9], [3, 2]
header = {
    "model": {"arch": "llama", "name": "tiny", "n_layer": 2, "n_embd": 64, "n_head": 2, "n_head_kv": 1, "n_ctx_train": 512,
              "recurrent": False, "n_swa": None, "swa_layers": [False, False], "head_dim_k": 32, "head_dim_v": 32,
              "gguf_sha256": "00" * 32},
    "type_k": "f16", "type_v": "f16", "flash_attn": True,
    "compress": {"ratio": 0.25, "method": "kvcompose", "chunk": 64, "prefill": "layers", "scorer": "repeat",
                 "scores": {"group": "mean", "add_head_mean": True, "pool": 0}, "local": False,
                 "budget_mode": "global", "layer_floor": 0.0},
    "template": {"prefix": "Document:\n", "tail_before_question": "\n\nQuestion: ", "tail_after_question": "\nAnswer:", "templated": False},
    "prefix_tokens": 2, "doc_tokens": 8, "doc_sha256": "00" * 32,
    "stats": {"cells_full": 10, "cells_kept": 3, "steps": 1, "t_prefill_ms": 0.0, "t_score_ms": 0.0, "t_compress_ms": 0.0,
              "layer_budgets_global": rows, "layer_cells": rows, "alloc_cells_peak": 0, "compressed_layers": [0, 1]},
    "positions": cells, "n_blocks": 1,
}
state = struct.pack("<IiII", 0xAF143CD8, 0, 1, len(cells))
for p in cells:
    state += struct.pack("<iIi", p, 1, 0)
state += struct.pack("<IIII", 2, len(rows), 0, 0)  # V not transposed, rows counted
for part in range(2):  # K then V
    for l, n in enumerate(rows):
        state += struct.pack("<iQI", 1, 64, n) + bytes((i * (l + 3 + part)) % 251 for i in range(n * 64))
h = json.dumps(header).encode()
body = struct.pack("<Q", len(h)) + h + struct.pack("<Q", len(state)) + state
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "kv_file", "small.bin")
os.makedirs(os.path.dirname(out), exist_ok=True)
open(out, "wb").write(body)
print(out, len(body))
