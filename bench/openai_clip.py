"""CLIP's ViT image tower in the layout of OpenAI's `clip` package, which the authors' code loads (`clip.load`).

For the reference cost model only (bench/reference.py). Same architecture and state-dict keys as open_clip's
VisionTransformer of an OpenAI-style ViT (e.g. ViT-B-32-quickgelu), so it takes an open_clip tower's weights
unchanged and computes the same function (tests/bench/test_reference_layout.py); what differs is how it runs, as
OpenAI's clip/model.py does:

- the transformer is **sequence-first**: the (N, L, D) tokens are permuted to (L, N, D) before the blocks, and
  each block calls a plain `nn.MultiheadAttention(width, heads)` (batch_first False) on its layer-normed input,
  passed as query, key and value, with need_weights=False. The in-projection is then one matmul of the 2-D weight.
  open_clip runs the blocks batch-first, and `nn.MultiheadAttention(batch_first=True)` transposes its input to a
  strided view, on which the in-projection of an input that needs gradients becomes a bmm over the weight expanded
  L times (bench/PROFILE.md, finding 1: about 20 % of a 256² step). The authors' CLIP never paid that;
- layer norms run in fp32 and cast back to the input's dtype;
- `half=True` gives the weights `clip.load` gives on CUDA: convolution, linear and attention weights and biases
  and the output projection in fp16; layer norms and the class and positional embeddings stay fp32 and are cast
  in the forward. The input is cast to the weights' dtype, as `CLIP.encode_image` does. On the CPU `clip.load`
  returns fp32 weights, and so does this with half=False.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn


class LayerNormFP32(nn.LayerNorm):
    """Layer norm computed in fp32, returned in the input's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


class SequenceFirstBlock(nn.Module):
    """A pre-norm transformer block on (L, N, D) tokens."""

    def __init__(self, width: int, heads: int, mlp_width: int, activation: nn.Module) -> None:
        super().__init__()
        self.ln_1 = LayerNormFP32(width)
        self.attn = nn.MultiheadAttention(width, heads)  # batch_first=False: (L, N, D)
        self.ln_2 = LayerNormFP32(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, mlp_width)),
            ("gelu", activation),
            ("c_proj", nn.Linear(mlp_width, width)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.ln_1(x)
        x = x + self.attn(normed, normed, normed, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class SequenceFirstTransformer(nn.Module):
    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class OpenAIImageTower(nn.Module):
    """A ViT image tower: patch embedding, class token, sequence-first blocks, class-token pooling, projection."""

    def __init__(self, image_size: int, patch_size: int, width: int, heads: int, mlp_width: int,
                 output_dim: int, activations: list[nn.Module]) -> None:
        super().__init__()
        grid = image_size // patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.ln_pre = LayerNormFP32(width)
        self.transformer = SequenceFirstTransformer(
            [SequenceFirstBlock(width, heads, mlp_width, activation) for activation in activations])
        self.ln_post = LayerNormFP32(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))

    @property
    def dtype(self) -> torch.dtype:
        return self.conv1.weight.dtype

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.conv1(images.to(self.dtype))  # (N, D, grid, grid)
        x = x.flatten(2).transpose(1, 2)  # (N, grid², D)
        class_token = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([class_token, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = self.transformer(x.permute(1, 0, 2))  # (L, N, D) through the blocks, as OpenAI's CLIP runs them
        x = x.permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP.encode_image: the image embedding (unnormalised), in the weights' dtype."""
        return self(images)


def to_clip_load_half(model: nn.Module) -> nn.Module:
    """The dtypes `clip.load` gives on CUDA (its convert_weights), for an image tower or a whole CLIP: fp16
    convolution, linear and attention weights and biases, and fp16 `proj` / `text_projection` matrices; layer norms,
    embeddings and the logit scale stay fp32. In place; returns the model."""
    for module in model.modules():
        tensors = []
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):  # includes the attention's out_proj
            tensors += [module.weight, module.bias]
        if isinstance(module, nn.MultiheadAttention):
            tensors += [module.in_proj_weight, module.in_proj_bias]
        tensors += [getattr(module, name, None) for name in ("proj", "text_projection")]
        for tensor in tensors:
            if isinstance(tensor, torch.Tensor):
                tensor.data = tensor.data.half()
    return model


def from_open_clip(visual: nn.Module, half: bool = False) -> OpenAIImageTower:
    """An OpenAIImageTower with the weights of an open_clip VisionTransformer (an OpenAI-style ViT: class-token
    pooling, a projection, plain pre-norm blocks). The state dict must load strictly: same keys, same shapes."""
    if getattr(visual, "attn_pool", None) is not None or getattr(visual, "pool_type", "tok") != "tok":
        raise ValueError("only ViT towers pooled on their class token have OpenAI's layout")
    blocks = list(visual.transformer.resblocks)
    first = blocks[0]
    patch = visual.conv1.kernel_size[0]
    grid = round((visual.positional_embedding.shape[0] - 1) ** 0.5)
    tower = OpenAIImageTower(
        image_size=grid * patch,
        patch_size=patch,
        width=visual.conv1.out_channels,
        heads=first.attn.num_heads,
        mlp_width=first.mlp.c_fc.out_features,
        output_dim=visual.proj.shape[1],
        activations=[copy.deepcopy(block.mlp.gelu) for block in blocks],  # QuickGELU in OpenAI's configs
    )
    tower.load_state_dict(visual.state_dict(), strict=True)
    tower.to(visual.conv1.weight.device)
    return to_clip_load_half(tower) if half else tower
