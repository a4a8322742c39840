"""Import and export checkpoints of the reference LeWM (stable-worldmodel / le-wm).

Three modules: :mod:`~lewm.reference.keys` (the parameter-name and shape rules between the two
state dicts), :mod:`~lewm.reference.configs` (the reference ``config.json`` <-> our
:class:`~lewm.config.ModelConfig`) and :mod:`~lewm.reference.io` (reading and writing the
released files and run directories). The format, for all three:

The reference releases a model as ``weights.pt`` (a plain state dict, possibly wrapped in
``{"state_dict": ...}`` or ``{"model": ...}``) plus ``config.json``::

    {"encoder":        {"size": "tiny", "patch_size": 14, "image_size": 224, ...ViTConfig kwargs},
     "predictor":      {"num_frames", "input_dim", "hidden_dim", "output_dim", "depth", "heads",
                        "mlp_dim", "dim_head", "dropout", "emb_dropout"},
     "action_encoder": {"input_dim": K, "emb_dim": D, ["smoothed_dim", "mlp_scale"]},
     "projector":      {"input_dim", "output_dim", "hidden_dim"},
     "pred_proj":      {"input_dim", "output_dim", "hidden_dim"}}

(``_target_`` / ``norm_fn`` entries of Hydra configs are accepted and checked.) Parameter names:

- encoder: a Hugging Face ``ViTModel`` without pooler. "Old" naming is HF's own
  (``encoder.encoder.layer.{i}.attention.attention.query``, ``attention.output.dense``,
  ``intermediate.dense``, ``output.dense``); "new" naming is transformers 5's (checked with 5.24),
  which le-wm's ``load_weights.py`` also translates old checkpoints into
  (``encoder.layers.{i}.attention.q_proj`` / ``k_proj`` / ``v_proj`` / ``o_proj``,
  ``mlp.fc1``, ``mlp.fc2``). Both are read; export writes either (default old, as released;
  ``naming="new"`` loads strictly into a reference LeWM built with transformers 5). HF keeps
  q, k and v as three linears; ours is one fused ``qkv`` linear with the rows in (q, k, v)
  order, so import concatenates and export splits.
- predictor ``predictor.pos_embedding``, ``predictor.transformer.layers.{i}.{attn.norm,
  attn.to_qkv, attn.to_out.0, mlp.net.*, adaLN_modulation.1}``, ``predictor.transformer.norm``;
  the fused ``to_qkv`` has the same (q | k | v, heads-major) row layout as ours: copied as is.
- action encoder ``action_encoder.patch_embed`` is a kernel-1 ``Conv1d`` (weight (small, K, 1));
  ours is the same map as ``nn.Linear`` (weight (small, K)): a reshape.
- projector / pred_proj (``net.0``, BatchNorm ``net.1`` with its running statistics, ``net.3``)
  have our names already.

Unused HF parts (``encoder.pooler.*``, ``encoder.embeddings.mask_token``) are dropped with a
warning; every other key must be known and of the expected shape, else :class:`CheckpointError`
names it. Files are read with ``torch.load(weights_only=True)``: nothing is unpickled.

One numerical difference is not a weight: HF's ViT LayerNorms use ``layer_norm_eps`` (default
1e-12), our default is 1e-6. The effect is small (measured by the parity benchmark: 2e-4 on
embeddings of magnitude ~1, a ViT 192 x 6 at 64 px) but above float32 round-off, so import
carries the checkpoint's value into ``model.enc_ln_eps`` and export writes ours into
``encoder.layer_norm_eps``: both directions compute exactly what the other side does.
"""

from lewm.reference.configs import (
    model_config_from_reference,
    reference_config,
    vit_layer_norm_eps,
)
from lewm.reference.io import (
    export_reference,
    export_run_dir,
    import_reference,
    import_to_run_dir,
    write_reference,
)
from lewm.reference.keys import (
    HF_LAYER_NORM_EPS,
    VIT_SIZES,
    export_state_dict,
    import_state_dict,
    reference_shapes,
    unwrap_state,
)

__all__ = [
    "HF_LAYER_NORM_EPS",
    "VIT_SIZES",
    "export_reference",
    "export_run_dir",
    "export_state_dict",
    "import_reference",
    "import_state_dict",
    "import_to_run_dir",
    "model_config_from_reference",
    "reference_config",
    "reference_shapes",
    "unwrap_state",
    "vit_layer_norm_eps",
    "write_reference",
]
