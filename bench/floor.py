"""The arithmetic floor of a training step: its matrix products, counted from the model's shapes.

A step's FLOPs are almost all matrix products. ``step_products`` lists every one that forward and
backward must do (shape, how many times, and the op that does it), from the model's and the
batch's shapes alone. ``floor_step`` does those products and nothing else, with operands
allocated once; the benchmark times it exactly as it times the step (same threads, interleaved
rounds, medians), so both see the same machine load. That is the time a step would take if it
did nothing but its arithmetic, at the throughput this machine gets on exactly those shapes,
and a step's time over it is its multiple of the floor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from seqrev.models.seq2seq import ModelConfig


@dataclass(frozen=True)
class Product:
    """``count`` products of an (m, k) by a (k, n) matrix, ``batch`` of them at a time (bmm)."""

    name: str
    m: int
    k: int
    n: int
    count: int
    batch: int = 1  # > 1: one bmm over ``batch`` independent products

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n * self.batch * self.count


def step_products(model: ModelConfig, batch: int, source_len: int) -> list[Product]:
    """Every matrix product of one teacher-forced training step, forward and backward.

    ``source_len`` letters per string (S); the decoder runs T = S + 1 steps (``<eos>``).
    A forward product ``X W`` has two in backward, ``dY W^T`` for the input and ``X^T dY`` for
    the weight; inputs that need no gradient (the first decoder state's query is not one) are
    still counted, since the step computes them.
    """
    b, s, e, h, v = batch, source_len, model.embedding_dim, model.hidden_dim, model.vocab_size
    t, g = s + 1, 3 * model.hidden_dim  # decoder steps, gate width

    def linear(name: str, rows: int, fan_in: int, fan_out: int, count: int = 1) -> list[Product]:
        return [Product(f"{name} forward", rows, fan_in, fan_out, count),
                Product(f"{name} d_input", rows, fan_out, fan_in, count),
                Product(f"{name} d_weight", fan_out, rows, fan_in, count)]

    products = [
        *linear("encoder input gates", b * s, e, g),
        *linear("encoder hidden gates", b, h, g, count=s),
        *linear("decoder embedding gates", b * t, e, g),
        *linear("decoder hidden gates", b, h, g, count=t),
        *linear("output logits", b * t, h, v),
    ]
    if model.kind == "attention":
        products += linear("decoder context gates", b, h, g, count=t)
        if model.score == "bilinear":
            products += linear("attention keys W h", b * s, h, h)
        products += [
            Product("scores forward", 1, h, s, t, batch=b),
            Product("context forward", 1, s, h, t, batch=b),
            Product("scores d_query", 1, s, h, t, batch=b),
            Product("scores d_keys", s, t, h, 1, batch=b),
            Product("context d_weights", 1, h, s, t, batch=b),
            Product("context d_memory", s, t, h, 1, batch=b),
        ]
    return products


def step_flops(model: ModelConfig, batch: int, source_len: int) -> int:
    return sum(p.flops for p in step_products(model, batch, source_len))


def _operands(product: Product) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if product.batch > 1:
        return (torch.randn(product.batch, product.m, product.k),  # (batch, m, k)
                torch.randn(product.batch, product.k, product.n),  # (batch, k, n)
                torch.empty(product.batch, product.m, product.n))  # (batch, m, n)
    return (torch.randn(product.m, product.k), torch.randn(product.k, product.n),  # (m,k), (k,n)
            torch.empty(product.m, product.n))  # (m, n)


def floor_step(model: ModelConfig, batch: int, source_len: int) -> Callable[[], None]:
    """A closure doing exactly the step's matrix products, each ``count`` times, and nothing else.

    Timed like the step itself (same threads, same rounds), it is the step's arithmetic floor.
    Operands are allocated once, so only the products are timed.
    """
    work = []
    for product in step_products(model, batch, source_len):
        left, right, out = _operands(product)
        work.append((torch.bmm if product.batch > 1 else torch.mm, left, right, out,
                     product.count))

    def run() -> None:
        for op, left, right, out, count in work:
            for _ in range(count):
                op(left, right, out=out)

    return run
