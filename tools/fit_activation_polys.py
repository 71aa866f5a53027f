"""Fits the polynomial coefficients used by csrc/include/kcc/ops/activations.h.

exp(r) on |r| <= ln2/2 as 1 + r + r^2 * P(r) (P of degree 5), and tanh(x) on |x| <= 0.625
as x + x^3 * Q(x^2) (Q of degree 4): weighted least squares on Chebyshev nodes, which is
within a hair of minimax at these degrees. Run it to regenerate or check the constants:

    python tools/fit_activation_polys.py
"""
import numpy as np


def cheb_nodes(a, b, n=4000):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / n)


def fit_exp():
    r = cheb_nodes(-np.log(2) / 2, np.log(2) / 2)
    target = (np.exp(r) - 1 - r) / r**2                  # P(r)
    coef = np.polynomial.polynomial.polyfit(r, target, 5, w=r**2 / np.exp(r))
    return coef                                           # lowest power first


def fit_tanh():
    x = cheb_nodes(1e-4, 0.625)
    target = (np.tanh(x) - x) / x**3                      # Q(x^2)
    coef = np.polynomial.polynomial.polyfit(x**2, target, 4, w=x**3 / np.tanh(x))
    return coef


def main():
    e, t = fit_exp(), fit_tanh()
    r = np.linspace(-np.log(2) / 2, np.log(2) / 2, 100001)
    err_e = np.max(np.abs((1 + r + r**2 * np.polyval(e[::-1], r)) / np.exp(r) - 1))
    x = np.linspace(1e-6, 0.625, 100001)
    err_t = np.max(np.abs((x + x**3 * np.polyval(t[::-1], x**2)) / np.tanh(x) - 1))
    print("exp  P (r^0..r^5):", ", ".join(f"{c:.10e}f" for c in e), f"  max rel err {err_e:.2e}")
    print("tanh Q (x^0..x^8):", ", ".join(f"{c:.10e}f" for c in t), f"  max rel err {err_t:.2e}")


if __name__ == "__main__":
    main()
