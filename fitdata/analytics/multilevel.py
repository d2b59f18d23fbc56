"""Random-intercept models fitted from per-group sums: REML, BLUPs and a bounded optimiser.

Comparing groups (teams, therapists) on outcome needs shrinkage and intervals, never a raw league
table (``shared/domain.md``: therapist effects are about 5 % of outcome variance). The model is

    y_ij = b0 + b1 * x_ij + u_j + e_ij,   u_j ~ N(0, tau2),   e_ij ~ N(0, sigma2),

with ``x`` centred. Its restricted (REML) likelihood depends on the data only through each
group's count and sums (n, Σx, Σy, Σx², Σxy, Σy²), so a dashboard can fit it on a filter change
from sums it adds up in microseconds, without the rows. These are pure functions of those sums:

* :func:`reml_random_intercept` — the REML estimates of ``tau2``, ``sigma2`` and ``b``;
* :func:`shrunken_group_effects` — centre ``x``, fit, and each group's BLUP with its
  conditional standard error (the variances taken as known);
* :func:`group_effects` — what the pages show: the BLUPs with the root mean squared error of a
  parametric bootstrap of the fit (:func:`bootstrap_mse`, which draws the sums themselves and
  refits 200 data sets at once), or, when ``tau2`` is 0, each group's own mean residual with
  its own standard error (``docs/analytics.md``, "Team comparison");
* :func:`minimize_bounded` — Brent's bounded minimiser, the last step of the fit, ported from
  scipy so that a dashboard kernel does not pay for importing ``scipy.optimize``.

The reference fit (statsmodels ``MixedLM`` on the rows) lives with the tests
(``tests/oracles/teams.py``), which check that these give the same or a better optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "BOOTSTRAP_REPLICATIONS",
    "BOOTSTRAP_SEED",
    "bootstrap_mse",
    "group_effects",
    "minimize_bounded",
    "reml_random_intercept",
    "shrunken_group_effects",
]


def minimize_bounded(
    func: Callable[[float], float], low: float, high: float, *, xatol: float, maxiter: int = 500
) -> tuple[float, bool]:
    """Brent's bounded minimisation, step for step as scipy's (``method="bounded"``).

    The algorithm of ``scipy.optimize.minimize_scalar(method="bounded")`` (scipy's
    ``_minimize_scalar_bounded``, BSD licence), ported so that the service page does not
    import ``scipy.optimize``: that import alone took 0.7-5 s of the page's open on these
    machines, as long as all its other imports. A test checks that it returns exactly
    scipy's minimiser.

    Args:
        func: The function of one variable to minimise.
        low: Lower bound of the search.
        high: Upper bound of the search.
        xatol: Absolute tolerance on the minimiser.
        maxiter: Most evaluations before giving up (then not converged).

    Returns:
        The minimiser and whether it converged.
    """
    sqrt_eps = math.sqrt(2.2e-16)
    golden_mean = 0.5 * (3.0 - math.sqrt(5.0))
    a, b = low, high
    fulc = a + golden_mean * (b - a)
    nfc, xf = fulc, fulc
    rat = e = 0.0
    x = xf
    fx = func(x)
    num = 1
    fu = np.inf
    ffulc = fnfc = fx
    xm = 0.5 * (a + b)
    tol1 = sqrt_eps * np.abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    flag = 0
    while np.abs(xf - xm) > (tol2 - 0.5 * (b - a)):
        golden = True
        if np.abs(e) > tol1:  # a parabolic fit
            golden = False
            r = (xf - nfc) * (fx - ffulc)
            q = (xf - fulc) * (fx - fnfc)
            p = (xf - fulc) * q - (xf - nfc) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = np.abs(q)
            r = e
            e = rat
            if (np.abs(p) < np.abs(0.5 * q * r)) and (p > q * (a - xf)) and (p < q * (b - xf)):
                rat = (p + 0.0) / q
                x = xf + rat
                if ((x - a) < tol2) or ((b - x) < tol2):
                    rat = tol1 * (np.sign(xm - xf) + ((xm - xf) == 0))
            else:
                golden = True
        if golden:  # a golden-section step
            e = a - xf if xf >= xm else b - xf
            rat = golden_mean * e
        x = xf + (np.sign(rat) + (rat == 0)) * np.maximum(np.abs(rat), tol1)
        fu = func(x)
        num += 1
        if fu <= fx:
            if x >= xf:
                a = xf
            else:
                b = xf
            fulc, ffulc = nfc, fnfc
            nfc, fnfc = xf, fx
            xf, fx = x, fu
        else:
            if x < xf:
                a = x
            else:
                b = x
            if (fu <= fnfc) or (nfc == xf):
                fulc, ffulc = nfc, fnfc
                nfc, fnfc = x, fu
            # == as scipy has it (``in`` would treat a NaN as equal to itself)
            elif (fu <= ffulc) or (fulc == xf) or (fulc == nfc):  # noqa: SIM109
                fulc, ffulc = x, fu
        xm = 0.5 * (a + b)
        tol1 = sqrt_eps * np.abs(xf) + xatol / 3.0
        tol2 = 2.0 * tol1
        if num >= maxiter:
            flag = 1
            break
    if np.isnan(xf) or np.isnan(fx) or np.isnan(fu):
        flag = 2
    return float(xf), flag == 0


def reml_random_intercept(
    n: np.ndarray, sx: np.ndarray, sy: np.ndarray, sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray
) -> dict[str, Any]:
    """REML fit of ``y = b0 + b1 x + u_group + e`` from per-group sums (x already centred).

    With ``g = tau2 / sigma2`` the restricted log-likelihood, sigma2 profiled out, is
    ``-1/2 [(N - 2) log(RSS / (N - 2)) + sum_j log(1 + n_j g) + log det A(g)]``, where
    ``A = X' V^-1 X sigma2`` and ``RSS`` the generalised residual sum of squares; every term is
    a sum over groups of the groups' sums (V_j^-1 = (I - g/(1 + n_j g) 11') / sigma2). It is
    maximised over ``log g`` on a grid and then by bounded Brent; ``g = 0`` (no group variance)
    is compared as the boundary, because with few groups the optimum is often there.

    Args:
        n: Each group's count of observations.
        sx: Each group's sum of x (centred over all groups).
        sy: Each group's sum of y.
        sxx: Each group's sum of x².
        sxy: Each group's sum of x·y.
        syy: Each group's sum of y².

    Returns:
        ``tau2``, ``sigma2``, ``beta`` (b0, b1) and ``converged``.

    Raises:
        ValueError: If the design is singular (every x the same), so no slope can be fitted.
    """
    total = float(n.sum())

    def parts(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = g[:, None] / (1 + n[None, :] * g[:, None])  # (grid, groups)
        a11 = total - (f * n * n).sum(axis=1)
        a12 = sx.sum() - (f * n * sx).sum(axis=1)
        a22 = sxx.sum() - (f * sx * sx).sum(axis=1)
        b1 = sy.sum() - (f * sy * n).sum(axis=1)
        b2 = sxy.sum() - (f * sy * sx).sum(axis=1)
        c = syy.sum() - (f * sy * sy).sum(axis=1)
        det = a11 * a22 - a12 * a12
        beta0 = (a22 * b1 - a12 * b2) / det
        beta1 = (a11 * b2 - a12 * b1) / det
        rss = c - beta0 * b1 - beta1 * b2
        loglik = -0.5 * (
            (total - 2) * np.log(rss / (total - 2))
            + np.log1p(n[None, :] * g[:, None]).sum(axis=1)
            + np.log(det)
        )
        return loglik, np.stack([beta0, beta1], axis=1), rss

    grid = np.exp(np.linspace(-20.0, 8.0, 113))
    with np.errstate(invalid="ignore", divide="ignore"):
        values, _, _ = parts(grid)
        boundary, _, _ = parts(np.array([0.0]))
    if not np.isfinite(values).any():
        raise ValueError("the design is singular (every intake score is the same)")
    best = int(np.nanargmax(values))
    converged = True
    log_g = float(np.log(grid[best]))
    if 0 < best < len(grid) - 1:
        log_g, converged = minimize_bounded(
            lambda t: -float(parts(np.array([np.exp(t)]))[0][0]),
            float(np.log(grid[best - 1])),
            float(np.log(grid[best + 1])),
            xatol=1e-10,
        )
    g = np.exp(log_g)
    at_g, _, _ = parts(np.array([g]))
    if best == 0 or boundary[0] >= at_g[0]:
        g = 0.0
    loglik, beta, rss = parts(np.array([g]))
    sigma2 = float(rss[0] / (total - 2))
    return {
        "tau2": g * sigma2,
        "sigma2": sigma2,
        "beta": beta[0],
        "converged": converged and bool(np.isfinite(loglik[0])),
    }


def shrunken_group_effects(
    n: np.ndarray, sx: np.ndarray, sy: np.ndarray, sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray
) -> dict[str, Any]:
    """Each group's BLUP of ``u_group`` and its conditional standard error, from its sums.

    ``x`` is centred on the mean over all groups first (so ``b0`` is the mean at the mean x).
    The BLUP is the group's mean residual shrunk toward 0 by ``n tau2 / (n tau2 + sigma2)``,
    its variance given the data ``tau2 sigma2 / (sigma2 + n tau2)``; both in closed form, which
    also holds when REML puts ``tau2`` at exactly 0 (every group is then 0 ± 0).

    Args:
        n: Each group's count of observations (all groups entering the fit).
        sx: Each group's sum of x (not centred).
        sy: Each group's sum of y.
        sxx: Each group's sum of x².
        sxy: Each group's sum of x·y.
        syy: Each group's sum of y².

    Returns:
        ``effect`` and ``se`` (one per group), and ``tau2`` (at least 0), ``sigma2`` and
        ``converged`` of :func:`reml_random_intercept`.

    Raises:
        ValueError: If the design is singular (every x the same).
    """
    centre = sx.sum() / n.sum()
    cx = sx - n * centre
    cxx = sxx - 2 * centre * sx + n * centre * centre
    cxy = sxy - centre * sy
    fit = reml_random_intercept(n, cx, sy, cxx, cxy, syy)
    tau2, sigma2 = max(fit["tau2"], 0.0), fit["sigma2"]
    residual_mean = sy / n - fit["beta"][0] - fit["beta"][1] * cx / n
    shrink = n * tau2 / (n * tau2 + sigma2)
    return {
        "effect": shrink * residual_mean,
        "se": np.sqrt(tau2 * sigma2 / (sigma2 + n * tau2)),
        "tau2": tau2,
        "sigma2": sigma2,
        "converged": fit["converged"],
    }


#: Parametric bootstrap replications for the intervals (see :func:`group_effects`): the Monte
#: Carlo error of a root mean squared error from 200 draws is about 5 % of it (sqrt(1/(2B))).
BOOTSTRAP_REPLICATIONS = 200
#: The bootstrap's fixed seed: the same data give the same intervals on every page and report.
BOOTSTRAP_SEED = 20261206
#: The grid over log(tau2 / sigma2) of the bootstrap refits, then refined by parabolas.
_BOOT_GRID = np.linspace(-20.0, 8.0, 57)
#: Half-widths (in log g) of the parabolas that refine each refit's optimum after the grid
#: (each may move the optimum by up to twice its half-width).
_REFINE_STEPS = (0.15, 0.02)


def _profile_batch(
    g: np.ndarray,
    n: np.ndarray,
    sx: np.ndarray,
    sxx: np.ndarray,
    sy: np.ndarray,
    sxy: np.ndarray,
    syy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """REML profile log-likelihood, ``beta`` and RSS of many data sets at once (x centred).

    ``g`` is ``(B, K)`` (K ratios for each of B data sets), ``n``, ``sx``, ``sxx`` ``(m,)``
    (the design, shared) and ``sy``, ``sxy``, ``syy`` ``(B, m)``; the formulas are those of
    :func:`reml_random_intercept`. Returns the log-likelihood ``(B, K)``, ``beta`` ``(B, K, 2)``
    and RSS ``(B, K)``.
    """
    ng = n * g[:, :, None]  # (B, K, m)
    f = g[:, :, None] / (1 + ng)
    # einsum, not matmul: a multi-threaded BLAS call took 30-40 ms on a loaded 2-core machine
    # where einsum's single loop takes 1 ms
    a11 = float(n.sum()) - np.einsum("bkm,m->bk", f, n * n)
    a12 = sx.sum() - np.einsum("bkm,m->bk", f, n * sx)
    a22 = sxx.sum() - np.einsum("bkm,m->bk", f, sx * sx)
    b1 = sy.sum(-1)[:, None] - np.einsum("bkm,bm->bk", f, sy * n)
    b2 = sxy.sum(-1)[:, None] - np.einsum("bkm,bm->bk", f, sy * sx)
    c = syy.sum(-1)[:, None] - np.einsum("bkm,bm->bk", f, sy * sy)
    log_det_v = np.log1p(ng).sum(-1)
    return _profile_from(n, a11, a12, a22, b1, b2, c, log_det_v)


def _profile_from(
    n: np.ndarray,
    a11: np.ndarray | float,
    a12: np.ndarray | float,
    a22: np.ndarray | float,
    b1: np.ndarray,
    b2: np.ndarray,
    c: np.ndarray,
    log_det_v: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The profile log-likelihood, ``beta`` and RSS from the weighted cross-products.

    Scalars stand for a weight of 0 (the boundary ``g = 0``), shared by every data set.
    """
    total = float(n.sum())
    det = a11 * a22 - a12 * a12
    beta0 = (a22 * b1 - a12 * b2) / det
    beta1 = (a11 * b2 - a12 * b1) / det
    rss = c - beta0 * b1 - beta1 * b2
    loglik = -0.5 * ((total - 2) * np.log(rss / (total - 2)) + log_det_v + np.log(det))
    return loglik, np.stack([beta0, beta1], axis=-1), rss


def _profile_grid(
    n: np.ndarray,
    sx: np.ndarray,
    sxx: np.ndarray,
    sy: np.ndarray,
    sxy: np.ndarray,
    syy: np.ndarray,
) -> np.ndarray:
    """The profile log-likelihood ``(B, K)`` on :data:`_BOOT_GRID`, as three matrix products.

    The grid is the same for every data set and the design is shared, so the weights
    ``f = g / (1 + n g)`` are one ``(K, m)`` matrix and each data set's weighted sums are rows
    of ``sy (f n)'``: three products (by ``einsum``, see :func:`_profile_batch`), not a
    ``(B, K, m)`` array.
    """
    g = np.exp(_BOOT_GRID)
    f = g[:, None] / (1 + n * g[:, None])  # (K, m)
    a11 = float(n.sum()) - f @ (n * n)
    a12 = sx.sum() - f @ (n * sx)
    a22 = sxx.sum() - f @ (sx * sx)
    b1 = sy.sum(-1)[:, None] - np.einsum("bm,km->bk", sy, f * n)
    b2 = sxy.sum(-1)[:, None] - np.einsum("bm,km->bk", sy, f * sx)
    c = syy.sum(-1)[:, None] - np.einsum("bm,km->bk", sy * sy, f)
    log_det_v = np.log1p(n * g[:, None]).sum(-1)
    return _profile_from(n, a11, a12, a22, b1, b2, c, log_det_v)[0]


def _reml_batch(
    n: np.ndarray,
    sx: np.ndarray,
    sxx: np.ndarray,
    sy: np.ndarray,
    sxy: np.ndarray,
    syy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """REML fits of B data sets with one design (x centred): ``g``, ``beta`` and ``sigma2``.

    The optimum of :func:`reml_random_intercept` for many data sets at once: the best point of
    a grid over ``log g``, refined by the vertex of a parabola through it and its neighbours,
    then by two narrower parabolas (:data:`_REFINE_STEPS`; the likelihood is smooth, so this
    lands within about 1e-4 of the optimum in ``log g``, which a test checks against the
    single fit); ``g = 0`` where the boundary is at least as likely, or where the grid's best
    is its first point.
    """
    count = sy.shape[0]
    rows = np.arange(count)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        values = _profile_grid(n, sx, sxx, sy, sxy, syy)
        values = np.where(np.isfinite(values), values, -np.inf)
        best = values.argmax(axis=1)
        t = _BOOT_GRID[best]
        step = _BOOT_GRID[1] - _BOOT_GRID[0]
        inner = (best > 0) & (best < len(_BOOT_GRID) - 1)
        left = values[rows, np.maximum(best - 1, 0)]
        right = values[rows, np.minimum(best + 1, len(_BOOT_GRID) - 1)]
        t = np.where(inner, _vertex(t, step, left, values[rows, best], right), t)
        for half in _REFINE_STEPS:
            points = t[:, None] + np.array([-half, 0.0, half])
            around, _, _ = _profile_batch(np.exp(points), n, sx, sxx, sy, sxy, syy)
            around = np.where(np.isfinite(around), around, -np.inf)
            t = np.where(inner, _vertex(t, half, around[:, 0], around[:, 1], around[:, 2]), t)
        g = np.exp(t)
        loglik, beta, rss = _profile_batch(g[:, None], n, sx, sxx, sy, sxy, syy)
        # the boundary g = 0: no weights, the plain totals (least squares)
        at_0, beta_0, rss_0 = _profile_from(
            n, n.sum(), sx.sum(), sxx.sum(), sy.sum(-1), sxy.sum(-1), syy.sum(-1), 0.0
        )
    at_zero = (best == 0) | ~(loglik[:, 0] > at_0)
    return (
        np.where(at_zero, 0.0, g),
        np.where(at_zero[:, None], beta_0, beta[:, 0]),
        np.where(at_zero, rss_0, rss[:, 0]) / (float(n.sum()) - 2),
    )


def _vertex(
    t: np.ndarray, half: float, left: np.ndarray, middle: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """The maximum of the parabola through ``(t - half, t, t + half)``, kept within them.

    Where the three values are not concave (or not finite) ``t`` itself is kept.
    """
    curvature = left - 2 * middle + right
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = half * (left - right) / (2 * curvature)
    usable = np.isfinite(shift) & (curvature < 0)
    return t + np.where(usable, np.clip(shift, -2 * half, 2 * half), 0.0)


def _estimates(
    n: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    beta: np.ndarray,
    tau2: np.ndarray,
    sigma2: np.ndarray,
) -> np.ndarray:
    """Each group's estimate (x centred): its BLUP when ``tau2 > 0``, else its own mean residual.

    Arrays are ``(B, m)`` for sums and ``(B,)`` (or scalars) for the variances; ``beta`` is
    ``(B, 2)``.
    """
    residual_mean = sy / n - beta[:, :1] - beta[:, 1:] * sx / n
    tau2 = np.asarray(tau2, dtype=np.float64).reshape(-1, 1)
    sigma2 = np.asarray(sigma2, dtype=np.float64).reshape(-1, 1)
    shrink = np.where(tau2 > 0, n * tau2 / (n * tau2 + sigma2), 1.0)
    return shrink * residual_mean


def bootstrap_mse(
    n: np.ndarray,
    sx: np.ndarray,
    sxx: np.ndarray,
    *,
    beta: np.ndarray,
    tau2: float,
    sigma2: float,
    replications: int = BOOTSTRAP_REPLICATIONS,
    seed: int = BOOTSTRAP_SEED,
) -> np.ndarray:
    """Each group's mean squared error of its estimate, by a parametric bootstrap of the fit.

    Data sets are drawn from the fitted model (``u_j ~ N(0, tau2)``, ``e ~ N(0, sigma2)``, the
    observed design) as per-group sums, refitted by REML (:func:`_reml_batch`) and estimated as
    the page estimates (BLUP, or the group's own mean residual when the refit puts ``tau2`` at
    0); the mean of ``(estimate* - u*)²`` is the MSE. Because the refit re-estimates ``tau2``,
    ``sigma2`` and ``beta``, the MSE includes their uncertainty (Butar & Lahiri 2003; Hall &
    Maiti 2006), which the conditional variance ``tau2 sigma2 / (sigma2 + n tau2)`` alone does
    not.

    The sums are drawn exactly from the model without rows: with ``M_j`` the Gram matrix of
    (1, x) in group j, ``(Σe, Σxe) = sigma L_j z`` (``L_j L_j' = M_j``, ``z`` standard normal)
    and ``Σe² = sigma2 (z'z + χ²(n_j - rank M_j))``; the fit needs only the total of Σy² over
    the groups, so the χ² parts are drawn as one per data set.

    Args:
        n: Each group's count (as float).
        sx: Each group's sum of x (centred over all groups).
        sxx: Each group's sum of x².
        beta: The fitted (b0, b1).
        tau2: The fitted group variance.
        sigma2: The fitted residual variance.
        replications: Bootstrap data sets.
        seed: The generator's seed (fixed: the same data give the same intervals).

    Returns:
        The MSE of each group's estimate.
    """
    rng = np.random.default_rng(seed)
    m = len(n)
    sd = math.sqrt(sigma2)
    l11 = np.sqrt(n)
    l21 = sx / l11
    l22 = np.sqrt(np.maximum(sxx - sx * sx / n, 0.0))
    rank = np.where(l22 > 1e-9 * np.sqrt(np.maximum(sxx, 1e-300)), 2.0, 1.0)
    z1 = rng.standard_normal((replications, m))
    z2 = rng.standard_normal((replications, m)) * (rank == 2)
    # The fit reads Σy² only as its total over groups, so the groups' independent χ² parts are
    # drawn as one χ² of their summed degrees of freedom per data set (exact, and m times
    # fewer draws), added to the first group.
    freedom = float(np.maximum(n - rank, 0.0).sum())
    chi2 = np.zeros((replications, m))
    if freedom > 0:
        chi2[:, 0] = rng.chisquare(freedom, size=replications)
    u = rng.standard_normal((replications, m)) * math.sqrt(max(tau2, 0.0))
    q1 = sd * l11 * z1
    q2 = sd * (l21 * z1 + l22 * z2)
    ee = sigma2 * (z1 * z1 + z2 * z2 + chi2)
    b0, b1 = float(beta[0]), float(beta[1])
    a = b0 + u
    sy = n * a + b1 * sx + q1
    sxy = a * sx + b1 * sxx + q2
    syy = n * a * a + 2 * a * b1 * sx + b1 * b1 * sxx + 2 * a * q1 + 2 * b1 * q2 + ee
    g, beta_star, sigma2_star = _reml_batch(n, sx, sxx, sy, sxy, syy)
    estimate = _estimates(n, sx, sy, beta_star, g * sigma2_star, sigma2_star)
    return ((estimate - u) ** 2).mean(axis=0)


def group_effects(
    n: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sxx: np.ndarray,
    sxy: np.ndarray,
    syy: np.ndarray,
    *,
    replications: int = BOOTSTRAP_REPLICATIONS,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Each group's intake-adjusted estimate and a standard error that honours the fit's doubt.

    * ``tau2 > 0``: the BLUP of :func:`shrunken_group_effects`, its standard error the root of
      the parametric bootstrap MSE (:func:`bootstrap_mse`), never below the conditional SE;
    * ``tau2 = 0`` (no detectable difference between groups): every BLUP would be 0 ± 0, which
      reads as certainty. Each group's own, unshrunken mean residual is given instead, with the
      standard error of a mean of ``n_j`` residuals, ``sqrt(sigma2 / n_j)``.

    An interval ``effect ± z se`` always contains its estimate.

    Args:
        n: Each group's count of observations.
        sx: Each group's sum of x (not centred).
        sy: Each group's sum of y.
        sxx: Each group's sum of x².
        sxy: Each group's sum of x·y.
        syy: Each group's sum of y².
        replications: Bootstrap data sets.
        seed: The bootstrap's seed.

    Returns:
        ``effect``, ``se``, ``shrunken`` (whether ``tau2 > 0``), ``tau2``, ``sigma2``,
        ``beta`` and ``converged``.

    Raises:
        ValueError: If the design is singular (every x the same).
    """
    n = np.asarray(n, dtype=np.float64)
    centre = sx.sum() / n.sum()
    cx = sx - n * centre
    cxx = sxx - 2 * centre * sx + n * centre * centre
    cxy = sxy - centre * sy
    fit = reml_random_intercept(n, cx, sy, cxx, cxy, syy)
    tau2, sigma2, beta = max(fit["tau2"], 0.0), fit["sigma2"], np.asarray(fit["beta"])
    effect = _estimates(n, cx, sy[None, :], beta[None, :], tau2, sigma2)[0]
    if tau2 > 0:
        conditional = tau2 * sigma2 / (sigma2 + n * tau2)
        mse = bootstrap_mse(
            n, cx, cxx, beta=beta, tau2=tau2, sigma2=sigma2, replications=replications, seed=seed
        )
        se = np.sqrt(np.maximum(mse, conditional))
    else:
        se = np.sqrt(sigma2 / n)
    return {
        "effect": effect,
        "se": se,
        "shrunken": tau2 > 0,
        "tau2": tau2,
        "sigma2": sigma2,
        "beta": beta,
        "converged": fit["converged"],
    }
