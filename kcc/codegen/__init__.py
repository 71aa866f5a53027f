"""Code generation: one strict Jinja environment and render(graph, plans) -> C++."""
from kcc.codegen.render import render, stat_names

__all__ = ["render", "stat_names"]
