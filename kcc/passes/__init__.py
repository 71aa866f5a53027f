"""Graph passes between lowering and code generation: fusion, views (concatenation into
slices), then the memory plan."""
from kcc.passes.fusion import fuse
from kcc.passes.plan import Plan, plan_memory
from kcc.passes.slices import concat_into_slices

__all__ = ["concat_into_slices", "fuse", "Plan", "plan_memory", "optimize"]


def optimize(g):
    """Every rewrite, in order: fusion first (it changes which values exist), then views."""
    return concat_into_slices(fuse(g))
