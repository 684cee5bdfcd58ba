"""The loss curve in ComfyUI's real front end: the page a ComfyUI server serves, in a headless Chromium
(tests/browser.py), loads the pack's example workflow, queues it and draws StyleNet Optimize's loss curve from the
node's messages (web/loss_curve.js). A screenshot of the node is kept for people to look at: in
$CLIPSTYLER_SCREENSHOTS if set, else in the test's temporary folder.

Needs ComfyUI (as tests/test_comfyui_live.py, whose server fixture it uses: a server of its own) and Chromium or
Chrome; skipped without them, except in CI (CLIPSTYLER_REQUIRE_COMFYUI=1), where that fails.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from browser import Chromium, find_chromium
from PIL import Image
from test_comfyui_live import OVERRIDES, server  # noqa: F401  (server: the fixture)
from tests_support import REPO

WORKFLOW = "Stylize an image from a text.json"
APP = "window.comfyAPI.app.app"


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser, looked for before the server starts (a skip should not wait for ComfyUI)."""
    return find_chromium()


def curve_state(node_id: str) -> str:
    """JavaScript: the node's curve as web/loss_curve.js keeps it, and what its canvas shows; null until final."""
    return f"""(() => {{
      const node = {APP}.graph.getNodeById({json.dumps(node_id)});
      const curve = node?.clipstylerLossCurve;
      if (!curve?.final) return null;
      const canvas = curve.canvas, box = canvas.getBoundingClientRect();
      const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let coloured = 0;  // pixels of a term's colour (not the grey background, grid, text or total), below the legend
      for (let y = Math.floor(canvas.height * 0.3); y < canvas.height; y++) {{
        for (let x = 0; x < canvas.width; x++) {{
          const i = 4 * (y * canvas.width + x);
          const channels = [pixels[i], pixels[i + 1], pixels[i + 2]];
          if (Math.max(...channels) - Math.min(...channels) > 60) coloured++;
        }}
      }}
      return {{promptId: curve.promptId, messages: curve.messages, positions: curve.points.map((p) => p.x),
               names: curve.names, size: [canvas.width, canvas.height], shown: [box.width, box.height],
               inPage: canvas.isConnected, coloured,
               widgets: node.widgets.filter((w) => w.name === "loss_curve").length,
               savedValues: node.serialize().widgets_values.length}};
    }})()"""


def queue(browser: Chromium, node_id: str, widgets: dict) -> tuple[str, list[str]]:
    """Set the node's widgets, queue the graph as the Queue button does; (prompt id, the node's prompt inputs)."""
    return browser.evaluate(f"""(async () => {{
      const app = {APP}, api = window.comfyAPI.api.api;
      const node = app.graph.getNodeById({json.dumps(node_id)});
      for (const [name, value] of Object.entries({json.dumps(widgets)})) {{
        const widget = node.widgets?.find((w) => w.name === name);
        if (!widget) throw new Error(`no widget ${{name}} in ${{node.widgets?.map((w) => w.name)}}`);
        widget.value = value;
      }}
      const prompt = await app.graphToPrompt();
      const response = await api.queuePrompt(0, prompt);
      return [response.prompt_id, Object.keys(prompt.output[{json.dumps(node_id)}].inputs)];
    }})()""")


def test_the_loss_curve_is_drawn_kept_after_the_run_and_a_reload_sharp_when_zoomed_and_cleared_by_the_next(
        chromium, server, tmp_path):  # noqa: F811
    server.post("/settings/Comfy.TutorialCompleted", True)  # no first-visit template browser over the graph
    workflow = json.load(open(os.path.join(REPO, "example_workflows", WORKFLOW)))
    with Chromium(chromium, str(tmp_path / "profile")) as browser:
        browser.navigate(server.url)
        # Ready: the nodes registered (after the extensions' init), and the page's own first graph loaded, so it
        # cannot replace the one loaded here.
        browser.wait_for("window.LiteGraph?.registered_node_types?.CLIPstylerStyleNetOptimize && "
                         f"{APP}.vueAppReady && {APP}.graph?.nodes?.length > 0 && "
                         f"{APP}.extensions?.some((e) => e.name === 'CLIPstyler.lossCurve')",
                         what="ComfyUI's page with the pack's nodes and loss curve extension")
        node_id, saved_before = browser.evaluate(f"""(async () => {{
          const app = {APP};
          await app.loadGraphData({json.dumps(workflow)});
          const overrides = {json.dumps(OVERRIDES)};
          for (const node of app.graph.nodes) {{
            for (const [name, value] of Object.entries(overrides[node.comfyClass ?? node.type] ?? {{}})) {{
              const widget = node.widgets?.find((w) => w.name === name);
              if (widget) widget.value = value;
            }}
          }}
          const node = app.graph.nodes.find((n) => (n.comfyClass ?? n.type) === "CLIPstylerStyleNetOptimize");
          app.canvas.ds.scale = 1;
          app.canvas.centerOnNode(node);
          return [String(node.id), node.serialize().widgets_values.length];
        }})()""")

        first, inputs = queue(browser, node_id, {"seed": 11})
        assert server.wait(first)["status"]["status_str"] == "success"
        state = browser.wait_for(curve_state(node_id), timeout=30, what="the final loss curve message")
        assert state["promptId"] == first and state["positions"] == [1, 2, 3, 4]  # steps 4, preview_every 1
        assert state["names"][0] == "total" and {"patch", "dir", "content", "tv"} <= set(state["names"])
        assert state["widgets"] == 1 and state["inPage"] and min(state["shown"]) > 50 and min(state["size"]) > 50
        assert state["coloured"] > 50, state  # the terms' lines are drawn on the canvas
        assert state["savedValues"] == saved_before  # the curve is not saved in the workflow
        assert "loss_curve" not in inputs

        # A new run of the node: the old curve goes, the new one has only the new run's steps; it stays afterwards.
        second, inputs = queue(browser, node_id, {"seed": 12, "steps": 6})
        assert second != first and "loss_curve" not in inputs
        assert server.wait(second)["status"]["status_str"] == "success"
        browser.wait_for(f"({curve_state(node_id)})?.promptId === {json.dumps(second)}", timeout=30,
                         what="the second run's curve")
        browser.evaluate("new Promise((resolve) => setTimeout(resolve, 1000))")
        state = browser.evaluate(curve_state(node_id))
        assert state["positions"] == [1, 2, 3, 4, 5, 6] and state["coloured"] > 50, state

        # Zoomed in, the curve is redrawn with more pixels (sharp), at the same place in the node.
        zoomed = browser.evaluate(f"""(async () => {{
          const app = {APP}, node = app.graph.getNodeById({json.dumps(node_id)});
          app.canvas.ds.scale = 2;
          app.canvas.centerOnNode(node);
          app.canvas.setDirty(true, true);
          for (let i = 0; i < 10; i++) await new Promise((resolve) => requestAnimationFrame(resolve));
          const canvas = node.clipstylerLossCurve.canvas, box = canvas.getBoundingClientRect();
          return {{size: [canvas.width, canvas.height], layout: [canvas.clientWidth, canvas.clientHeight],
                   shown: [box.width, box.height]}};
        }})()""")
        ratio = zoomed["shown"][0] / zoomed["layout"][0]
        assert ratio > 1.5, zoomed  # the front end scaled the widget with the canvas
        assert zoomed["size"][0] == pytest.approx(zoomed["shown"][0], abs=2), (zoomed, state)  # one pixel each

        # The final curve survives a reload: the page restores its workflow, the node its saved curve.
        browser.evaluate(f"{APP}.canvas.ds.scale = 1")
        browser.evaluate("new Promise((resolve) => setTimeout(resolve, 1500))")  # the front end saves its workflow
        browser.navigate(server.url)
        browser.wait_for(f"window.comfyAPI?.app?.app?.vueAppReady && {APP}.graph?.getNodeById({json.dumps(node_id)})"
                         "?.clipstylerLossCurve?.final", timeout=60, what="the curve restored after a reload")
        restored = browser.evaluate(curve_state(node_id))
        assert restored["positions"] == [1, 2, 3, 4, 5, 6] and restored["promptId"] == second, restored
        assert restored["names"] == state["names"] and restored["coloured"] > 50 and restored["widgets"] == 1
        assert restored["savedValues"] == saved_before  # in the node's properties, not its widget values

        folder = os.environ.get("CLIPSTYLER_SCREENSHOTS") or str(tmp_path)
        os.makedirs(folder, exist_ok=True)
        browser.evaluate(f"""(() => {{
          const node = {APP}.graph.getNodeById({json.dumps(node_id)});
          {APP}.canvas.centerOnNode(node);
          return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        }})()""")
        page = os.path.join(folder, "clipstyler_loss_curve_page.png")
        browser.screenshot(page)
        canvas = browser.evaluate(f"{APP}.graph.getNodeById({json.dumps(node_id)}).clipstylerLossCurve.canvas"
                                  ".toDataURL('image/png')")
        alone = os.path.join(folder, "clipstyler_loss_curve_canvas.png")
        with open(alone, "wb") as file:
            file.write(base64.b64decode(canvas.split(",", 1)[1]))
    with Image.open(page) as picture, Image.open(alone) as curve:
        assert picture.size == (1400, 1000) and curve.size == tuple(state["size"])
