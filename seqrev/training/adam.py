"""Adam on torch's fused kernel, without ``torch.optim``.

Building any ``torch.optim`` optimizer imports ``torch._dynamo`` on first use, about 1.5 s on
this CPU: a tenth of the attention model's whole time to 99% (docs/speed.md). This class
calls the same fused kernel that ``torch.optim.Adam(fused=True)`` calls, so the numbers are
identical, and its ``state_dict`` has ``torch.optim.Adam``'s layout, so saved run states load
in either.
"""

from __future__ import annotations

from typing import Any

import torch

BETAS = (0.9, 0.999)
EPSILON = 1e-8


class Adam:
    """Adam (no weight decay, no AMSGrad) over one group of parameters."""

    def __init__(self, params, lr: float) -> None:
        self.params: list[torch.Tensor] = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("Adam needs at least one parameter that requires a gradient")
        self.param_groups: list[dict[str, Any]] = [{
            "lr": float(lr), "betas": BETAS, "eps": EPSILON, "weight_decay": 0.0,
            "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
            "differentiable": False, "fused": True, "decoupled_weight_decay": False,
            "params": list(range(len(self.params))),
        }]
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        chosen = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not chosen:
            return
        group = self.param_groups[0]
        steps = [self.steps[i] for i in chosen]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            [self.params[i] for i in chosen], [self.params[i].grad for i in chosen],
            [self.exp_avgs[i] for i in chosen], [self.exp_avg_sqs[i] for i in chosen], [],
            steps, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0,
            eps=group["eps"], amsgrad=False, maximize=False,
        )

    def state_dict(self) -> dict[str, Any]:
        """``torch.optim.Adam``'s layout: per-parameter ``step``, ``exp_avg``, ``exp_avg_sq``."""
        state = {
            index: {"step": self.steps[index], "exp_avg": self.exp_avgs[index],
                    "exp_avg_sq": self.exp_avg_sqs[index]}
            for index in range(len(self.params)) if bool(self.steps[index] > 0)
        }
        return {"state": state, "param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Load a ``state_dict`` of this class or of ``torch.optim.Adam`` over the same params."""
        groups = saved["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("the saved optimizer state has a different number of parameters")
        for index, state in saved["state"].items():
            index = int(index)
            if not 0 <= index < len(self.params):
                raise ValueError(f"the saved optimizer state names parameter {index}")
            for name, target in (("exp_avg", self.exp_avgs), ("exp_avg_sq", self.exp_avg_sqs)):
                value = state[name]
                if value.shape != self.params[index].shape:
                    raise ValueError(f"saved {name} of parameter {index} has shape "
                                     f"{tuple(value.shape)}, not {tuple(self.params[index].shape)}")
                target[index].copy_(value)
            self.steps[index].fill_(float(state["step"]))
        self.param_groups[0]["lr"] = float(groups[0]["lr"])
