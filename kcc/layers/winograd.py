"""Winograd minimal filtering F(m, r): the transform matrices of a convolution tile.

A stride-1 convolution of an r x r kernel over an (m + r - 1)^2 input tile d gives an m x m
output tile. Computed directly that is m^2 r^2 multiplications; Winograd's algorithm does it
with (m + r - 1)^2 (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015):

    Y = AT [ (G g G^T) * (BT d B) ] A          (* element-wise)

For a layer of C input and F output channels the element-wise products summed over C become
(m + r - 1)^2 independent GEMMs (tiles x C) . (C x F): F(4, 3) does a 3x3 layer's work in 36
multiplications per 16 outputs instead of 144, F(4, 5) a 5x5's in 64 instead of 400.

The matrices come from Toom-Cook: the 1D correlation y_i = sum_k g_k d_{i+k} is the transpose
of the polynomial product c(x) = u(x) g(x) (u of degree m - 1, c of degree alpha - 1,
alpha = m + r - 1). Evaluating u and g at alpha points (the last one "infinity": the leading
coefficient), multiplying, and interpolating back gives c = V^-1 diag(E_r g) E_m u, so
y = E_m^T diag(E_r g) V^-T d:  AT = E_m^T, G = E_r, BT = V^-T.
Each row of BT is scaled to integers and G's matching row divided by the same factor, so the
data transform (done for every tile) is small-integer arithmetic. Exact in fractions here;
the generated code gets them as floats.
"""
from fractions import Fraction
from functools import lru_cache
from math import lcm

# Interpolation points by tile size alpha, the small ones first: the larger the points, the
# larger the rounding error of the fp32 transforms.
_POINTS = {
    4: (0, 1, -1),
    6: (0, 1, -1, 2, -2),
    8: (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)),
}


def _evaluation(points, n):
    """alpha x n: row j evaluates a polynomial with n coefficients at point j (the last
    row, infinity, picks the leading coefficient)."""
    rows = [[Fraction(p) ** k for k in range(n)] for p in points]
    rows.append([Fraction(int(k == n - 1)) for k in range(n)])
    return rows


def _inverse(a):
    """Inverse of a square matrix of Fractions (Gauss-Jordan; the matrices are 8 x 8 at most)."""
    n = len(a)
    m = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(a)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if m[r][col] != 0)
        m[col], m[pivot] = m[pivot], m[col]
        inv = 1 / m[col][col]
        m[col] = [v * inv for v in m[col]]
        for r in range(n):
            if r != col and m[r][col] != 0:
                f = m[r][col]
                m[r] = [v - f * w for v, w in zip(m[r], m[col])]
    return [row[n:] for row in m]


@lru_cache(maxsize=None)
def transforms(m: int, r: int):
    """(AT, G, BT) of F(m, r) as tuples of Fraction rows: AT m x alpha, G alpha x r,
    BT alpha x alpha."""
    alpha = m + r - 1
    if alpha not in _POINTS:
        raise ValueError(f"no Winograd points for a tile of {alpha} (F({m}, {r}))")
    points = _POINTS[alpha]
    e_m, e_r = _evaluation(points, m), _evaluation(points, r)
    v_inv = _inverse(_evaluation(points, alpha))
    at = [[e_m[j][i] for j in range(alpha)] for i in range(m)]
    bt = [[v_inv[k][j] for k in range(alpha)] for j in range(alpha)]     # V^-T
    g = [list(row) for row in e_r]
    for j in range(alpha):
        scale = Fraction(lcm(*(v.denominator for v in bt[j])))
        bt[j] = [v * scale for v in bt[j]]
        g[j] = [v / scale for v in g[j]]
    return tuple(map(tuple, at)), tuple(map(tuple, g)), tuple(map(tuple, bt))


# Output tile per kernel size: alpha = m + r - 1 of 6 or 8 keeps the fp32 error under 1e-5
# of the output's scale (measured up to 8e-6 on 64-channel layers, 4e-6 on 16-20 channels:
# tests/layers/test_conv2d_winograd.py checks 2e-5). Larger tiles need larger points and
# lose accuracy fast.
_TILE = {3: 4, 5: 4}


def output_tile(kernel) -> int:
    """m of the F(m, r) used for a square kernel of side r, or 0 when Winograd does not
    apply to that kernel."""
    kh, kw = kernel
    return _TILE.get(kh, 0) if kh == kw else 0


def cfloats(matrix) -> str:
    """A matrix of Fractions as a C initializer of float rows."""
    def one(v):
        return repr(float(v)) + "f"
    return ", ".join("{" + ", ".join(one(v) for v in row) + "}" for row in matrix)


def cpp_rows(matrix) -> list[str]:
    """Each row of a transform as a C++ expression over x[k * xs] (y = matrix . x), the
    zeros left out and the ones written as plain additions."""
    rows = []
    for row in matrix:
        text = ""
        for k, v in enumerate(row):
            if v == 0:
                continue
            term = f"x[{k} * xs]" if k else "x[0]"
            mag = abs(v)
            if mag != 1:
                term = f"{float(mag)!r}f * {term}"
            text += (" - " if v < 0 else " + ") + term if text else ("-" if v < 0 else "") + term
        rows.append(text or "0.0f * x[0]")
    return rows


def cpp_transform(m: int, r: int) -> dict:
    """What the conv template renders for F(m, r): sizes and the three 1D transforms."""
    at, g, bt = transforms(m, r)
    return {"m": m, "r": r, "alpha": m + r - 1,
            "data": cpp_rows(bt), "kernel": cpp_rows(g), "output": cpp_rows(at)}


# V and Mo of one band: at most this many floats together (512 KB), so a band's transforms
# and GEMMs work in the core's L2. Measured (2 cores, same run): 8 MB bands ran W4 training
# at 1295 samples/s, 512 KB ones at 1791 (256 KB 1828, 64 KB 1724); W5/W6 batch-1 latency
# was flat from 256 KB to 1.5 MB and 12-40% slower at 8 MB. Bands never span > 64 images.
_BAND_FLOATS = 128 * 1024


def plan(c, h, w, f, ho, wo, pad_top, pad_left, m, r) -> tuple:
    """The kcc::winograd::Plan of a stride-1 r x r convolution in m x m output tiles:
    (C, H, W, F, Ho, Wo, PT, PL, TH, TW, band)."""
    alpha = m + r - 1
    th, tw = -(-ho // m), -(-wo // m)
    band = max(1, min(th * 64, _BAND_FLOATS // (alpha * alpha * tw * (c + f))))
    return (c, h, w, f, ho, wo, pad_top, pad_left, th, tw, band)


def dx_plan(p, m, r) -> tuple:
    """The plan of the input gradient: the forward plan's convolution run backwards, dz
    (F channels) correlated with the rotated kernel, padded r - 1 - P."""
    c, h, w, f, ho, wo, pt, pl = p[:8]
    return plan(f, ho, wo, c, h, w, r - 1 - pt, r - 1 - pl, m, r)


def workspace(fwd, dx, m, r) -> dict:
    """Floats of each scratch role (kcc::winograd::Scratch, plus the transformed kernel "u",
    which the kernel gradient reuses for its transformed sum), enough for the forward, the
    input gradient and the kernel gradient."""
    alpha = m + r - 1

    def roles(p):
        c, f, tw, band = p[0], p[3], p[9], p[10]
        # the strip also holds one transposed output row (scatter's tmp) after the data transform
        return {"strip": max(alpha * (tw * m + r - 1) * c, p[5] * f),
                "v": alpha * alpha * band * tw * c,
                "m": alpha * alpha * band * tw * f, "out": m * tw * m * f}
    a, b = roles(fwd), roles(dx)
    sizes = {k: max(a[k], b[k]) for k in a}
    sizes["strip"] = max(sizes["strip"], m * fwd[9] * m * fwd[3])     # dz's tiles (kernel grad)
    sizes["u"] = alpha * alpha * fwd[0] * fwd[3]
    return {"wino_" + k: v for k, v in sizes.items()}
