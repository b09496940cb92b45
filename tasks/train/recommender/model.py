"""SASRec with item side features and a repeat channel, its loss, and its ``Ranker`` view.

The network is the only torch module of the recommender; keeping it apart from the
recipe lets scoring load it without the training code paths.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from tasks.train.ranking_baselines import Contexts
from tasks.train.recommender.config import RecommenderConfig
from tasks.train.recommender.data import ItemSide


class CausalBlock(nn.Module):
    """Pre-norm self-attention + feed-forward; each position sees itself and earlier items."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, n, d), or (B, 1, d) for the last position alone with ``last_only``: scoring
        reads only that one, and the projection + feed-forward of the other n - 1 were most
        of the serving time (issue 15). Attention still runs for every query: its kernel
        rounds a lone query differently, and served scores must not move."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        if last_only:
            att, x = att[:, :, -1:], x[:, -1:]
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, x.shape[1], d)))
        return x + self.drop(self.ff(self.ln2(x)))


class SASRec(nn.Module):
    """Items (id + category + price band + text) -> causal transformer -> next-day scores.

    Side features are buffers, so an artefact carries exactly the features the
    model was trained with; scoring never re-derives them from newer data.
    Index 0 is padding and is never recommended.
    """

    def __init__(self, n_items: int, n_categories: int, cfg: RecommenderConfig) -> None:
        super().__init__()
        d = cfg.embedding_dim
        self.ids = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.cats = nn.Embedding(n_categories + 1, d)
        self.bands = nn.Embedding(cfg.n_price_bands + 1, d)
        self.words = nn.EmbeddingBag(cfg.text_buckets + 1, d, mode="mean", padding_idx=0)
        self.pos = nn.Embedding(cfg.max_history, d)
        self.blocks = nn.ModuleList(CausalBlock(d, cfg.n_heads, cfg.dropout) for _ in range(cfg.n_blocks))
        self.ln = nn.LayerNorm(d)
        self.emb_drop = nn.Dropout(cfg.dropout)
        self.bias = nn.Parameter(torch.zeros(n_items + 1))
        # Repeat channel: re-buying is common (UCI: ~30 % of next-day items are already in
        # the user's history), and a dot product with one user vector ranks "any of my
        # 30 past items" poorly. Each past item gets a bonus that decays with how many
        # steps back it is, scaled by a per-user gate learned from the hidden state.
        self.repeat_steps = nn.Parameter(torch.full((cfg.max_history,), -2.0))
        self.repeat_gate = nn.Linear(d, 1)
        self.register_buffer("item_category", torch.zeros(n_items + 1, dtype=torch.long))
        self.register_buffer("item_band", torch.zeros(n_items + 1, dtype=torch.long))
        self.register_buffer("item_tokens", torch.zeros(n_items + 1, cfg.max_tokens, dtype=torch.long))
        for emb in (self.ids, self.cats, self.bands, self.words, self.pos):
            nn.init.normal_(emb.weight, std=0.05)
        with torch.no_grad():
            self.ids.weight[0].zero_()
            self.words.weight[0].zero_()

    def set_side(self, side: ItemSide) -> None:
        self.item_category.copy_(torch.as_tensor(side.category))
        self.item_band.copy_(torch.as_tensor(side.price_band))
        self.item_tokens.copy_(torch.as_tensor(side.tokens))

    def item_vectors(self) -> torch.Tensor:
        """(V+1, d): every item's vector; the padding row is zero."""
        vec = (self.ids.weight + self.cats(self.item_category) + self.bands(self.item_band)
               + self.words(self.item_tokens))
        return torch.cat([torch.zeros_like(vec[:1]), vec[1:]])

    def hidden(self, seq: torch.Tensor, items: torch.Tensor | None = None, last_only: bool = False,
               ) -> torch.Tensor:
        """(B, L, d) hidden state after each position of right-aligned ``seq``; (B, 1, d)
        after the last one alone with ``last_only`` (the final block skips the others)."""
        items = self.item_vectors() if items is None else items
        n = seq.shape[1]
        x = items[seq] + self.pos.weight[None, :n]
        x = self.emb_drop(x)
        real = seq > 0
        eye = torch.eye(n, dtype=torch.bool, device=seq.device)
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool, device=seq.device))
        mask = (causal[None] & real[:, None, :]) | eye[None]  # a padded row still attends to itself
        for i, block in enumerate(self.blocks):
            x = block(x, mask[:, None], last_only=last_only and i == len(self.blocks) - 1)
        return self.ln(x)

    def repeat_bonus(self, seq: torch.Tensor, h: torch.Tensor, rows: torch.Tensor, n_cols: int,
                     cols: torch.Tensor | None = None) -> torch.Tensor:
        """(P, n_cols) bonus, for the P positions where ``rows`` (B, L) is True, of the items
        each has already seen (itself and earlier): softplus(step weight) x softplus(gate).

        With ``cols`` (sorted item indices, the candidates of a sampled softmax) column j
        is item ``cols[j]`` and ``n_cols`` must be ``len(cols)``: the bonus is never built
        over the whole catalogue, which would be (P x V) on a huge one.
        """
        ctx, vals = self._repeat_values(seq, h, rows, cols)
        out = torch.zeros(len(ctx), n_cols, device=seq.device, dtype=vals.dtype)
        return out.scatter_add_(1, ctx, vals)

    def _repeat_values(self, seq: torch.Tensor, h: torch.Tensor, rows: torch.Tensor,
                       cols: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(column, value), each (P, L): ``repeat_bonus`` before it is scattered."""
        n = seq.shape[1]
        steps = torch.arange(n, device=seq.device)
        back = steps[:, None] - steps[None, :]  # (t, s): how many steps s is before t
        per_step = F.softplus(self.repeat_steps)[back.clamp(0, len(self.repeat_steps) - 1)]
        per_step = torch.where(back >= 0, per_step, torch.zeros_like(per_step))  # (t, s)
        b_idx, t_idx = rows.nonzero(as_tuple=True)
        ctx = seq[b_idx]  # (P, L)
        vals = per_step[t_idx] * (ctx > 0) * F.softplus(self.repeat_gate(h[b_idx, t_idx]))
        if cols is not None:
            at = torch.searchsorted(cols, ctx).clamp(max=len(cols) - 1)
            vals = vals * (cols[at] == ctx)
            ctx = at
        return ctx, vals

    def forward(self, seq: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """(B, V+1) scores of every item after the last position (padding scored -inf).
        ``items``: ``item_vectors()`` computed once by a caller that scores many batches
        with the same weights (serving), instead of once per batch."""
        items = self.item_vectors() if items is None else items
        h = self.hidden(seq, items, last_only=True).expand(-1, seq.shape[1], -1)  # a view: h[:, -1] is it
        last = torch.zeros_like(seq, dtype=torch.bool)
        last[:, -1] = True
        logits = h[:, -1] @ items.T
        logits += self.bias
        # The repeat bonus touches at most L items per row: summed per distinct item in the
        # order repeat_bonus's scatter_add_ sums them, then added to those items only. Serving
        # once built a zero (B x V) matrix for it and added the whole of it (the same sums; an
        # untouched item gained + 0.0).
        ctx, vals = self._repeat_values(seq, h, last)
        first = (ctx[:, :, None] == ctx[:, None, :]).to(torch.uint8).argmax(dim=2)  # first slot of the item
        summed = torch.zeros_like(vals).scatter_add_(1, first, vals).gather(1, first)
        logits.scatter_(1, ctx, logits.gather(1, ctx) + summed)
        logits = logits.float()
        logits[:, 0] = float("-inf")
        return logits


def uses_sampled_softmax(cfg: RecommenderConfig, n_items: int, n_positions: int = 0) -> bool:
    """Whether training samples the softmax: a catalogue over ``full_softmax_items``, or a
    pass over ``n_positions`` costing more than ``sampled_softmax_logits`` logits."""
    return n_items > cfg.full_softmax_items or n_positions * n_items > cfg.sampled_softmax_logits


def make_loss(cfg: RecommenderConfig, n_items: int, n_positions: int = 0):  # noqa: ANN201 - a loss closure for common.fit
    """Weighted next-day cross-entropy plus ``next_item_weight`` x next-item cross-entropy.

    Softmax over the full catalogue while it is affordable (``uses_sampled_softmax``:
    at most ``full_softmax_items`` items and ``n_positions`` x items under
    ``sampled_softmax_logits``). Otherwise a sampled softmax: the candidates are every
    target of the batch (in-batch negatives for the other positions) plus ``n_negatives``
    seeded uniform items, so a batch costs O(positions x candidates) instead of
    O(positions x catalogue) and a catalogue of millions of items still trains.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    sampled = uses_sampled_softmax(cfg, n_items, n_positions)
    safe = 0 if sampled else 1  # a real column (sampled: the first candidate; full: item 1)

    def ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # Positions without this target get weight 0 and a harmless stand-in label (column 0
        # is -inf in a full softmax: its loss would be inf, and inf x 0 is NaN).
        per = F.cross_entropy(logits, torch.where(weight > 0, target, torch.full_like(target, safe)),
                              reduction="none")
        per = torch.where(weight > 0, per, torch.zeros_like(per))
        total = weight.sum()
        return (per * weight).sum() / total if total > 0 else per.sum() * 0.0

    def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        items = model.item_vectors()
        seq = batch["items"]
        h_all = model.hidden(seq, items)
        day, nxt = batch["targets"], batch.get("next_items", torch.zeros_like(batch["targets"]))
        keep = (day > 0) | (nxt > 0)
        h, day, nxt, w = h_all[keep], day[keep], nxt[keep], batch["weights"][keep]
        if sampled:
            neg = torch.randint(1, n_items + 1, (max(cfg.n_negatives, 1),), generator=gen).to(h.device)
            cand = torch.unique(torch.cat([day[day > 0], nxt[nxt > 0], neg]))  # sorted
            bonus = model.repeat_bonus(seq, h_all, keep, len(cand), cand)
            logits = (h @ items[cand].T + model.bias[cand] + bonus).float()
            day_t = torch.where(day > 0, torch.searchsorted(cand, day), -1)
            nxt_t = torch.where(nxt > 0, torch.searchsorted(cand, nxt), -1)
        else:
            bonus = model.repeat_bonus(seq, h_all, keep, len(items))  # rows in keep's order
            logits = (h @ items.T + model.bias + bonus).float()
            logits[:, 0] = float("-inf")
            day_t, nxt_t = torch.where(day > 0, day, -1), torch.where(nxt > 0, nxt, -1)
        out = ce(logits, day_t, w * (day_t >= 0))
        if cfg.next_item_weight > 0:
            out = out + cfg.next_item_weight * ce(logits, nxt_t, (nxt_t >= 0).to(logits.dtype))
        return out

    return loss


class SASRecRanker:
    """The model as a ``Ranker`` (batched, no grad)."""

    def __init__(self, model: SASRec, device: torch.device, batch_size: int = 1024) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    @torch.no_grad()
    def scores(self, ctx: Contexts) -> np.ndarray:
        out = []
        n_pos = self.model.pos.weight.shape[0]
        items = ctx.items[:, -n_pos:]
        for s in range(0, len(items), self.batch_size):
            seq = torch.as_tensor(items[s:s + self.batch_size], device=self.device)
            out.append(self.model(seq).cpu().numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, self.model.bias.shape[0]))
