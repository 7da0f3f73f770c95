"""Neural style transfer: the course's costs and the optimisation loop on a pretrained VGG-16."""
from cnnkit.style.costs import (content_cost, gram_matrix, layer_style_cost, style_cost, total_cost,
                                total_variation, unroll)
from cnnkit.style.lbfgs import lbfgs
from cnnkit.style.transfer import STYLE_LAYERS, StylizeResult, stylize

__all__ = ["content_cost", "gram_matrix", "unroll", "layer_style_cost", "style_cost", "total_cost",
           "total_variation", "lbfgs", "stylize", "StylizeResult", "STYLE_LAYERS"]
