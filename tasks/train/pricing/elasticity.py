"""Own-price elasticity: a penalised Poisson GLM with product and day fixed effects.

    log E[units_pt] = a_p + g_t + beta_p * x_pt,   x_pt = log(price_pt) - ref_p
    beta_p = b + b_category(p) + u_p,  b_category ~ N(0, sd_c^2),  u_p ~ N(0, sd_p^2)

Why this form:
- Poisson on raw daily counts: most product-days sell 0 or 1 units, so ``log(units)`` OLS
  would need an arbitrary offset for zeros and biases the slope.
- ``a_p`` absorbs popularity and ``ref_p`` (the product's median training log price) makes
  ``a_p`` the demand at its usual price; ``g_t`` (one effect per day, all products) absorbs
  traffic, weekday and seasonality. Promotions are not random in real shops: they are put
  on busy days or on products that are selling anyway. With day and product effects only
  *within-product, within-day* price variation identifies ``beta`` (the "controls" answer to
  confounding; a planted confounder test in tests/train/test_pricing.py shows the bias
  without ``g_t``).
- The normal priors make the MAP fit a hierarchical model: a product with little price
  variation is shrunk to its category, a thin category to the global slope.

Why hand-written in torch rather than statsmodels/scikit-learn: statsmodels' GLM needs a dense
design (5 000 product + 90 day dummies x 450 000 rows on synthetic M is ~18 GB) and has no
per-group penalties; scikit-learn's PoissonRegressor has one L2 penalty for every
coefficient (it would shrink the fixed effects too). The loss is four lines and torch's LBFGS
fits it in well under a second on S.

Uncertainty: a Laplace (normal) approximation per product. The data information on
``beta_p`` is ``I_p = sum_t mu_pt (x_pt - xbar_p)^2`` (``xbar_p`` the mu-weighted mean, which
profiles out ``a_p``); the posterior variance combines it with the prior and with the
variance of the category mean (``standard_errors``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tasks.train.pricing.panel import PricePanel

#: Slope structures: the learned one and the baselines (no slope, one global, per category).
SLOPES = ("hierarchical", "no_elasticity", "global_elasticity", "category_elasticity")


class ElasticityGLM(torch.nn.Module):
    """Parameters of one fitted GLM; ``slope`` picks which parts of beta are free."""

    def __init__(self, n_products: int, n_days: int, n_categories: int, slope: str = "hierarchical") -> None:
        super().__init__()
        if slope not in SLOPES:
            raise ValueError(f"slope must be one of {SLOPES}, got {slope!r}")
        self.slope = slope
        f64 = torch.float64
        self.a = torch.nn.Parameter(torch.zeros(n_products, dtype=f64))
        self.g = torch.nn.Parameter(torch.zeros(n_days, dtype=f64))
        self.b = torch.nn.Parameter(torch.zeros((), dtype=f64))
        self.b_category = torch.nn.Parameter(torch.zeros(n_categories, dtype=f64))
        self.u = torch.nn.Parameter(torch.zeros(n_products, dtype=f64))
        #: Cannibalisation: response of every product to its category's price index (learned model only).
        self.gamma = torch.nn.Parameter(torch.zeros((), dtype=f64))

    def beta(self, category: torch.Tensor) -> torch.Tensor:
        n = self.a.shape[0]
        if self.slope == "no_elasticity":
            return torch.zeros(n, dtype=self.a.dtype)
        beta = self.b.expand(n)
        if self.slope in ("hierarchical", "category_elasticity"):
            beta = beta + self.b_category[category]
        if self.slope == "hierarchical":
            beta = beta + self.u
        return beta


@dataclass
class ElasticityFit:
    """A fitted GLM in numpy terms, with what scoring and evaluation need."""

    glm: ElasticityGLM
    slope: str
    ref_log_price: np.ndarray  # (P,)
    category_index: np.ndarray  # (P,) int
    category_names: list[str]
    a: np.ndarray  # (P,)
    g: np.ndarray  # (T_train,)
    beta: np.ndarray  # (P,)
    beta_se: np.ndarray  # (P,)
    category_beta: np.ndarray  # (C,)
    n_days: int
    share: np.ndarray | None = None  # (P,) product's share of its category's training units
    gamma: float = 0.0  # slope on the category price index (0 = no cannibalisation term)
    gamma_se: float = 0.0

    @property
    def own_elasticity(self) -> np.ndarray:
        """d log units / d log own price, siblings' prices fixed: ``beta + gamma * share`` (the product
        also moves its own category index by its share)."""
        return self.beta + self.gamma * (self.share if self.share is not None else 0.0)

    def level(self, recent_days: int) -> float:
        """The day effect used for days after the training window: mean of the last days'."""
        return float(self.g[-recent_days:].mean()) if len(self.g) else 0.0

    def expected_units(self, log_price: np.ndarray, level: float, beta: np.ndarray | None = None) -> np.ndarray:
        """E[units] per product on a day with effect ``level`` at ``log_price`` ((P,) or (P, k))."""
        b = self.beta if beta is None else beta
        x = log_price - (self.ref_log_price if log_price.ndim == 1 else self.ref_log_price[:, None])
        bb = b if log_price.ndim == 1 else b[:, None]
        aa = self.a if log_price.ndim == 1 else self.a[:, None]
        cross = 0.0
        if self.gamma and self.share is not None:
            index = category_index(np.nan_to_num(x), self.share, self.category_index, len(self.category_names))
            cross = self.gamma * index[self.category_index]
        return np.exp(aa + level + bb * np.nan_to_num(x) + cross)


def category_index(x: np.ndarray, share: np.ndarray, cats: np.ndarray, n_categories: int) -> np.ndarray:
    """Share-weighted mean log price (vs usual) of each category: (C,) for x (P,), (C, T) for x (P, T).

    Its slope ``gamma`` is the cannibalisation term: when a sibling gets cheaper the category's index
    falls and, with ``gamma > 0``, so do this product's units (docs/pricing.md)."""
    out = np.zeros((n_categories, *x.shape[1:]))
    np.add.at(out, cats, (share if x.ndim == 1 else share[:, None]) * x)
    return out


def reference_log_price(panel: PricePanel, upto: int) -> np.ndarray:
    """The product's median known log price before ``upto`` (its usual price); 0 when never priced."""
    lp = panel.log_price[:, :upto]
    known = np.isfinite(lp).any(axis=1)
    ref = np.zeros(len(lp))
    if known.any():
        ref[known] = np.nanmedian(lp[known], axis=1)
    return np.where(np.isfinite(ref), ref, 0.0)


def category_codes(panel: PricePanel) -> tuple[np.ndarray, list[str]]:
    names = sorted(set(panel.categories.tolist()))
    index = {c: i for i, c in enumerate(names)}
    return np.array([index[c] for c in panel.categories], dtype=np.int64), names


def fit_elasticity(panel: PricePanel, upto: int, slope: str, *, prior_sd_category: float,
                   prior_sd_product: float, day_effects: bool = True, max_iter: int = 200,
                   cannibalisation: bool = False, prior_sd_gamma: float = 2.0) -> ElasticityFit:
    """MAP fit on days ``[0, upto)``; product-days with an unknown price are left out.

    ``cannibalisation`` adds ``gamma * category_index`` (one shop-wide slope, prior N(0, sd^2)):
    the product's response to its siblings' prices, which an own-price slope alone misses."""
    torch.set_num_threads(1)  # a few thousand cells: extra threads only add synchronisation
    cats, names = category_codes(panel)
    # One category (a source without categories): its index moves only with the day, which the
    # day effects already absorb, so gamma would be the prior alone; leave the term out.
    cannibalisation = cannibalisation and len(names) > 1
    ref = reference_log_price(panel, upto)
    lp = panel.log_price[:, :upto]
    mask = np.isfinite(lp)
    x = np.where(mask, lp - ref[:, None], 0.0)
    y = panel.units[:, :upto]
    glm = ElasticityGLM(len(panel.products), upto, len(names), slope)
    if not day_effects:
        glm.g.requires_grad_(False)
        weekday = np.array([d.weekday() for d in panel.dates[:upto]])
        dow = torch.nn.Parameter(torch.zeros(7, dtype=torch.float64))
    t_x, t_y, t_m = (torch.as_tensor(v, dtype=torch.float64) for v in (x, y, mask))
    t_cat = torch.as_tensor(cats)
    units = (y * mask).sum(1)
    cat_units = np.bincount(cats, weights=units, minlength=len(names))
    share = np.where(cat_units[cats] > 0, units / np.maximum(cat_units[cats], 1e-12), 0.0)
    index = category_index(x, share, cats, len(names))  # (C, T)
    t_index = torch.as_tensor(index[cats], dtype=torch.float64)  # (P, T)
    if not cannibalisation:
        glm.gamma.requires_grad_(False)
    pg = 0.5 / prior_sd_gamma**2
    # Starting values: product and day log means, so LBFGS starts near the optimum.
    with torch.no_grad():
        rate = (y * mask).sum(1) / np.maximum(mask.sum(1), 1)
        glm.a.copy_(torch.as_tensor(np.log(np.maximum(rate, 1e-3))))
        day_total = (y * mask).sum(0) / np.maximum(mask.sum(0), 1)
        glm.g.copy_(torch.as_tensor(np.log(np.maximum(day_total, 1e-3) / max(day_total.mean(), 1e-3))))
    params = [p for p in glm.parameters() if p.requires_grad] + ([] if day_effects else [dow])
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-7, tolerance_change=1e-10, history_size=20)
    n_obs = float(max(mask.sum(), 1))
    pc, pp = 0.5 / prior_sd_category**2, 0.5 / prior_sd_product**2

    def closure() -> torch.Tensor:
        opt.zero_grad()
        # Centred day effects: the level lives in a_p alone, so the fit has no flat direction.
        day = glm.g - glm.g.mean() if day_effects else dow[torch.as_tensor(weekday)]
        eta = glm.a[:, None] + day[None, :] + glm.beta(t_cat)[:, None] * t_x + glm.gamma * t_index
        nll = ((torch.exp(eta) - t_y * eta) * t_m).sum()
        loss = (nll + pc * (glm.b_category**2).sum() + pp * (glm.u**2).sum() + pg * glm.gamma**2) / n_obs
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        glm.g.copy_(glm.g - glm.g.mean() if day_effects else dow[torch.as_tensor(weekday)])
        beta = glm.beta(t_cat).numpy().copy()
        gamma = float(glm.gamma.item())
        mu = np.exp(glm.a.numpy()[:, None] + glm.g.numpy()[None, :] + beta[:, None] * x
                    + gamma * index[cats]) * mask
    se = standard_errors(mu, x, cats, len(names), slope, prior_sd_category, prior_sd_product)
    gamma_se = 0.0
    if cannibalisation:  # Laplace, a_p profiled out as for beta (the index is shared by the category)
        xi = index[cats]
        w = mu.sum(1, keepdims=True)
        centred = xi - np.where(w > 0, (mu * xi).sum(1, keepdims=True) / np.maximum(w, 1e-12), 0.0)
        gamma_se = float(1.0 / np.sqrt((mu * centred**2).sum() + 2 * pg))
    category_beta = np.array([glm.b.item() + (glm.b_category[i].item() if slope in ("hierarchical",
                              "category_elasticity") else 0.0) for i in range(len(names))])
    if slope == "no_elasticity":
        category_beta[:] = 0.0
    return ElasticityFit(glm, slope, ref, cats, names, glm.a.detach().numpy().copy(),
                         glm.g.detach().numpy().copy(), beta, se, category_beta, upto, share, gamma, gamma_se)


def standard_errors(mu: np.ndarray, x: np.ndarray, cats: np.ndarray, n_categories: int, slope: str,
                    sd_c: float, sd_p: float) -> np.ndarray:
    """Laplace standard error of each product's beta (module docstring).

    ``I_p`` is the Fisher information of the product's own slope with ``a_p`` profiled out.
    Category mean: precision ``sum_p 1/(sd_p^2 + 1/I_p)`` (+ its prior); product:
    ``1/(I_p + 1/sd_p^2)`` plus the shrinkage weight squared times the category variance.
    The global slope's own variance is ignored (it is pinned by every product at once).
    """
    w = mu.sum(1)
    xbar = np.where(w > 0, (mu * x).sum(1) / np.maximum(w, 1e-12), 0.0)
    info = (mu * (x - xbar[:, None]) ** 2).sum(1)
    if slope == "no_elasticity":
        return np.zeros(len(info))
    if slope == "global_elasticity":
        return np.full(len(info), 1.0 / np.sqrt(max(info.sum(), 1e-12)))
    cat_prec = np.bincount(cats, weights=info if slope == "category_elasticity"
                           else 1.0 / (sd_p**2 + 1.0 / np.maximum(info, 1e-12)), minlength=n_categories)
    cat_var = 1.0 / (cat_prec + 1.0 / sd_c**2)
    if slope == "category_elasticity":
        return np.sqrt(cat_var[cats])
    own_prec = info + 1.0 / sd_p**2
    shrink = (1.0 / sd_p**2) / own_prec
    return np.sqrt(1.0 / own_prec + shrink**2 * cat_var[cats])
