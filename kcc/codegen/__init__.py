"""Code generation: one strict Jinja environment and render(graph, plans) -> C++."""
from kcc.codegen.render import prelude, render, stat_names

__all__ = ["prelude", "render", "stat_names"]
