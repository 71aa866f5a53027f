"""Graph passes between lowering and code generation: fusion, then the memory plan."""
from kcc.passes.fusion import fuse
from kcc.passes.plan import Plan, plan_memory

__all__ = ["fuse", "Plan", "plan_memory"]
