"""Helpers the tests share (fixtures are in conftest.py)."""

import os

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def state_dict_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}
