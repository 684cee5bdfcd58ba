// CLIPstyler front-end extension: one colour for the pack's nodes; the paper's knobs behind "Show Advanced";
// Save StyleNet shows the file it wrote and Text Style Target its warnings (e.g. a text too long for CLIP).
import { app } from "../../scripts/app.js";

const PREFIX = "CLIPstyler";
const COLOR = "#2f3b5c"; // title bar
const BGCOLOR = "#3e4d75"; // body

// Text each node shows from its "executed" message (ui.text), in a read-only widget of this name.
const TEXT_WIDGETS = { CLIPstylerSaveStyleNet: "saved", CLIPstylerTextStyleTarget: "note" };

// Inputs the server declares {"advanced": true} (the paper's knobs) go behind the node menu's "Show Advanced".
// This front end keeps the flag in widget.options and hides a widget only when its own `advanced` is set; it also
// lays out hidden widgets, so a hidden one is given no height here.
const WIDGET_HEIGHT = 20; // LiteGraph.NODE_WIDGET_HEIGHT

function markAdvancedWidgets(node) {
  for (const widget of node.widgets ?? []) {
    if (!widget.options?.advanced) continue;
    widget.advanced = true;
    const ownSize = widget.computeSize?.bind(widget);
    widget.computeSize = (width) => {
      if (node.isWidgetVisible && !node.isWidgetVisible(widget)) return [0, -4];
      return ownSize ? ownSize(width) : [width ?? 0, WIDGET_HEIGHT];
    };
  }
  fitHeight(node);
}

function fitHeight(node) {
  const size = node.computeSize?.();
  if (size && node.size) node.setSize?.([Math.max(node.size[0], size[0]), size[1]]);
}

async function makeTextWidget(node, name) {
  let widget = null;
  try {
    const { ComfyWidgets } = await import("../../scripts/widgets.js");
    widget = ComfyWidgets?.STRING?.(node, name, ["STRING", { multiline: true }], app)?.widget ?? null;
    if (widget?.inputEl) widget.inputEl.readOnly = true;
  } catch (error) {
    widget = null; // no legacy widgets module: fall back to a plain canvas text widget
  }
  if (!widget && typeof node.addWidget === "function") {
    widget = node.addWidget("text", name, "", () => {}, {});
    if (widget) widget.disabled = true;
  }
  if (widget) {
    widget.serialize = false; // kept out of the workflow's widgets_values
    widget.options = widget.options ?? {};
    widget.options.serialize = false; // and out of the prompt sent to the server
  }
  return widget;
}

function showText(node, name, text) {
  node.__clipstylerText ??= makeTextWidget(node, name);
  node.__clipstylerText
    .then((widget) => {
      if (!widget) return;
      widget.value = text;
      const size = node.computeSize?.();
      if (size && node.size) node.setSize?.([Math.max(node.size[0], size[0]), Math.max(node.size[1], size[1])]);
      app.graph?.setDirtyCanvas?.(true, true);
    })
    .catch((error) => console.warn("[CLIPstyler] could not show the node's message:", error));
}

app.registerExtension({
  name: "CLIPstyler.nodes",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const name = nodeData?.name;
    if (typeof name !== "string" || !name.startsWith(PREFIX) || !nodeType?.prototype) return;
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = onNodeCreated?.apply(this, arguments);
      this.color ??= COLOR; // a workflow's own colours, applied after creation, still win
      this.bgcolor ??= BGCOLOR;
      markAdvancedWidgets(this);
      return result;
    };
    const toggleAdvanced = nodeType.prototype.toggleAdvanced;
    if (typeof toggleAdvanced === "function") {
      nodeType.prototype.toggleAdvanced = function () {
        const result = toggleAdvanced.apply(this, arguments);
        fitHeight(this); // the front end only grows the node; shrink it again when hiding
        return result;
      };
    }
    const textWidget = TEXT_WIDGETS[name];
    if (!textWidget) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const result = onExecuted?.apply(this, arguments);
      const text = Array.isArray(message?.text) ? message.text.filter((t) => typeof t === "string") : [];
      if (text.length) showText(this, textWidget, text.join("\n"));
      return result;
    };
  },
});
