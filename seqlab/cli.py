"""The ``seqlab`` command line. Thin: parses, calls the API, prints. User errors print one line, exit 2."""

from __future__ import annotations

import sys
import time

import typer
from rich.console import Console

from seqlab.errors import SeqlabError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sequence modeling with recurrent networks.")
console = Console()


@app.callback()
def _root() -> None:
    """seqlab: train, evaluate, inspect and serve recurrent sequence models."""


@app.command()
def demo(seed: int = typer.Option(1, help="random seed")) -> None:
    """Engine demo: seqlab's explicit-BPTT LSTM against torch.nn.LSTM on the same weights."""
    import torch

    from seqlab.engine import LSTM

    torch.manual_seed(seed)
    ref = torch.nn.LSTM(128, 256, batch_first=True)
    mine = LSTM(128, 256, batch_first=True, impl="explicit")
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(64, 100, 128, requires_grad=True)
    results = {}
    for name, m in (("seqlab explicit", mine), ("torch.nn.LSTM", ref)):
        out, _ = m(x)
        (gx,) = torch.autograd.grad(out.square().sum(), x)
        t0 = time.perf_counter()
        for _ in range(3):
            out, _ = m(x)
            out.square().sum().backward()
        results[name] = (out.detach(), gx, (time.perf_counter() - t0) / 3)
    (o1, g1, t1), (o2, g2, t2) = results.values()
    console.print("LSTM B=64 T=100 I=128 H=256, forward + backward")
    console.print(f"  max |output difference|   {float((o1 - o2).abs().max()):.2e}")
    console.print(f"  max |dL/dx difference|    {float((g1 - g2).abs().max()):.2e}")
    console.print(f"  seqlab explicit {t1 * 1e3:8.1f} ms/iter   torch.nn {t2 * 1e3:8.1f} ms/iter   "
                  f"ratio {t2 / t1:.2f}x")


def main() -> None:
    """Entry point: run the app, turning SeqlabError into one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except SeqlabError as e:
        Console(stderr=True).print(f"[red]{type(e).__name__}[/red]: {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
