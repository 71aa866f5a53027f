"""Graph passes between lowering and code generation: fusion, stacking the calls of shared
layers, views (concatenation into slices), then the memory plan."""
from kcc.passes.fusion import fuse
from kcc.passes.plan import Plan, plan_memory
from kcc.passes.slices import concat_into_slices
from kcc.passes.stack import stack_shared_calls

__all__ = ["concat_into_slices", "fuse", "Plan", "plan_memory", "optimize", "stack_shared_calls"]


def optimize(g, device: str = "cpu"):
    """Every rewrite, in order: fusion first (it changes which values exist), stacking (it
    makes the calls' outputs views), then concatenation into slices."""
    return concat_into_slices(stack_shared_calls(fuse(g), device))
