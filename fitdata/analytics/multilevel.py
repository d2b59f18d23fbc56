"""Random-intercept models fitted from per-group sums: REML, BLUPs and a bounded optimiser.

Comparing groups (teams, therapists) on outcome needs shrinkage and intervals, never a raw league
table (``shared/domain.md``: therapist effects are about 5 % of outcome variance). The model is

    y_ij = b0 + b1 * x_ij + u_j + e_ij,   u_j ~ N(0, tau2),   e_ij ~ N(0, sigma2),

with ``x`` centred. Its restricted (REML) likelihood depends on the data only through each
group's count and sums (n, Σx, Σy, Σx², Σxy, Σy²), so a dashboard can fit it on a filter change
from sums it adds up in microseconds, without the rows. These are pure functions of those sums:

* :func:`reml_random_intercept` — the REML estimates of ``tau2``, ``sigma2`` and ``b``;
* :func:`shrunken_group_effects` — centre ``x``, fit, and each group's BLUP with its
  conditional standard error;
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

__all__ = ["minimize_bounded", "reml_random_intercept", "shrunken_group_effects"]


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
