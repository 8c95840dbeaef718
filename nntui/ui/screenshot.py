"""Save an SVG screenshot of the dashboard mid-training (for the README):

    python -m nntui.ui.screenshot assets/dashboard.svg [--preset lecture] [--epochs 3000]
    python -m nntui.ui.screenshot assets/boundary.svg --preset xor --epochs 1500
    python -m nntui.ui.screenshot assets/gallery.svg --view gallery --activation tanh
    python -m nntui.ui.screenshot assets/stepper.svg --view stepper --nodes 12
    python -m nntui.ui.screenshot assets/sweep.svg --view sweep --epochs 3000

Runs the real app headless at 120×40 with the real trainer, starts training, waits until
the loss has fallen for a while (the plots then show a curve and a bent fit), and saves
what the screen shows with Textual's own `save_screenshot`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import replace
from pathlib import Path


async def take(
    path: Path, preset_name: str, epochs: int, size: tuple[int, int], view: str = "", activation: str = "",
    nodes: int = 0,
) -> None:
    from nntui.engine.presets import preset
    from nntui.ui.factory import create_app

    config = preset(preset_name)
    if config.epochs <= epochs:
        config = replace(config, epochs=10 * epochs)  # still running when the picture is taken
    app = create_app(config)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.action_toggle_run()
        deadline = time.monotonic() + 120
        # the fit snapshot comes about once a second: wait for one taken after `epochs` too
        while app.status.epoch < epochs or app.fit_plot.fit is None or app.fit_plot.fit.epoch < epochs:
            if time.monotonic() > deadline:
                raise SystemExit(f"training did not reach epoch {epochs} within 2 minutes")
            await asyncio.sleep(0.1)
        for plot in app.plots:
            plot.redraw()
        await asyncio.sleep(0.5)  # one more tick: status line and plots current
        if view == "gallery":
            from textual.widgets import OptionList

            from nntui.engine.names import ACTIVATIONS
            from nntui.ui.screens.gallery import GalleryScreen

            app.action_gallery()
            while not (isinstance(app.screen, GalleryScreen) and app.screen.is_mounted):
                if time.monotonic() > deadline:
                    raise SystemExit("the gallery did not open")
                await asyncio.sleep(0.1)
            if activation:
                app.screen.query_one(OptionList).highlighted = ACTIVATIONS.index(activation)
            await asyncio.sleep(0.5)
        if view == "stepper":
            from nntui.ui.screens.backprop import BackpropScreen

            app.action_backprop()
            while not (isinstance(app.screen, BackpropScreen) and app.screen.is_mounted):
                if time.monotonic() > deadline:
                    raise SystemExit("the stepper did not open")
                await asyncio.sleep(0.1)
            for _ in range(nodes):
                app.screen.action_next()
            await asyncio.sleep(0.5)
        app.save_screenshot(filename=path.name, path=str(path.parent))
        await app.host.shutdown(timeout=1.0)


SWEPT_ACTIVATIONS = "relu,tanh,sigmoid,leaky_relu,elu,gelu,linear,step"
"""The sweep screenshot's question: the lecture's experiment under each of these activations."""


async def take_sweep(path: Path, preset_name: str, epochs: int, size: tuple[int, int]) -> None:
    """The sweep's dashboard on the lecture's activations × 2 seeds, once every trial is done
    and the best one's fit is shown (the trials train in real worker processes)."""
    import tempfile

    from nntui.engine.grid import build_grid
    from nntui.engine.presets import preset
    from nntui.engine.sweep import Sweep
    from nntui.ui.sweep_app import create_sweep_app

    base = replace(preset(preset_name), epochs=epochs)
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="nntui-shot-") as tmp:
        os.chdir(tmp)  # the status line shows --out as given: a path a user would type
        grid = build_grid([f"activation={SWEPT_ACTIVATIONS}", "seed=0..1"], base)
        app = create_sweep_app(Sweep(base, grid, Path("sweeps/acts"), jobs=os.cpu_count() or 2))
        async with app.run_test(size=size) as pilot:
            deadline = time.monotonic() + 600
            while app.running:
                if time.monotonic() > deadline:
                    raise SystemExit("the sweep did not finish within 10 minutes")
                await asyncio.sleep(0.2)
            await pilot.press("enter")  # the leader's fit beside the plot
            await asyncio.sleep(2.0)  # its curve and fit drawn, the table sorted
            app.save_screenshot(filename=path.name, path=str(path.parent))
        os.chdir(here)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="where to write the SVG")
    parser.add_argument("--preset", default="lecture")
    parser.add_argument("--epochs", type=int, default=3000, help="take the picture after this many epochs")
    parser.add_argument("--size", default="120x40", help="terminal size, WxH")
    parser.add_argument("--view", choices=["", "gallery", "stepper", "sweep"], default="",
                        help="open a view over the dashboard first")
    parser.add_argument("--nodes", type=int, default=0, help="with --view stepper: nodes to reveal")
    parser.add_argument("--activation", default="", help="with --view gallery: the activation to show")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.path = args.path.resolve()
    args.path.parent.mkdir(parents=True, exist_ok=True)
    if args.view == "sweep":
        asyncio.run(take_sweep(args.path, args.preset, args.epochs, (width, height)))
    else:
        asyncio.run(take(args.path, args.preset, args.epochs, (width, height), args.view, args.activation,
                         args.nodes))
    print(f"saved {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
