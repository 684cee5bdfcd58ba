"""What the per-image objective does differently when only a masked region is stylized (docs/METHOD.md,
"Stylizing a region"): the global CLIP view and the content loss look at the output composited over the content,
which is what the user gets; the patches are drawn inside the region (mask.patch_positions) and cut from the raw
output as usual.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .inference_tensors import usable_in_autograd
from .mask import bounding_boxes, composite


class MaskedRegion:
    """A fixed mask (B, 1, H, W) in [0, 1] and content (B, 3, H, W), both at the processing size on the device."""

    def __init__(self, mask: torch.Tensor, content: torch.Tensor) -> None:
        self.mask, self.content = usable_in_autograd(mask), content
        self.boxes = bounding_boxes(mask)  # once, on the CPU: no host sync in the steps
        # The share of each image the region covers, to scale the content loss back to a whole image's (below).
        self.area = self.mask.mean(dim=(1, 2, 3)).clamp_min(1e-6)

    def composite(self, output: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The step's outputs inside the region, the content outside: what the final image will be."""
        return composite(output, self.content[index], self.mask[index])

    def views(self, images: torch.Tensor, index: torch.Tensor, view: Callable[[torch.Tensor], torch.Tensor]
              ) -> torch.Tensor:
        """CLIP's global view of each image cropped to its region's bounding box: (B, 3, H, W) -> (B, 3, S, S).

        index holds the images' places in the batch. It is read on the host only where the images' boxes differ (a
        shared-mode batch with masks of different extents): a GPU run otherwise has no sync here.
        """
        places = [0] * images.shape[0] if len(set(self.boxes)) == 1 else index.tolist()
        views = [view(images[j:j + 1, :, top:bottom, left:right])
                 for j, (top, bottom, left, right) in enumerate(self.boxes[i] for i in places)]
        return views[0] if len(views) == 1 else torch.cat(views)

    def output_views(self, output: torch.Tensor, index: torch.Tensor,
                     view: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """The global view of a step's outputs: the box of the output composited over the content."""
        return self.views(self.composite(output, index), index, view)

    def scale_content_loss(self, loss: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The content loss of the composite over the region's share of the image.

        The composite equals the content outside the region, so its feature MSE, a mean over the whole image, is
        about `area` times that of a whole stylized image; dividing by the area keeps lambda_content's balance
        against the patch loss (a mean over patches, all inside the region) whatever the region's size.
        """
        return loss / self.area[index].mean()
