"""The CLIPstyler objective for one step: L = l_patch*L_patch + l_dir*L_dir + l_c*L_c + l_tv*L_tv (docs/METHOD.md).

`StyleObjective.terms` is the plain, differentiable formula. `StyleObjective.backward` computes the same loss and
the same gradient, but feeds CLIP the crops in chunks (crop_batch), freeing each chunk's graph before the next:
the StyleNet graph is kept once, and the CLIP/VGG part runs on a detached copy of the output whose gradient is
then pushed through StyleNet in one call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .augment import PatchParams, augment_crops
from .clip.model import StylerCLIP, global_view
from .compilation import maybe_compiled
from .errors import CLIPstylerError
from .inference_tensors import usable_in_autograd
from .losses import content_loss, directional_loss, per_patch_directional_loss, total_variation_loss
from .mask_region import MaskedRegion
from .precision import autocast
from .settings import StyleSettings
from .temporal import TEMPORAL_LOSS, backward_with_temporal, with_temporal
from .text import StyleTarget
from .vgg import VGGContent

LOSS_NAMES = ("total", "patch", "dir", "content", "tv")


class StyleObjective:
    """The loss of a StyleNet output against fixed content images and a fixed text target.

    Args:
        clip, vgg: frozen models on the compute device.
        target: the text direction.
        content: (B, 3, H, W) content images in [0, 1] at the processing size, on the compute device.
        settings: weights, threshold, global view mode, crop batch.
        precision: a concrete precision ("fp32", "bf16" or "fp16").
        cache_content_features: keep every image's VGG features (one pass, then free). Off for long batches
            (shared mode over many frames), where they are recomputed for each step's images instead.
        mask: (B, 1, H, W) in [0, 1], where to stylize (clipstyler/mask_region.py); None: the whole image.
    """

    def __init__(
        self,
        clip: StylerCLIP,
        vgg: VGGContent,
        target: StyleTarget,
        content: torch.Tensor,
        settings: StyleSettings,
        precision: str = "fp32",
        cache_content_features: bool = True,
        mask: torch.Tensor | None = None,
    ) -> None:
        self.clip, self.vgg, self.settings, self.precision = clip, vgg, settings, precision
        # CLIP's per-step passes, compiled if asked. The one-off passes below stay eager: each new input shape
        # costs a compile. VGG and StyleNet are not compiled: that measured no faster (bench/RESULTS.md).
        self._encode_image = maybe_compiled(clip.model.encode_image, settings.torch_compile, "CLIP image encoder")
        self.device = content.device
        self.content = usable_in_autograd(content)
        self.direction = usable_in_autograd(target.direction.to(self.device, torch.float32))
        self.region = None if mask is None else MaskedRegion(mask.to(self.device), self.content)
        with torch.no_grad(), self._autocast():
            views = [self._global_view(content[i:i + 1]) if self.region is None else
                     self.region.views(content[i:i + 1], torch.tensor([i]), self._global_view)
                     for i in range(content.shape[0])]
            self.source = F.normalize(torch.cat([clip.encode_image(v) for v in views]).float(), dim=-1)
            self._content_features = self._vgg_features(content) if cache_content_features else None
        if self.source.shape[-1] != self.direction.shape[-1]:
            raise CLIPstylerError(
                f"the style target has {self.direction.shape[-1]} dimensions but CLIP {clip.name!r} gives "
                f"{self.source.shape[-1]}: encode the target with the same CLIP"
            )

    def _autocast(self):
        return autocast(self.precision, self.device)

    def _global_view(self, images: torch.Tensor) -> torch.Tensor:
        return global_view(images, self.clip.image_size, self.settings.global_view, fill=self.clip.mean)

    def _output_view(self, output: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """CLIP's global view of a step's outputs; with a mask, of the region (MaskedRegion.output_views)."""
        if self.region is None:
            return self._global_view(output)
        return self.region.output_views(output, index, self._global_view)

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP embeddings (float32) of a step's images at CLIP's size."""
        return self.clip.encode_image(images, self._encode_image).float()

    def _vgg_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [f.float() for f in self.vgg(images)]

    def content_features(self, index: torch.Tensor) -> list[torch.Tensor]:
        """VGG features of the content images at index (no gradient)."""
        if self._content_features is not None:
            return [f[index] for f in self._content_features]
        with torch.no_grad(), self._autocast():
            return self._vgg_features(self.content[index])

    def _image_terms(self, output: torch.Tensor, index: torch.Tensor, global_embeddings: torch.Tensor) -> dict:
        region = self.region  # with a mask, VGG sees the output composited over the content (mask_region.py)
        with self._autocast():
            output_features = self.vgg(output if region is None else region.composite(output, index))
        content = content_loss(output_features, self.content_features(index))
        return {
            "dir": directional_loss(global_embeddings, self.source[index], self.direction),
            "content": content if region is None else region.scale_content_loss(content, index),
            "tv": total_variation_loss(output),
        }

    def _patch_losses(self, patch_embeddings: torch.Tensor, params: PatchParams, index: torch.Tensor) -> torch.Tensor:
        sources = self.source[index][params.image_index]
        return per_patch_directional_loss(patch_embeddings, sources, self.direction, self.settings.threshold)

    def _weighted_image_total(self, terms: dict) -> torch.Tensor:
        s = self.settings
        return s.lambda_dir * terms["dir"] + s.lambda_content * terms["content"] + s.lambda_tv * terms["tv"]

    def terms(self, output: torch.Tensor, params: PatchParams, index: torch.Tensor | None = None) -> dict:
        """Every loss term and the weighted total for output (B, 3, H, W), differentiable; one CLIP batch."""
        index = self._index(output, index)
        with self._autocast():
            crops = augment_crops(output, params, self.clip.image_size)
            embeddings = self._embed(torch.cat([self._output_view(output, index), crops]))
        batch = output.shape[0]
        terms = self._image_terms(output, index, embeddings[:batch])
        terms["patch"] = self._patch_losses(embeddings[batch:], params, index).mean()
        terms["total"] = self.settings.lambda_patch * terms["patch"] + self._weighted_image_total(terms)
        return terms

    def backward(
        self,
        output: torch.Tensor,
        params: PatchParams,
        index: torch.Tensor | None = None,
        scale=lambda loss: loss,
        temporal: torch.Tensor | None = None,
    ) -> dict:
        """Accumulate d(total)/d(parameters behind output) and return the detached loss terms.

        With crop_batch 0 (or >= the number of crops) this is terms(...) and one backward; otherwise the crops go
        through CLIP crop_batch at a time. `scale` wraps each loss before backward (a GradScaler's scale).
        `temporal`: the unweighted temporal term of this step (clipstyler/temporal.py), differentiable; it joins the
        total with weight lambda_temporal and the result gains a "temporal" entry. None (the paper) changes nothing.
        """
        crop_batch = self.settings.crop_batch
        if crop_batch == 0 or crop_batch >= len(params):
            terms = with_temporal(self.terms(output, params, index), temporal, self.settings.lambda_temporal)
            scale(terms["total"]).backward()
            return {name: terms[name].detach() for name in (*LOSS_NAMES, TEMPORAL_LOSS) if name in terms}
        index = self._index(output, index)
        detached = output.detach().requires_grad_(True)
        with self._autocast():
            global_embeddings = self._embed(self._output_view(detached, index))
        terms = self._image_terms(detached, index, global_embeddings)
        scale(self._weighted_image_total(terms)).backward()
        patch_sum = torch.zeros((), device=self.device)
        for start in range(0, len(params), crop_batch):
            chunk = params.select(slice(start, start + crop_batch))
            with self._autocast():
                embeddings = self._embed(augment_crops(detached, chunk, self.clip.image_size))
            losses = self._patch_losses(embeddings, chunk, index)
            scale(self.settings.lambda_patch * losses.sum() / len(params)).backward()
            patch_sum += losses.detach().sum()
        backward_with_temporal(output, detached.grad, temporal, self.settings.lambda_temporal, scale)
        result = {name: terms[name].detach() for name in ("dir", "content", "tv")}
        result["patch"] = patch_sum / len(params)
        result["total"] = self.settings.lambda_patch * result["patch"] + self._weighted_image_total(result)
        return with_temporal(result, None if temporal is None else temporal.detach(), self.settings.lambda_temporal)

    def _index(self, output: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        if index is None:
            return torch.arange(output.shape[0], device=self.device)
        return index.to(self.device, non_blocking=True)
