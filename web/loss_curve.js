// CLIPstyler: the loss curve (the total and each term, log scale) inside StyleNet Optimize and Train Fast StyleNet,
// drawn from the "clipstyler.losses" messages the node sends with each preview (nodes/loss_curve.py). The curve
// appears with the first message, stays after the run (kept in the node's properties, so a page reload or a saved
// workflow shows it again), and is cleared when that node runs again. Plain canvas 2D, redrawn at the canvas's zoom.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const EVENT = "clipstyler.losses";
const NODE_TYPES = new Set(["CLIPstylerStyleNetOptimize", "CLIPstylerTrainFastStyleNet"]);
const WIDGET_NAME = "loss_curve";
const PROPERTY = "clipstyler_loss_curve"; // the last curve, in the node's properties (not in its widget values)
const MAX_SAVED_POINTS = 400; // longer curves are thinned (every k-th point and the last) before saving
const MAX_ZOOM_DETAIL = 4; // the canvas gets at most this many pixels per CSS pixel from the canvas's zoom
const HEIGHT = 200; // the curve's height in the node, px at zoom 1
// clipstyler/loss_plot.py's colours (the CLI's --plot), but a light total on this dark background.
const COLOURS = { total: "#eeeeee", patch: "#d62728", dir: "#1f77b4", content: "#2ca02c", tv: "#9467bd",
                  temporal: "#ff7f0e" };
const EXTRA_COLOURS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const BACKGROUND = "#1b1b1b", GRID = "#3a3a3a", MINOR_GRID = "#262626", AXIS = "#777777", TEXT = "#cccccc";
const FONT = "10px sans-serif";

function colours(names) {
  let extra = 0;
  const next = () => EXTRA_COLOURS[extra++ % EXTRA_COLOURS.length];
  return Object.fromEntries(names.map((name) => [name, COLOURS[name] ?? next()]));
}

// The node's curve: its points and a canvas in a DOM widget, made when the first message for the node arrives, or
// when a workflow with a saved curve loads (restoring: the node's saved size already has room for it).
function curveOf(node, restoring = false) {
  if (node.clipstylerLossCurve) return node.clipstylerLossCurve;
  const canvas = document.createElement("canvas");
  canvas.className = "clipstyler-loss-curve";
  canvas.style.cssText = "display:block;width:100%;height:100%;";
  const curve = { canvas, node, points: [], names: [], runs: 1, steps: 1, promptId: null, final: false, messages: 0,
                  detail: 0 };
  node.clipstylerLossCurve = curve;
  if (typeof node.addDOMWidget === "function") {
    const widget = node.addDOMWidget(WIDGET_NAME, "clipstyler_loss_curve", canvas, {
      serialize: false, // neither in the saved workflow nor in the prompt
      hideOnZoom: false,
      getValue: () => "",
      setValue: () => {},
      getMinHeight: () => HEIGHT,
      getMaxHeight: () => HEIGHT,
    });
    if (widget) widget.serialize = false;
    // Room for the curve below the widgets, keeping what the node had for its preview image.
    const size = node.computeSize?.();
    const room = restoring ? 0 : HEIGHT;
    if (size && node.size) node.setSize?.([Math.max(node.size[0], size[0]), Math.max(node.size[1] + room, size[1])]);
  }
  if (typeof ResizeObserver === "function") new ResizeObserver(() => draw(curve)).observe(canvas);
  return curve;
}

// Zooming scales the canvas element (a CSS transform on it or a container) without resizing it, after the graph
// has drawn: watch the style of the canvas and its containers, and redraw with more pixels when the zoom changed.
function watchZoom(curve) {
  if (curve.zoomWatch || !curve.canvas.isConnected || typeof MutationObserver !== "function") return;
  curve.zoomWatch = new MutationObserver(() => {
    if (Math.abs(pixelRatio(curve.canvas) - curve.detail) > 0.01 * curve.detail) draw(curve);
  });
  for (let element = curve.canvas; element && element !== document.body; element = element.parentElement) {
    curve.zoomWatch.observe(element, { attributes: true, attributeFilter: ["style"] });
  }
}

// Device pixels per CSS pixel of the canvas as shown: the screen's density times the canvas's zoom (capped).
function pixelRatio(canvas) {
  const zoom = canvas.clientWidth ? canvas.getBoundingClientRect().width / canvas.clientWidth : 1;
  const detail = Math.min(MAX_ZOOM_DETAIL, Math.max(1, Number.isFinite(zoom) ? zoom : 1));
  return (window.devicePixelRatio || 1) * detail;
}

function clear(curve, promptId) {
  Object.assign(curve, { points: [], names: [], promptId, final: false, messages: 0 });
  if (curve.node.properties) delete curve.node.properties[PROPERTY];
}

// The curve as the node's properties keep it: thinned to MAX_SAVED_POINTS, the last point always kept.
function save(curve) {
  const every = Math.ceil(curve.points.length / MAX_SAVED_POINTS);
  const points = curve.points.filter((_, i) => i % every === 0 || i === curve.points.length - 1);
  const { promptId, runs, steps, final, names, messages } = curve;
  curve.node.properties ??= {};
  curve.node.properties[PROPERTY] = { promptId, runs, steps, final, names, messages, points };
}

// Tell the front end's change tracker that the graph changed (it has no event for properties), so the workflow it
// keeps for a reload, and marks as modified, holds the final curve.
function noteChange() {
  try {
    app.extensionManager?.workflow?.activeWorkflow?.changeTracker?.checkState?.();
  } catch (error) {
    console.warn("CLIPstyler: could not note the loss curve in the workflow", error);
  }
}

function restore(node) {
  const saved = node.properties?.[PROPERTY];
  if (!Array.isArray(saved?.points) || !saved.points.length) return;
  const curve = curveOf(node, true);
  const points = saved.points.filter((p) => Number.isFinite(p?.x) && p.losses && typeof p.losses === "object")
    .map((p) => ({ run: p.run | 0, x: p.x, losses: p.losses }));
  const names = Array.isArray(saved.names) ? saved.names.filter((n) => typeof n === "string") : [];
  Object.assign(curve, { points, names, runs: Math.max(1, saved.runs | 0), steps: Math.max(1, saved.steps | 0),
                         promptId: saved.promptId ?? null, final: Boolean(saved.final), messages: saved.messages | 0 });
  draw(curve);
}

function add(curve, message) {
  if (message.start || message.prompt_id !== curve.promptId) clear(curve, message.prompt_id ?? null);
  curve.runs = Math.max(1, message.runs | 0);
  curve.steps = Math.max(1, message.steps | 0);
  curve.final = Boolean(message.final);
  curve.messages += 1;
  for (const point of Array.isArray(message.points) ? message.points : []) {
    const losses = point?.losses ?? {};
    for (const name of Object.keys(losses)) if (!curve.names.includes(name)) curve.names.push(name);
    curve.points.push({ run: point.run | 0, x: (point.run | 0) * curve.steps + (point.step | 0), losses });
  }
  curve.names.sort((a, b) => (b === "total") - (a === "total")); // the total first, the others as they came
}

const positive = (value) => typeof value === "number" && Number.isFinite(value) && value > 0;

function decades(curve) {
  let low = Infinity, high = -Infinity;
  for (const point of curve.points) {
    for (const value of Object.values(point.losses)) {
      if (!positive(value)) continue;
      low = Math.min(low, value);
      high = Math.max(high, value);
    }
  }
  if (low === Infinity) return [-1, 1];
  const a = Math.floor(Math.log10(low)), b = Math.ceil(Math.log10(high));
  return [a, Math.max(b, a + 1)];
}

function niceStep(span) {
  const raw = Math.max(span / 5, 1), magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((step) => step >= raw);
}

const powerLabel = (power) => (power >= 0 && power <= 3 ? String(10 ** power) : `1e${power}`);

function lastValue(curve, name) {
  for (let i = curve.points.length - 1; i >= 0; i--) {
    const value = curve.points[i].losses[name];
    if (typeof value === "number" && Number.isFinite(value)) return Number(value.toPrecision(4)).toString();
  }
  return "-";
}

function draw(curve) {
  const canvas = curve.canvas, ratio = pixelRatio(canvas); // sharp on high-density screens and when zoomed in
  curve.detail = ratio;
  watchZoom(curve);
  const width = Math.max(1, Math.round(canvas.clientWidth)), height = Math.max(1, Math.round(canvas.clientHeight));
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0); // draw in CSS pixels
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, width, height);
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  if (!curve.points.length) {
    ctx.fillStyle = TEXT;
    ctx.fillText("loss curve: shown from the first preview", 8, height / 2);
    return;
  }
  // Legend rows on top: a colour mark, the term and its last value.
  const colourOf = colours(curve.names);
  let x = 8, y = 9;
  for (const name of curve.names) {
    const label = `${name} ${lastValue(curve, name)}`;
    const entry = 16 + ctx.measureText(label).width + 10;
    if (x + entry > width - 4 && x > 8) [x, y] = [8, y + 13];
    ctx.fillStyle = colourOf[name];
    ctx.fillRect(x, y - 1, 12, 3);
    ctx.fillStyle = TEXT;
    ctx.fillText(label, x + 16, y);
    x += entry;
  }
  const left = 34, right = width - 8, top = y + 12, bottom = height - 16;
  if (right - left < 20 || bottom - top < 20) return;
  const [low, high] = decades(curve);
  const xLow = 1, xHigh = Math.max(curve.runs * curve.steps, 2);
  const xOf = (position) => left + ((position - xLow) / (xHigh - xLow)) * (right - left);
  const yOf = (value) => top + ((high - Math.log10(value)) / (high - low)) * (bottom - top);
  ctx.lineWidth = 1;
  const every = Math.max(1, Math.ceil((high - low) / 6));
  for (let power = low; power <= high; power++) {
    if (high - low <= 3 && power < high) {
      ctx.strokeStyle = MINOR_GRID;
      for (let factor = 2; factor < 10; factor++) hLine(ctx, left, right, yOf(factor * 10 ** power));
    }
    if ((power - low) % every) continue;
    ctx.strokeStyle = GRID;
    hLine(ctx, left, right, yOf(10 ** power));
    ctx.fillStyle = TEXT;
    ctx.textAlign = "right";
    ctx.fillText(powerLabel(power), left - 4, yOf(10 ** power));
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const step = niceStep(xHigh - xLow);
  for (let position = Math.ceil(xLow / step) * step; position <= xHigh; position += step) {
    ctx.fillText(String(position), xOf(position), bottom + 3);
  }
  ctx.textAlign = "left";
  ctx.strokeStyle = AXIS;
  for (let run = 1; run < curve.runs; run++) vLine(ctx, xOf(run * curve.steps + 0.5), top, bottom);
  for (const name of [...curve.names].reverse()) { // the total last, on top
    ctx.strokeStyle = ctx.fillStyle = colourOf[name];
    ctx.lineWidth = name === "total" ? 2 : 1.5;
    let segment = [];
    const flush = () => {
      if (segment.length === 1) {
        ctx.beginPath();
        ctx.arc(segment[0][0], segment[0][1], 2, 0, 2 * Math.PI);
        ctx.fill();
      } else if (segment.length > 1) {
        ctx.beginPath();
        segment.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
        ctx.stroke();
      }
      segment = [];
    };
    let run = curve.points[0].run;
    for (const point of curve.points) {
      if (point.run !== run) { // each run's curve starts afresh
        flush();
        run = point.run;
      }
      if (!(name in point.losses)) continue; // a step without this term: the line goes on over it
      const value = point.losses[name];
      if (positive(value)) segment.push([xOf(point.x), yOf(value)]);
      else flush(); // zero, negative or not a number: no place on a log axis, the line breaks
    }
    flush();
  }
  ctx.lineWidth = 1;
  ctx.strokeStyle = AXIS;
  ctx.strokeRect(left + 0.5, top + 0.5, right - left, bottom - top);
}

function hLine(ctx, left, right, y) {
  ctx.beginPath();
  ctx.moveTo(left, Math.round(y) + 0.5);
  ctx.lineTo(right, Math.round(y) + 0.5);
  ctx.stroke();
}

function vLine(ctx, x, top, bottom) {
  ctx.beginPath();
  ctx.moveTo(Math.round(x) + 0.5, top);
  ctx.lineTo(Math.round(x) + 0.5, bottom);
  ctx.stroke();
}

function nodeOf(id) {
  const node = id == null ? null : app.graph?.getNodeById?.(id);
  return node && NODE_TYPES.has(node.comfyClass ?? node.type) ? node : null;
}

app.registerExtension({
  name: "CLIPstyler.lossCurve",
  init() { // before the nodes are registered and any workflow loads: no message can come before the listeners
    api.addEventListener(EVENT, ({ detail }) => {
      const node = nodeOf(detail?.node);
      if (!node) return; // a node of another workflow, or inside a subgraph: nothing here to draw on
      const curve = curveOf(node);
      add(curve, detail);
      save(curve);
      draw(curve);
      if (curve.final) noteChange();
      app.graph?.setDirtyCanvas?.(true, true);
    });
    // A new run of the node: its old curve goes at once (the first message of the run starts the new one).
    api.addEventListener("executing", ({ detail }) => {
      const curve = nodeOf(detail)?.clipstylerLossCurve;
      if (!curve) return;
      clear(curve, null);
      draw(curve);
    });
  },
  loadedGraphNode(node) { // a workflow loaded (also the page's own on reload): show the curve it saved
    if (NODE_TYPES.has(node.comfyClass ?? node.type)) restore(node);
  },
});
